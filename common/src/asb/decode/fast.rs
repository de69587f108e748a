//! A record read straight from the input's buffer, for records that are there whole and plainly
//! written: no refill checks, no position kept, base64 decoded where it lies.
//!
//! It accepts only what the careful reader accepts, and yields the same fields. Anything else
//! (a record cut by the buffer's end, a payload larger than the buffer, an error) is a `Miss`,
//! and the careful reader reads the record again from its start, with the line and column of
//! the error. `fuzzing::asb_decode` and the tests below compare the two readers.

use super::{parse_digest, parse_int, parse_uint, Head, MAX_LEN, MAX_NUMBER, MAX_TOKEN};
use crate::asb::bytes_particle;
use crate::asb::double::parse_double;
use crate::record::particle;
use base64_simd::STANDARD as B64;
use std::ops::Range;

/// Why a record was left to the careful reader.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Miss {
    /// The window ends inside the record: more input may complete it.
    Short,
    /// The record is not plainly written, or not valid.
    Odd,
}

type Fast<T> = Result<T, Miss>;

/// Payloads larger than this go the careful way from the start: waiting for the buffer to hold
/// them would cost more reads and moves than the fast path saves on a record this large.
const LARGE: u64 = 64 << 10;

/// A bin as (name, particle type, value), ranges of the arena.
pub(super) type BinAt = (Range<usize>, u8, Range<usize>);

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn byte(&mut self) -> Fast<u8> {
        let c = *self.b.get(self.i).ok_or(Miss::Short)?;
        self.i += 1;
        Ok(c)
    }

    fn eat(&mut self, want: u8) -> Fast<()> {
        if self.byte()? == want {
            Ok(())
        } else {
            Err(Miss::Odd)
        }
    }

    /// `<lead> <letter> ` with the letter wanted.
    fn line(&mut self, lead: u8, letter: u8) -> Fast<()> {
        match self.b.get(self.i..self.i + 4) {
            Some(&[l, b' ', c, b' ']) if l == lead && c == letter => {
                self.i += 4;
                Ok(())
            }
            Some(_) => Err(Miss::Odd),
            None => Err(Miss::Short),
        }
    }

    /// Whether the next line is `+ <letter> `, consuming it if so.
    fn line_if(&mut self, letter: u8) -> Fast<bool> {
        match self.line(b'+', letter) {
            Ok(()) => Ok(true),
            Err(Miss::Odd) => Ok(false),
            Err(short) => Err(short),
        }
    }

    /// A type letter (neither space, LF nor `!`), an optional `!`, and a space.
    fn letter_bang(&mut self) -> Fast<(u8, bool)> {
        let t = self.byte()?;
        if matches!(t, b' ' | b'\n' | b'!') {
            return Err(Miss::Odd);
        }
        let bang = match self.byte()? {
            b' ' => return Ok((t, false)),
            b'!' => true,
            _ => return Err(Miss::Odd),
        };
        self.eat(b' ')?;
        Ok((t, bang))
    }

    /// A number token: the bytes up to a space or LF, which is not consumed.
    fn number(&mut self) -> Fast<&'a [u8]> {
        let rest = &self.b[self.i..];
        // A plain look: numbers are short, and memchr's set-up costs more than it saves.
        let n = match rest
            .iter()
            .take(MAX_NUMBER + 1)
            .position(|&c| c == b' ' || c == b'\n')
        {
            Some(n) => n,
            None if rest.len() > MAX_NUMBER => return Err(Miss::Odd),
            None => return Err(Miss::Short),
        };
        if n == 0 {
            return Err(Miss::Odd);
        }
        self.i += n;
        Ok(&rest[..n])
    }

    /// A number that ends its line.
    fn uint_line(&mut self, max: u64) -> Fast<u64> {
        let v = parse_uint(self.number()?, max).ok_or(Miss::Odd)?;
        self.eat(b'\n')?;
        Ok(v)
    }

    /// `n` bytes as they are.
    fn raw(&mut self, n: u64) -> Fast<&'a [u8]> {
        let rest = &self.b[self.i..];
        if n > LARGE {
            return Err(Miss::Odd);
        }
        if n > rest.len() as u64 {
            return Err(Miss::Short);
        }
        self.i += n as usize;
        Ok(&rest[..n as usize])
    }

    /// A length field and the space after it.
    fn length(&mut self) -> Fast<u64> {
        let n = parse_uint(self.number()?, MAX_LEN).ok_or(Miss::Odd)?;
        self.eat(b' ')?;
        Ok(n)
    }

    /// A name up to an unescaped space or LF (not consumed), unescaped into `out`.
    fn name(&mut self, unescape: bool, out: &mut Vec<u8>) -> Fast<Range<usize>> {
        let start = out.len();
        loop {
            let rest = &self.b[self.i..];
            let Some(n) = name_end(rest, unescape) else {
                // Too long already, whatever follows: the careful reader says so without
                // waiting for more input.
                return Err(match out.len() - start + rest.len() > MAX_TOKEN {
                    true => Miss::Odd,
                    false => Miss::Short,
                });
            };
            out.extend_from_slice(&rest[..n]);
            self.i += n;
            if rest[n] == b'\\' {
                // The byte after a backslash is taken as it is.
                let escaped = *rest.get(n + 1).ok_or(Miss::Short)?;
                out.push(escaped);
                self.i += 2;
            }
            if out.len() - start > MAX_TOKEN {
                return Err(Miss::Odd);
            }
            if rest[n] != b'\\' {
                return Ok(start..out.len());
            }
        }
    }
}

