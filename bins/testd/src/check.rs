//! The bin values a real server refuses on a write, and the result code it answers them with
//! (server-behaviours S19; the recording `asrestore-refused` holds one case of each kind, which
//! the conformance test replays). Two kinds of value are checked, as the Aerospike 8.1.2.0 source
//! checks them (file and function cited; the code here is our own); every other particle is
//! taken as it comes.
//!
//! - A HyperLogLog (particle 18) must be one the server could have made itself:
//!   `hll_from_wire` (`as/src/base/particle_hll.c`) wants flags 0, 4 to 16 index bits, 0 or 4 to
//!   51 minhash bits and at most 64 of both (`validate_n_combined_bits`), and exactly the size
//!   those bits make: 11 bytes of header (flags, the two bit counts, an 8-byte cache) and
//!   `((6 + minhash bits) * 2^index bits + 7) / 8` bytes of registers (`verify_hll_sz`,
//!   `hmh_required_sz`, `registers_sz`). Anything else fails with AS_ERR_PARAMETER.
//!   Observed from Aerospike 8.1.2.0: code 4 for the 6 bytes `00 08 00 01 02 03`, for flags 1,
//!   for 3 and 17 index bits, for 3 minhash bits, for 16 + 51 bits, and for one byte more than
//!   the size; the write went through for (4, 0), (5, 4) and (13, 51) bits of the right size.
//! - A list or map (particles 20 and 19) is rewritten by `cdt_untrusted_rewrite`
//!   (`as/src/base/cdt.c`, `cdt_stack_untrusted_rewrite`, called by `list_from_wire` in
//!   `particle_list.c` and `map_from_wire` in `particle_map.c`), which walks every list and map
//!   at every depth and refuses an ordered list (ext flags bit 0x01) with an element greater
//!   than the next ("list not ordered as expected"), a key-ordered map (flags bit 0x01) with a
//!   key greater than the next ("map not ordered as expected"), and any map with two equal keys
//!   ("map has duplicate keys"; a map not in key order is sorted first, then its neighbours are
//!   compared, `order_index_has_dups`). Elements are compared by `msgpack_cmp`
//!   (`cf/src/msgpack_in.c`, `msgpack_cmp_internal`, `msgpack_cmp_parse`). A refusal is
//!   -AS_ERR_UNKNOWN. Observed from Aerospike 8.1.2.0: code 1 for the ordered lists [2, 1],
//!   ["a", 1], [1, -1], [1.0, 1], [[1, 2], [1]], [{a, b}, {c}], [blob "a", "a"], ["ab", "a"],
//!   for an unordered list holding the ordered list [2, 1], for the key-ordered map {b, a}, for
//!   {a, a} and for the unordered {b, a, b}; the write went through for the ordered lists
//!   [1, 2], [1, 1], [-1, 1], [[1], [1, 2]], [{c}, {a, b}], ["a", blob "a"], the key-ordered
//!   map {a, b} and the unordered map {b, a} (which the server then stored as {a, b}).
//!
//! What the server refuses of a list or map beyond that (msgpack it cannot parse, bytes after
//! the value, a map key that is not an integer, string or blob, a list particle holding a map)
//! is not checked: such a value is stored as it comes. Where this module cannot tell what the
//! server would do (a value it cannot parse, ext values compared with each other, ext type 0xff,
//! the 1-byte fixext as a first element, a map's metadata pair with a list or map as its value,
//! nesting deeper than [`MAX_DEPTH`]), it does not refuse.

use as_common::record::particle;
use as_common::wire::result;
use std::cmp::Ordering::{self, Equal, Greater, Less};

/// The result code a real server answers a write of this bin value with when it refuses it;
/// `None` when it takes it (as far as this module checks).
pub fn refused(ptype: u8, value: &[u8]) -> Option<u8> {
    match ptype {
        particle::HLL if !hll_ok(value) => Some(result::PARAMETER),
        particle::LIST | particle::MAP => match walk(value, 0) {
            Err(Stop::Refused) => Some(result::SERVER_ERROR),
            Ok(_) | Err(Stop::Unknown) => None,
        },
        _ => None,
    }
}

