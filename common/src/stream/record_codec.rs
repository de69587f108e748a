//! The record frame's payload, written by hand and read with `rmp`.
//!
//! Records are most of a stream, and serde's generic path costs more than the ASB encoding
//! itself. These functions produce exactly the bytes `rmp_serde` writes for [`Record`] (a test
//! checks it) and read them back borrowing every byte field from the frame buffer. The writes
//! append msgpack's markers to the buffer directly: rmp's writers, generic over `io::Write`
//! with an error to check at each call, were a sixth of as-scan's CPU.

use crate::record::{Bin, Record, Value, DIGEST_LEN};
use std::borrow::Cow;

/// Number of fields of a record, in [`Record`]'s declaration order.
const RECORD_FIELDS: u32 = 7;

/// msgpack's smallest form of an unsigned integer, as `rmp::encode::write_uint` picks it.
#[inline]
fn put_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else if v <= u8::MAX as u64 {
        out.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= u16::MAX as u64 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u32::MAX as u64 {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A bin (bytes) value, as `rmp::encode::write_bin`.
#[inline]
fn put_bin(out: &mut Vec<u8>, data: &[u8]) {
    let n = data.len();
    if n <= u8::MAX as usize {
        out.extend_from_slice(&[0xc4, n as u8]);
    } else if n <= u16::MAX as usize {
        out.push(0xc5);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
}

/// An array's length, as `rmp::encode::write_array_len`.
#[inline]
fn put_array_len(out: &mut Vec<u8>, n: u32) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n <= u16::MAX as u32 {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

const NIL: u8 = 0xc0;

#[inline]
fn value(out: &mut Vec<u8>, v: &Value) {
    put_array_len(out, 2);
    put_uint(out, v.ptype as u64);
    put_bin(out, &v.data);
}

pub(super) fn write(out: &mut Vec<u8>, r: &Record) {
    put_array_len(out, RECORD_FIELDS);
    put_bin(out, &r.namespace);
    match &r.set {
        Some(s) => put_bin(out, s),
        None => out.push(NIL),
    }
    put_bin(out, &r.digest);
    match &r.key {
        Some(k) => value(out, k),
        None => out.push(NIL),
    }
    put_uint(out, r.generation as u64);
    put_uint(out, r.expiry as u64);
    put_array_len(out, r.bins.len() as u32);
    for b in &r.bins {
        put_array_len(out, 2);
        put_bin(out, &b.name);
        value(out, &b.value);
    }
}

/// A cursor over a payload; an error names the field that is malformed (kept small: this is
/// the hot path of every consumer).
struct Cur<'a>(&'a [u8]);

type Res<T> = Result<T, &'static str>;

impl<'a> Cur<'a> {
    /// The next `N` bytes as a big-endian number.
    #[inline]
    fn be<const N: usize>(&mut self, what: &'static str) -> Res<u64> {
        let (b, rest) = self.0.split_first_chunk::<N>().ok_or(what)?;
        self.0 = rest;
        Ok(b.iter().fold(0, |v, &x| v << 8 | x as u64))
    }

    #[inline]
    fn marker(&mut self, what: &'static str) -> Res<u8> {
        let (&m, rest) = self.0.split_first().ok_or(what)?;
        self.0 = rest;
        Ok(m)
    }

    /// An array's length; its forms as `rmp::decode::read_array_len` takes them.
    #[inline]
    fn array(&mut self, want: Option<u32>, what: &'static str) -> Res<u32> {
        let n = match self.marker(what)? {
            m @ 0x90..=0x9f => (m & 0x0f) as u32,
            0xdc => self.be::<2>(what)? as u32,
            0xdd => self.be::<4>(what)? as u32,
            _ => return Err(what),
        };
        match want {
            Some(w) if w != n => Err(what),
            _ => Ok(n),
        }
    }

    /// A bin (bytes) value; its forms as `rmp::decode::read_bin_len` takes them.
    #[inline]
    fn bytes(&mut self, what: &'static str) -> Res<&'a [u8]> {
        let n = match self.marker(what)? {
            0xc4 => self.be::<1>(what)?,
            0xc5 => self.be::<2>(what)?,
            0xc6 => self.be::<4>(what)?,
            _ => return Err(what),
        } as usize;
        if n > self.0.len() {
            return Err(what);
        }
        let (v, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(v)
    }

    /// Consumes a nil and returns true, or returns false leaving the value in place.
    fn nil(&mut self) -> bool {
        if self.0.first() == Some(&NIL) {
            self.0 = &self.0[1..];
            true
        } else {
            false
        }
    }

    /// A non-negative integer in any of msgpack's forms, as `rmp::decode::read_int` takes it
    /// into a `u64`: a negative one is out of range.
    #[inline]
    fn uint<T: TryFrom<u64>>(&mut self, what: &'static str) -> Res<T> {
        let signed = |v: i64| u64::try_from(v).map_err(|_| what);
        let v = match self.marker(what)? {
            m @ 0x00..=0x7f => m as u64,
            0xcc => self.be::<1>(what)?,
            0xcd => self.be::<2>(what)?,
            0xce => self.be::<4>(what)?,
            0xcf => self.be::<8>(what)?,
            0xd0 => signed(self.be::<1>(what)? as u8 as i8 as i64)?,
            0xd1 => signed(self.be::<2>(what)? as u16 as i16 as i64)?,
            0xd2 => signed(self.be::<4>(what)? as u32 as i32 as i64)?,
            0xd3 => signed(self.be::<8>(what)? as i64)?,
            _ => return Err(what),
        };
        T::try_from(v).map_err(|_| what)
    }

    #[inline]
    fn bin(&mut self) -> Res<Bin<'a>> {
        self.array(Some(2), "bin")?;
        let name = self.bytes("bin name")?;
        let value = self.value("bin value")?;
        Ok(Bin {
            name: Cow::Borrowed(name),
            value,
        })
    }

    #[inline]
    fn value(&mut self, what: &'static str) -> Res<Value<'a>> {
        self.array(Some(2), what)?;
        let ptype = self.uint::<u8>(what)?;
        let data = self.bytes(what)?;
        Ok(Value::new(ptype, data))
    }
}

/// The digest field of a record payload, skipping the namespace and set.
pub(super) fn digest(payload: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    let mut c = Cur(payload);
    c.array(Some(RECORD_FIELDS), "record").ok()?;
    c.bytes("namespace").ok()?;
    if !c.nil() {
        c.bytes("set").ok()?;
    }
    c.bytes("digest").ok()?.try_into().ok()
}

pub(super) fn read(payload: &[u8]) -> Res<Record<'_>> {
    let mut c = Cur(payload);
    c.array(Some(RECORD_FIELDS), "record")?;
    let namespace = c.bytes("namespace")?;
    let set = if c.nil() {
        None
    } else {
        Some(Cow::Borrowed(c.bytes("set")?))
    };
    let digest: [u8; DIGEST_LEN] = c.bytes("digest")?.try_into().map_err(|_| "digest")?;
    let key = if c.nil() { None } else { Some(c.value("key")?) };
    let generation = c.uint::<u16>("generation")?;
    let expiry = c.uint::<u32>("expiry")?;
    let n = c.array(None, "bins")? as usize;
    // Each bin takes at least 5 bytes: do not let a corrupt count reserve more than that.
    let mut bins = Vec::with_capacity(n.min(c.0.len() / 5));
    // Through `extend`, which is inlined here where a `push` per bin was a call (5% of
    // as-encode's samples); the first malformed bin stops it.
    let mut bad = None;
    bins.extend((0..n).map_while(|_| c.bin().map_err(|e| bad = Some(e)).ok()));
    if let Some(e) = bad {
        return Err(e);
    }
    if !c.0.is_empty() {
        return Err("bytes after the record");
    }
    Ok(Record {
        namespace: Cow::Borrowed(namespace),
        set,
        digest,
        key,
        generation,
        expiry,
        bins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::Generator;

    #[test]
    fn same_bytes_as_rmp_serde_and_reads_both() {
        let mut g = Generator::new(11, b"ns");
        for i in 0..3000 {
            let mut r = g.record();
            if i % 7 == 0 {
                r.generation = u16::MAX;
                r.expiry = u32::MAX;
                r.bins.clear();
            }
            let serde = rmp_serde::to_vec(&r).unwrap();
            let mut ours = Vec::new();
            write(&mut ours, &r);
            assert_eq!(ours, serde, "record {i}");
            assert_eq!(read(&ours).unwrap(), r);
            let via_serde: Record = rmp_serde::from_slice(&ours).unwrap();
            assert_eq!(via_serde, r);
        }
    }

    /// Where msgpack's forms change.
    const EDGES: [u64; 9] = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff];

    #[test]
    fn markers_as_rmp_writes_them() {
        for &v in EDGES.iter().chain(&[0x1_0000_0000, u64::MAX]) {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            put_uint(&mut ours, v);
            rmp::encode::write_uint(&mut theirs, v).unwrap();
            assert_eq!(ours, theirs, "uint {v}");
        }
        for &n in &EDGES {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            put_array_len(&mut ours, n as u32);
            rmp::encode::write_array_len(&mut theirs, n as u32).unwrap();
            assert_eq!(ours, theirs, "array of {n}");
        }
        for n in [0usize, 1, 0xff, 0x100, 0xffff, 0x1_0000, 0x2_0000] {
            let data = vec![7u8; n];
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            put_bin(&mut ours, &data);
            rmp::encode::write_bin(&mut theirs, &data).unwrap();
            assert_eq!(ours, theirs, "bin of {n} bytes");
        }
    }

    /// The readers take what rmp's take, and refuse what they refuse: every form of every
    /// edge value (signed forms included), and each cut short.
    #[test]
    fn readers_as_rmp_reads() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for v in EDGES
            .map(|v| v as i64)
            .into_iter()
            .chain([-1, -33, i64::MIN])
        {
            for write in [
                |b: &mut Vec<u8>, v: i64| drop(rmp::encode::write_sint(b, v)),
                |b: &mut Vec<u8>, v: i64| drop(rmp::encode::write_i64(b, v)),
                |b: &mut Vec<u8>, v: i64| drop(rmp::encode::write_uint(b, v as u64)),
                |b: &mut Vec<u8>, v: i64| drop(rmp::encode::write_array_len(b, v as u32)),
                |b: &mut Vec<u8>, v: i64| drop(rmp::encode::write_bin_len(b, v as u32)),
            ] {
                let mut b = Vec::new();
                write(&mut b, v);
                b.extend_from_slice(&[0; 8]);
                cases.push(b);
            }
        }
        cases.extend((0..=255u8).map(|m| vec![m, 1, 2, 3, 4, 5, 6, 7, 8]));
        for case in cases {
            for cut in 0..=case.len() {
                let b = &case[..cut];
                let mut c = Cur(b);
                assert_eq!(
                    c.uint::<u64>("u").ok(),
                    rmp::decode::read_int::<u64, _>(&mut &b[..]).ok(),
                    "{b:x?}"
                );
                let mut c = Cur(b);
                assert_eq!(
                    c.array(None, "a").ok(),
                    rmp::decode::read_array_len(&mut &b[..]).ok(),
                    "{b:x?}"
                );
                let (mut c, mut r) = (Cur(b), b);
                let ours = c.bytes("b").ok();
                let theirs = rmp::decode::read_bin_len(&mut r)
                    .ok()
                    .and_then(|n| r.get(..n as usize));
                assert_eq!(ours, theirs, "{b:x?}");
            }
        }
    }

    #[test]
    fn rejects_malformed_payloads() {
        let mut g = Generator::new(12, b"ns");
        let mut good = Vec::new();
        write(&mut good, &g.record());
        for n in 0..good.len() {
            assert!(read(&good[..n]).is_err(), "cut at {n}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(read(&extra).is_err());
    }
}