/// Where a name in `b` ends (at a space or LF), or stops at a backslash when `unescape`.
fn name_end(b: &[u8], unescape: bool) -> Option<usize> {
    // A plain look first: names are short, and memchr's set-up costs more than it saves on them.
    const SHORT: usize = 32;
    let head = &b[..b.len().min(SHORT)];
    let end = |c: &u8| matches!(c, b' ' | b'\n') || (unescape && *c == b'\\');
    if let Some(n) = head.iter().position(end) {
        return Some(n);
    }
    let tail = &b[head.len()..];
    let found = if unescape {
        memchr::memchr3(b' ', b'\n', b'\\', tail)
    } else {
        memchr::memchr2(b' ', b'\n', tail)
    };
    found.map(|n| head.len() + n)
}

/// Appends `bytes` to `arena`, returning where they are.
fn put(arena: &mut Vec<u8>, bytes: &[u8]) -> Range<usize> {
    let start = arena.len();
    arena.extend_from_slice(bytes);
    start..arena.len()
}

/// `<len> <raw bytes>`.
fn sized_raw(c: &mut Cur, arena: &mut Vec<u8>) -> Fast<Range<usize>> {
    let n = c.length()?;
    Ok(put(arena, c.raw(n)?))
}

/// `<len> <raw bytes>` with `raw`, else `<b64len> <base64>`, decoded.
fn payload(c: &mut Cur, raw: bool, arena: &mut Vec<u8>) -> Fast<Range<usize>> {
    if raw {
        return sized_raw(c, arena);
    }
    let n = c.length()?;
    if n % 4 != 0 {
        return Err(Miss::Odd);
    }
    let text = c.raw(n)?;
    let start = arena.len();
    B64.decode_append(text, arena).map_err(|_| Miss::Odd)?;
    Ok(start..arena.len())
}

fn int(c: &mut Cur, arena: &mut Vec<u8>) -> Fast<Range<usize>> {
    let v = parse_int(c.number()?).ok_or(Miss::Odd)?;
    Ok(put(arena, &(v as u64).to_be_bytes()))
}

fn double(c: &mut Cur, arena: &mut Vec<u8>) -> Fast<Range<usize>> {
    let v = parse_double(c.number()?).ok_or(Miss::Odd)?;
    Ok(put(arena, &v.to_bits().to_be_bytes()))
}