/// `hll_from_wire`'s test. A value shorter than its 3 bytes of description is refused too: the
/// smallest size the server takes is 23 bytes (4 index bits, no minhash).
fn hll_ok(v: &[u8]) -> bool {
    let [flags, index_bits, minhash_bits, ..] = *v else {
        return false;
    };
    let (index, minhash) = (index_bits as usize, minhash_bits as usize);
    flags == 0
        && (4..=16).contains(&index)
        && (minhash == 0 || (4..=51).contains(&minhash))
        && index + minhash <= 64
        && v.len() == 11 + ((6 + minhash) << index).div_ceil(8)
}

/// How deep lists and maps are followed; deeper, a value is taken as it comes.
const MAX_DEPTH: u32 = 64;

/// The ext flag of an ordered list (`AS_PACKED_LIST_FLAG_ORDERED`) and of a key-ordered map
/// (`AS_PACKED_MAP_FLAG_K_ORDERED`), in the C client's `as_msgpack.h`.
const ORDERED: u8 = 0x01;

/// The ext type of msgpack_cmp's non-storage values (wildcard, infinity): never stored.
const CMP_EXT_TYPE: u8 = 0xff;

/// What `msgpack_cmp_parse` makes of the element at the start of a buffer.
#[derive(Clone, Copy, Debug)]
enum Head<'a> {
    Nil,
    False,
    True,
    /// A signed encoding with its sign bit set, sign-extended: as unsigned numbers these order
    /// as the negative numbers they are.
    NegInt(u64),
    Int(u64),
    /// A str or bin payload; its first byte is the Aerospike type (3 string, 23 GeoJSON, others
    /// blobs).
    Raw(&'a [u8]),
    Double(f64),
    /// Elements of a list; pairs of a map.
    List(usize),
    Map(usize),
    /// An ext value, by its type.
    Ext(u8),
}

/// `n` big-endian bytes of `b` from `at`.
fn be(b: &[u8], at: usize, n: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(n)?)?;
    Some(s.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
}

fn sized(len: u64) -> Option<usize> {
    usize::try_from(len).ok()
}

/// A str or bin: `len` bytes of payload after a header of `hdr` bytes.
fn raw(b: &[u8], hdr: usize, len: u64) -> Option<(Head<'_>, usize)> {
    let end = hdr.checked_add(sized(len)?)?;
    Some((Head::Raw(b.get(hdr..end)?), end))
}

/// An ext whose type byte is at `ty_at`, with `len` bytes of data after it.
fn ext(b: &[u8], ty_at: usize, len: u64) -> Option<(Head<'_>, usize)> {
    let end = ty_at.checked_add(1)?.checked_add(sized(len)?)?;
    let ty = *b.get(ty_at)?;
    (end <= b.len()).then_some((Head::Ext(ty), end))
}

/// A signed integer of `n` bytes.
fn signed(b: &[u8], n: usize) -> Option<(Head<'_>, usize)> {
    let v = be(b, 1, n)?;
    let bits = 8 * n as u32;
    let h = if (v >> (bits - 1)) & 1 == 1 {
        Head::NegInt(if bits == 64 { v } else { v | (!0u64 << bits) })
    } else {
        Head::Int(v)
    };
    Some((h, 1 + n))
}

/// The element at the start of `b` and the bytes it takes: all of a scalar, the header of a list
/// or map. `None`: truncated, or a byte no value starts with.
fn head(b: &[u8]) -> Option<(Head<'_>, usize)> {
    let &first = b.first()?;
    Some(match first {
        0x00..=0x7f => (Head::Int(first.into()), 1),
        0x80..=0x8f => (Head::Map((first & 0x0f).into()), 1),
        0x90..=0x9f => (Head::List((first & 0x0f).into()), 1),
        0xa0..=0xbf => return raw(b, 1, (first & 0x1f).into()),
        0xc0 => (Head::Nil, 1),
        0xc1 => return None,
        0xc2 => (Head::False, 1),
        0xc3 => (Head::True, 1),
        0xc4 | 0xd9 => return raw(b, 2, be(b, 1, 1)?),
        0xc5 | 0xda => return raw(b, 3, be(b, 1, 2)?),
        0xc6 | 0xdb => return raw(b, 5, be(b, 1, 4)?),
        0xc7 => return ext(b, 2, be(b, 1, 1)?),
        0xc8 => return ext(b, 3, be(b, 1, 2)?),
        0xc9 => return ext(b, 5, be(b, 1, 4)?),
        // A float is compared as the double it makes.
        0xca => (Head::Double(f32::from_bits(be(b, 1, 4)? as u32).into()), 5),
        0xcb => (Head::Double(f64::from_bits(be(b, 1, 8)?)), 9),
        0xcc..=0xcf => {
            let n = 1usize << (first - 0xcc);
            (Head::Int(be(b, 1, n)?), 1 + n)
        }
        0xd0..=0xd3 => return signed(b, 1 << (first - 0xd0)),
        0xd4..=0xd8 => return ext(b, 1, 1 << (first - 0xd4)),
        0xdc => (Head::List(sized(be(b, 1, 2)?)?), 3),
        0xdd => (Head::List(sized(be(b, 1, 4)?)?), 5),
        0xde => (Head::Map(sized(be(b, 1, 2)?)?), 3),
        0xdf => (Head::Map(sized(be(b, 1, 4)?)?), 5),
        0xe0..=0xff => (Head::NegInt(first as i8 as i64 as u64), 1),
    })
}