/// The key after `+ k `, up to its line feed.
fn key(c: &mut Cur, arena: &mut Vec<u8>) -> Fast<(u8, Range<usize>)> {
    let (t, raw) = c.letter_bang()?;
    Ok(match t {
        b'I' => (particle::INTEGER, int(c, arena)?),
        b'D' => (particle::FLOAT, double(c, arena)?),
        b'S' => (particle::STRING, sized_raw(c, arena)?),
        b'X' => (particle::STRING, payload(c, raw, arena)?),
        b'B' => (particle::BLOB, payload(c, raw, arena)?),
        _ => return Err(Miss::Odd),
    })
}

/// A `- ` line with its line feed.
fn bin(c: &mut Cur, unescape: bool, arena: &mut Vec<u8>) -> Fast<BinAt> {
    if c.byte()? != b'-' || c.byte()? != b' ' {
        return Err(Miss::Odd);
    }
    let (t, raw) = c.letter_bang()?;
    let bytes_type = bytes_particle(t);
    if !matches!(t, b'N' | b'Z' | b'I' | b'D' | b'S' | b'X' | b'G') && bytes_type.is_none() {
        return Err(Miss::Odd);
    }
    let name = c.name(unescape, arena)?;
    if t == b'N' {
        c.eat(b'\n')?;
        let end = arena.len();
        return Ok((name, particle::NIL, end..end));
    }
    c.eat(b' ')?;
    let (ptype, value) = match (t, bytes_type) {
        (b'Z', _) => {
            let v = match c.byte()? {
                b'T' => 1,
                b'F' => 0,
                _ => return Err(Miss::Odd),
            };
            (particle::BOOL, put(arena, &[v]))
        }
        (b'I', _) => (particle::INTEGER, int(c, arena)?),
        (b'D', _) => (particle::FLOAT, double(c, arena)?),
        (b'S', _) => (particle::STRING, sized_raw(c, arena)?),
        (b'X', _) => (particle::STRING, payload(c, raw, arena)?),
        (b'G', _) => (particle::GEOJSON, sized_raw(c, arena)?),
        (_, Some(ptype)) => (ptype, payload(c, raw, arena)?),
        (_, None) => unreachable!("the letter was checked above"),
    };
    c.eat(b'\n')?;
    Ok((name, ptype, value))
}

/// The record at the start of `window`, its bins in `bins`, and the bytes it takes.
/// `legacy` (version 3.0) reads names without unescaping.
pub(super) fn record(
    window: &[u8],
    legacy: bool,
    arena: &mut Vec<u8>,
    bins: &mut Vec<BinAt>,
) -> Fast<(Head, usize)> {
    let c = &mut Cur { b: window, i: 0 };
    let unescape = !legacy;
    let key = if c.line_if(b'k')? {
        let k = key(c, arena)?;
        c.eat(b'\n')?;
        Some(k)
    } else {
        None
    };
    c.line(b'+', b'n')?;
    let namespace = c.name(unescape, arena)?;
    c.eat(b'\n')?;
    c.line(b'+', b'd')?;
    let digest = parse_digest(c.raw(28)?).ok_or(Miss::Odd)?;
    c.eat(b'\n')?;
    let set = if c.line_if(b's')? {
        let s = c.name(unescape, arena)?;
        c.eat(b'\n')?;
        Some(s)
    } else {
        None
    };
    c.line(b'+', b'g')?;
    let generation = c.uint_line(u16::MAX as u64)? as u16;
    c.line(b'+', b't')?;
    let expiry = c.uint_line(u32::MAX as u64)? as u32;
    c.line(b'+', b'b')?;
    let n = c.uint_line(u16::MAX as u64)?;
    bins.clear();
    for _ in 0..n {
        bins.push(bin(c, unescape, arena)?);
    }
    let head = Head {
        key,
        namespace,
        set,
        digest,
        generation,
        expiry,
    };
    Ok((head, c.i))
}

#[cfg(test)]
mod tests {
    use super::super::AsbReader;
    use super::{MAX_NUMBER, MAX_TOKEN};
    use crate::asb::AsbWriter;
    use crate::fuzzing::asb_outcome as outcome;
    use crate::gen::Generator;
    use std::io::Read;

    /// Hands its bytes out a few at a time, so that records straddle reads.
    struct Dribble<'a> {
        data: &'a [u8],
        n: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.n = self.n.wrapping_mul(31).wrapping_add(7);
            let k = (self.n % 97 + 1).min(buf.len()).min(self.data.len());
            buf[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            Ok(k)
        }
    }

    /// The fast path, whole or dribbled, yields what the careful reader does.
    fn agree(data: &[u8]) {
        let careful = outcome(AsbReader::new(data).map(AsbReader::careful_only));
        assert_eq!(
            outcome(AsbReader::new(data)),
            careful,
            "{:?}",
            String::from_utf8_lossy(data)
        );
        let dribbled = AsbReader::new(Dribble {
            data,
            n: data.len(),
        });
        assert_eq!(outcome(dribbled), careful);
    }

    fn generated(records: usize, compact: bool) -> Vec<u8> {
        let mut g = Generator::new(7, b"test");
        let mut w = AsbWriter::new(Vec::new(), compact);
        w.header(Some(b"test"), true).unwrap();
        for s in g.sindexes() {
            w.sindex(&s).unwrap();
        }
        for _ in 0..records {
            w.record(&g.record()).unwrap();
        }
        w.finish().unwrap()
    }

    const DIGEST: &str = "+ d jxGbMV9LfFGigKo6vKrIpflj0Jk=\n";

    /// Odd but valid records: keys of every form, escaped and empty names, raw payloads with line
    /// feeds, leading zeros, numbers at their limits.
    fn edges() -> Vec<u8> {
        let long_name = "n".repeat(MAX_TOKEN);
        let long_number = format!("{:0>width$}", 1, width = MAX_NUMBER);
        let records = [
            "+ k I -9223372036854775808\n+ n t\n{D}+ g 65535\n+ t 4294967295\n+ b 0\n".into(),
            "+ k D -nan\n+ n \\ \\\n\\\\\n{D}+ s \n+ g 0\n+ t 0\n+ b 2\n- N \n- Z \\z F\n".into(),
            "+ k S! 3 a\nb\n+ n t\n{D}+ g 1\n+ t 1\n+ b 3\n- S! s 0 \n- X x 4 YWI=\n- X! y 2 \n\n\n".into(),
            "+ k X! 1 \\\n+ n t\n{D}+ g 01\n+ t 002\n+ b 4\n- G g 2 {}\n- Y! h 1 +\n- J j 0 \n- D d 1e308\n".into(),
            format!("+ k B 0 \n+ n t\n{{D}}+ g 1\n+ t 1\n+ b 3\n- I i {long_number}\n- D d -INF\n- L {long_name} 0 \n"),
        ];
        let body: String = records.iter().map(|r| r.replace("{D}", DIGEST)).collect();
        format!("Version 3.1\n{body}").into_bytes()
    }

    /// Records just past a limit, or wrong in one place.
    fn past_edges() -> Vec<Vec<u8>> {
        let record = |body: String| format!("Version 3.1\n+ n t\n{DIGEST}{body}").into_bytes();
        vec![
            record(format!("+ g 1\n+ t 1\n+ b 1\n- I i {:0>65}\n", 1)),
            record(format!(
                "+ g 1\n+ t 1\n+ b 1\n- I {} 1\n",
                "n".repeat(MAX_TOKEN + 1)
            )),
            record("+ g 65536\n+ t 1\n+ b 0\n".into()),
            record("+ g 1\n+ t 4294967296\n+ b 0\n".into()),
            record("+ g 1\n+ t 1\n+ b 1\n- I i 9223372036854775808\n".into()),
            record("+ g 1\n+ t 1\n+ b 1\n- Z z T \n".into()),
            record("+ g 1\n+ t 1\n+ b 1\n- Z z X\n".into()),
            record("+ g 1\n+ t 1\n+ b 1\n- X x 3 YWI\n".into()),
            record("+ g 1\n+ t 1\n+ b 2\n- I i 1\n".into()),
            record("+ g 1\n+ t 1\n+ b 0\n- I i 1\n".into()),
        ]
    }

    #[test]
    fn agrees_with_the_careful_reader_on_edges_and_samples() {
        let edges = edges();
        let careful = outcome(AsbReader::new(&edges[..]).map(AsbReader::careful_only));
        assert_eq!(careful.len(), 5, "{careful:?}");
        assert!(
            careful.iter().all(|item| item.starts_with("Record(")),
            "{careful:?}"
        );
        agree(&edges);
        agree(&edges.replace_first(b"Version 3.1", b"Version 3.0"));
        for data in past_edges() {
            let careful = outcome(AsbReader::new(&data[..]).map(AsbReader::careful_only));
            assert!(careful.last().unwrap().starts_with("line "), "{careful:?}");
            agree(&data);
        }
        agree(include_bytes!("../../../../tests/data/samples/sample.asb"));
        agree(include_bytes!(
            "../../../../tests/data/samples/sample-compact.asb"
        ));
        // Payloads past LARGE, raw and base64, between records of the fast way.
        let text = "x\n".repeat(40_000);
        let b64 = "QUJD".repeat(20_000);
        let large = format!(
            "+ n t\n{DIGEST}+ g 1\n+ t 1\n+ b 2\n- S s {} {text}\n- B b {} {b64}\n",
            text.len(),
            b64.len()
        );
        let small = format!("+ n t\n{DIGEST}+ g 1\n+ t 1\n+ b 0\n");
        let data = format!("Version 3.1\n{small}{large}{small}").into_bytes();
        let careful = outcome(AsbReader::new(&data[..]).map(AsbReader::careful_only));
        assert_eq!(careful.len(), 3, "{:?}", careful.last());
        agree(&data);
        // Larger than the input's buffer, so records straddle its refills too.
        agree(&generated(1500, false));
        agree(&generated(1500, true));
    }

    /// Hands out its bytes in one read, then fails (a download cut off).
    struct ThenFails<'a>(&'a [u8]);

    impl Read for ThenFails<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("connection reset"));
            }
            let k = buf.len().min(self.0.len());
            buf[..k].copy_from_slice(&self.0[..k]);
            self.0 = &self.0[k..];
            Ok(k)
        }
    }

    #[test]
    fn a_name_too_long_is_an_error_before_the_next_read() {
        let data = format!(
            "Version 3.1\n+ n t\n{DIGEST}+ g 1\n+ t 1\n+ b 1\n- I {}",
            "n".repeat(MAX_TOKEN + 500)
        );
        let careful =
            outcome(AsbReader::new(ThenFails(data.as_bytes())).map(AsbReader::careful_only));
        assert!(
            careful.last().unwrap().contains("longer than"),
            "{careful:?}"
        );
        assert_eq!(outcome(AsbReader::new(ThenFails(data.as_bytes()))), careful);
    }

    #[test]
    fn agrees_with_the_careful_reader_on_every_cut() {
        for data in [edges(), generated(6, false), generated(6, true)] {
            for end in 0..data.len() {
                agree(&data[..end]);
            }
        }
    }

    #[test]
    fn agrees_with_the_careful_reader_on_damaged_input() {
        let samples = [edges(), generated(20, false), generated(20, true)];
        let odd = b" \n\\!+-09AZz=/.eN";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for round in 0..4000 {
            let mut data = samples[round % samples.len()].clone();
            for _ in 0..1 + next(3) {
                let at = next(data.len());
                let byte = if next(4) == 0 {
                    next(256) as u8
                } else {
                    odd[next(odd.len())]
                };
                match next(3) {
                    0 => data[at] = byte,
                    1 => data.insert(at, byte),
                    _ => {
                        data.remove(at);
                    }
                }
            }
            agree(&data);
        }
    }

    trait ReplaceFirst {
        fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }

    impl ReplaceFirst for [u8] {
        fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self.windows(from.len()).position(|w| w == from).unwrap();
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }
}