/// `msgpack_cmp`'s order of types (`msgpack_type` in `cf/include/msgpack_in.h`): nil, false,
/// true, negative integers, integers, strings, lists, maps, blobs, doubles, GeoJSON, ext. A str
/// or bin is a string, GeoJSON or blob by its first byte, and a blob when empty
/// (`bytes_internal_to_type`).
fn rank(h: &Head) -> u8 {
    match h {
        Head::Nil => 1,
        Head::False => 2,
        Head::True => 3,
        Head::NegInt(_) => 4,
        Head::Int(_) => 5,
        Head::Raw([3, ..]) => 6,
        Head::List(_) => 7,
        Head::Map(_) => 8,
        Head::Raw([23, ..]) => 11,
        Head::Raw(_) => 9,
        Head::Double(_) => 10,
        Head::Ext(_) => 12,
    }
}

/// The size of the whole element at the start of `b`.
fn skip(b: &[u8]) -> Option<usize> {
    let (mut at, mut pending) = (0usize, 1usize);
    while pending > 0 {
        let (h, n) = head(b.get(at..)?)?;
        at += n;
        pending -= 1;
        match h {
            Head::List(c) => pending = pending.checked_add(c)?,
            Head::Map(c) => pending = pending.checked_add(c.checked_mul(2)?)?,
            _ => {}
        }
    }
    Some(at)
}

/// The contents of the list or map `h` whose header of `n` bytes starts `b`: where its elements
/// begin, how many msgpack elements they are (a map's keys and values), and its ext flags (0
/// without). An ext as the first element is the container's metadata, not an element (for a
/// map, with the element after it): so `cdt_stack_untrusted_rewrite` reads it, and so
/// `cmp_parse_container` skips it.
fn content(b: &[u8], h: Head, n: usize) -> Option<(usize, usize, u8)> {
    let (count, per) = match h {
        Head::List(c) => (c, 1),
        Head::Map(c) => (c, 2),
        _ => return None,
    };
    if count == 0 {
        return Some((n, 0, 0));
    }
    let (first, len) = head(&b[n..])?;
    let Head::Ext(flags) = first else {
        return Some((n, count.checked_mul(per)?, 0));
    };
    // A 1-byte fixext is metadata to msgpack_cmp but not to the rewrite (msgpack_peek_type calls
    // it an error); type 0xff is msgpack_cmp's wildcard or infinity: cannot tell.
    if b[n] == 0xd4 || flags == CMP_EXT_TYPE {
        return None;
    }
    let mut at = n + len;
    if per == 2 {
        // The rewrite parses only the head of the pair's second element, msgpack_cmp skips all
        // of it: they agree on a scalar (nil, as clients send it).
        let (second, len) = head(&b[at..])?;
        if matches!(second, Head::List(_) | Head::Map(_)) {
            return None;
        }
        at += len;
    }
    Some((at, (count - 1) * per, flags))
}

/// `msgpack_cmp` of the elements at the starts of `a` and `b`, written from its behaviour: by
/// type ([`rank`]); then integers by value, strings, blobs and GeoJSON by their bytes and then
/// their length, doubles by value (NaN equal to everything); lists element by element and then
/// by length; maps by their number of pairs and then key, value, key... in the order they are
/// written. `None`: cannot tell (see the module's notes).
fn cmp(a: &[u8], b: &[u8], depth: u32) -> Option<Ordering> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (ha, na) = head(a)?;
    let (hb, nb) = head(b)?;
    if matches!(ha, Head::Ext(_)) || matches!(hb, Head::Ext(_)) {
        // msgpack_cmp_parse leaves the data of a 16- or 32-bit ext unset, and compares ext
        // data without their types: nothing to follow.
        return None;
    }
    let by_type = rank(&ha).cmp(&rank(&hb));
    if by_type != Equal {
        return Some(by_type);
    }
    Some(match (ha, hb) {
        (Head::NegInt(x), Head::NegInt(y)) | (Head::Int(x), Head::Int(y)) => x.cmp(&y),
        (Head::Raw(x), Head::Raw(y)) => x.cmp(y),
        (Head::Double(x), Head::Double(y)) => x.partial_cmp(&y).unwrap_or(Equal),
        (Head::List(_), Head::List(_)) | (Head::Map(_), Head::Map(_)) => {
            let (mut pa, ca, _) = content(a, ha, na)?;
            let (mut pb, cb, _) = content(b, hb, nb)?;
            if matches!(ha, Head::Map(_)) && ca != cb {
                return Some(ca.cmp(&cb));
            }
            for _ in 0..ca.min(cb) {
                let o = cmp(&a[pa..], &b[pb..], depth + 1)?;
                if o != Equal {
                    return Some(o);
                }
                pa += skip(&a[pa..])?;
                pb += skip(&b[pb..])?;
            }
            ca.cmp(&cb)
        }
        // Nil, false, true: the type is all.
        _ => Equal,
    })
}

/// A map key as `msgpack_cmp` orders keys of the types a map may have (`map_is_key` in
/// `particle_map.c`: integers, strings, blobs): by type, then value, then bytes.
fn key_order(b: &[u8]) -> Option<(u8, u64, &[u8])> {
    let (h, _) = head(b)?;
    match h {
        Head::NegInt(v) | Head::Int(v) => Some((rank(&h), v, &[][..])),
        Head::Raw(p) => Some((rank(&h), 0, p)),
        _ => None,
    }
}

enum Stop {
    /// The server refuses the value.
    Refused,
    /// This module cannot tell; the value is taken.
    Unknown,
}

/// Walks the element at the start of `b` as `cdt_stack_untrusted_rewrite` does, checking the
/// order of every ordered list and the keys of every map in it; returns its size.
fn walk(b: &[u8], depth: u32) -> Result<usize, Stop> {
    if depth > MAX_DEPTH {
        return Err(Stop::Unknown);
    }
    let (h, n) = head(b).ok_or(Stop::Unknown)?;
    let is_map = match h {
        Head::List(_) => false,
        Head::Map(_) => true,
        _ => return Ok(n),
    };
    let (mut at, count, flags) = content(b, h, n).ok_or(Stop::Unknown)?;
    let ordered = flags & ORDERED != 0;
    // The rewrite compares each list element (of an ordered list) or map key with the one before
    // it as long as a map has been in key order (`need_sort` unset).
    let mut prev: Option<usize> = None;
    let mut in_order = true;
    let mut keys: Vec<usize> = Vec::new();
    for i in 0..count {
        let is_key = !is_map || i % 2 == 0;
        if is_key && (is_map || ordered) {
            if let Some(p) = prev.filter(|_| in_order) {
                match cmp(&b[p..], &b[at..], depth + 1).ok_or(Stop::Unknown)? {
                    Less => {}
                    // Equal elements may follow each other in an ordered list, keys never.
                    Equal if is_map => return Err(Stop::Refused),
                    Equal => {}
                    Greater if ordered => return Err(Stop::Refused),
                    // A map not in key order (not key-ordered): sorted, then checked below.
                    Greater => in_order = false,
                }
            }
            prev = Some(at);
            if is_map {
                keys.push(at);
            }
        }
        at += walk(&b[at..], depth + 1)?;
    }
    if is_map && !in_order {
        // `order_index_has_dups` after `map_order_index_sort`: two equal keys side by side.
        let mut sorted = keys
            .iter()
            .map(|&k| key_order(&b[k..]))
            .collect::<Option<Vec<_>>>()
            .ok_or(Stop::Unknown)?;
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Stop::Refused);
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A HyperLogLog of these bits and of the size they make, plus `extra` bytes.
    fn hll(flags: u8, index: u8, minhash: u8, extra: usize) -> Vec<u8> {
        let registers = ((6 + minhash as usize) << index).div_ceil(8);
        let mut v = vec![flags, index, minhash];
        v.extend([0; 8]);
        v.resize(v.len() + registers + extra, 1);
        v
    }

    /// A string element as clients write one: its particle type byte, then its bytes.
    fn s(x: &str) -> Vec<u8> {
        let mut v = vec![0xa0 | (x.len() as u8 + 1), 3];
        v.extend(x.as_bytes());
        v
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// Every HLL the real server was sent (module notes), and its answer.
    #[test]
    fn hlls_as_the_server_answered() {
        let cases: [(&str, Vec<u8>, Option<u8>); 10] = [
            ("6 bytes", vec![0, 8, 0, 1, 2, 3], Some(4)),
            ("4 index bits", hll(0, 4, 0, 0), None),
            ("5 + 4 bits", hll(0, 5, 4, 0), None),
            ("13 + 51 bits", hll(0, 13, 51, 0), None),
            ("flags 1", hll(1, 4, 0, 0), Some(4)),
            ("3 index bits", hll(0, 3, 0, 0), Some(4)),
            ("17 index bits", hll(0, 17, 0, 0), Some(4)),
            ("3 minhash bits", hll(0, 4, 3, 0), Some(4)),
            ("16 + 51 bits", hll(0, 16, 51, 0), Some(4)),
            ("a byte too many", hll(0, 4, 0, 1), Some(4)),
        ];
        for (what, v, want) in cases {
            assert_eq!(refused(particle::HLL, &v), want, "{what}");
        }
        assert_eq!(refused(particle::HLL, &[]), Some(4));
        assert_eq!(refused(particle::HLL, &hll(0, 4, 0, 0)[..22]), Some(4));
        // The same bytes as a blob are not checked.
        assert_eq!(refused(particle::BLOB, &[0, 8, 0, 1, 2, 3]), None);
    }

    /// Every list and map the real server was sent (module notes), and its answer.
    #[test]
    fn lists_and_maps_as_the_server_answered() {
        let ol: &[u8] = &[0x93, 0xc7, 0, 1]; // an ordered list of two
        let km: &[u8] = &[0x83, 0xc7, 0, 1, 0xc0]; // a key-ordered map of two
        let one = 1.0f64.to_bits().to_be_bytes();
        let cases: Vec<(&str, u8, Vec<u8>, Option<u8>)> = vec![
            ("[2, 1]", particle::LIST, cat(&[ol, &[2, 1]]), Some(1)),
            ("[1, 2]", particle::LIST, cat(&[ol, &[1, 2]]), None),
            ("[1, 1]", particle::LIST, cat(&[ol, &[1, 1]]), None),
            ("[a, 1]", particle::LIST, cat(&[ol, &s("a"), &[1]]), Some(1)),
            ("[-1, 1]", particle::LIST, cat(&[ol, &[0xff, 1]]), None),
            ("[1, -1]", particle::LIST, cat(&[ol, &[1, 0xff]]), Some(1)),
            (
                "[[1, 2], [1]]",
                particle::LIST,
                cat(&[ol, &[0x92, 1, 2, 0x91, 1]]),
                Some(1),
            ),
            (
                "[[1], [1, 2]]",
                particle::LIST,
                cat(&[ol, &[0x91, 1, 0x92, 1, 2]]),
                None,
            ),
            (
                "[{a, b}, {c}]",
                particle::LIST,
                cat(&[
                    ol,
                    &[0x82],
                    &s("a"),
                    &[1],
                    &s("b"),
                    &[2],
                    &[0x81],
                    &s("c"),
                    &[1],
                ]),
                Some(1),
            ),
            (
                "[{c}, {a, b}]",
                particle::LIST,
                cat(&[
                    ol,
                    &[0x81],
                    &s("c"),
                    &[1],
                    &[0x82],
                    &s("a"),
                    &[1],
                    &s("b"),
                    &[2],
                ]),
                None,
            ),
            (
                "[blob a, a]",
                particle::LIST,
                cat(&[ol, &[0xc4, 2, 4, b'a'], &s("a")]),
                Some(1),
            ),
            (
                "[a, blob a]",
                particle::LIST,
                cat(&[ol, &s("a"), &[0xc4, 2, 4, b'a']]),
                None,
            ),
            (
                "[ab, a]",
                particle::LIST,
                cat(&[ol, &s("ab"), &s("a")]),
                Some(1),
            ),
            (
                "[1.0, 1]",
                particle::LIST,
                cat(&[ol, &[0xcb], &one, &[1]]),
                Some(1),
            ),
            (
                "unordered [ordered [2, 1]]",
                particle::LIST,
                vec![0x91, 0x93, 0xc7, 0, 1, 2, 1],
                Some(1),
            ),
            (
                "key-ordered {b, a}",
                particle::MAP,
                cat(&[km, &s("b"), &[1], &s("a"), &[2]]),
                Some(1),
            ),
            (
                "key-ordered {a, b}",
                particle::MAP,
                cat(&[km, &s("a"), &[1], &s("b"), &[2]]),
                None,
            ),
            (
                "{a, a}",
                particle::MAP,
                cat(&[&[0x82], &s("a"), &[1], &s("a"), &[2]]),
                Some(1),
            ),
            (
                "{b, a, b}",
                particle::MAP,
                cat(&[&[0x83], &s("b"), &[1], &s("a"), &[2], &s("b"), &[3]]),
                Some(1),
            ),
            (
                "{b, a}",
                particle::MAP,
                cat(&[&[0x82], &s("b"), &[1], &s("a"), &[2]]),
                None,
            ),
        ];
        for (what, ptype, v, want) in cases {
            assert_eq!(refused(ptype, &v), want, "{what}");
        }
    }

    /// The comparison beyond what the server was asked: nested equal-length lists, maps of one
    /// size, integers of every width, doubles and NaN, the unordered lists it never compares.
    #[test]
    fn the_comparison_follows_msgpack_cmp() {
        let c = |a: &[u8], b: &[u8]| cmp(a, b, 0);
        // Integers of different encodings compare by value.
        assert_eq!(c(&[0xcd, 0x01, 0x00], &[0xcc, 0xff]), Some(Greater));
        assert_eq!(c(&[0xd0, 0xff], &[0xe0]), Some(Greater)); // -1 > -32
        assert_eq!(c(&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], &[0xff]), Some(Less));
        assert_eq!(
            c(
                &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                &[0x7f]
            ),
            Some(Greater)
        );
        // nil < false < true < negative < positive.
        assert_eq!(c(&[0xc0], &[0xc2]), Some(Less));
        assert_eq!(c(&[0xc3], &[0xff]), Some(Less));
        // A float against a double, NaN against anything.
        let half = 0.5f32.to_bits().to_be_bytes();
        let one = 1.0f64.to_bits().to_be_bytes();
        let nan = f64::NAN.to_bits().to_be_bytes();
        assert_eq!(
            c(&cat(&[&[0xca], &half]), &cat(&[&[0xcb], &one])),
            Some(Less)
        );
        assert_eq!(
            c(&cat(&[&[0xcb], &nan]), &cat(&[&[0xcb], &one])),
            Some(Equal)
        );
        // Lists of one length: element by element; an ordered list's flags are not an element.
        assert_eq!(c(&[0x92, 1, 2], &[0x93, 0xc7, 0, 1, 1, 3]), Some(Less));
        assert_eq!(c(&[0x92, 1, 2], &[0x93, 0xc7, 0, 1, 1, 2]), Some(Equal));
        // Maps of one size: key, value, key... as written.
        assert_eq!(c(&[0x81, 1, 5], &[0x81, 1, 4]), Some(Greater));
        // A list of 16-bit header against a fixarray.
        assert_eq!(c(&[0xdc, 0, 1, 7], &[0x91, 7]), Some(Equal));
        // Ext values: cannot tell.
        assert_eq!(c(&[0xd6, 1, 0, 0, 0, 0], &[0xd6, 1, 0, 0, 0, 1]), None);
        // An unordered list is never compared; truncated values are taken.
        assert_eq!(refused(particle::LIST, &[0x92, 2, 1]), None);
        assert_eq!(refused(particle::LIST, &[0x93, 0xc7, 0, 1, 2]), None);
        assert_eq!(refused(particle::MAP, &[0x82, 0xa2, 3]), None);
        // Duplicate integer keys deep in a list.
        assert_eq!(refused(particle::LIST, &[0x91, 0x82, 1, 0, 1, 0]), Some(1));
    }
}
