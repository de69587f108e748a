//! ASB text decoder: versions 3.0 and 3.1, as the C reader (`dec_text.c`) accepts them, and
//! absctl's 3.2 (3.1 with `* e` expression-index lines).
//!
//! Every error carries the line and column where it was found. Lengths in the file are never
//! trusted for allocation: payloads grow only as bytes arrive.

use super::double::parse_double;
use super::input::{Input, Stop};
use super::INCOMPLETE_MARKER;
use crate::record::{Record, SIndex, Udf, DIGEST_LEN};
use crate::stream::{MAGIC, ZSTD_MAGIC};
use base64_simd::{Out, STANDARD as B64};
use std::fmt;
use std::io::{self, Read};
use std::ops::Range;
use thiserror::Error;

mod fast;
mod items;

/// Longest escaped token (names, sindex context) the C reader accepts.
const MAX_TOKEN: usize = 1000;
/// Longest number token worth reading.
const MAX_NUMBER: usize = 64;
/// Largest length field the C reader accepts (1024^5).
const MAX_LEN: u64 = 1 << 50;

#[derive(Debug, Error)]
pub enum AsbErrorKind {
    #[error("input is empty: expected an ASB backup")]
    Empty,
    #[error("input is zstd-compressed: run as-zstd -d first (or pass -z zstd)")]
    Zstd,
    #[error("input is a record stream, not ASB text: run as-encode first")]
    Stream,
    #[error("not an ASB backup: the first line must be 'Version 3.0' or 'Version 3.1'")]
    NotAsb,
    #[error("unsupported backup format version {0:?} (this tool reads 3.0, 3.1 and 3.2)")]
    Version(String),
    #[error("backup was marked incomplete by the tool that wrote it: {0}")]
    Incomplete(String),
    #[error("backup contains LDT bins (type U), which no current tool can restore; use an older asrestore")]
    Ldt,
    #[error("unexpected end of input {0}")]
    Eof(String),
    #[error("{0}")]
    Syntax(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A decoding error at a place in the input.
#[derive(Debug, Error)]
pub struct AsbError {
    pub line: u64,
    pub col: u64,
    pub kind: AsbErrorKind,
}

impl fmt::Display for AsbError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.kind {
            // These describe the whole input, not a place in it.
            AsbErrorKind::Empty
            | AsbErrorKind::Zstd
            | AsbErrorKind::Stream
            | AsbErrorKind::Io(_) => {
                write!(f, "{}", self.kind)
            }
            _ => write!(f, "line {}, column {}: {}", self.line, self.col, self.kind),
        }
    }
}

/// What the version and meta lines say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsbHeader {
    /// `"3.0"`, `"3.1"` or `"3.2"`.
    pub version: String,
    pub namespace: Option<Vec<u8>>,
    pub first_file: bool,
}

/// A global line or a record. Records and UDFs borrow from the reader until its next call.
#[derive(Debug, Clone, PartialEq)]
pub enum AsbItem<'a> {
    SIndex(SIndex),
    Udf(Udf<'a>),
    Record(Record<'a>),
}

impl AsbItem<'_> {
    pub fn into_owned(self) -> AsbItem<'static> {
        match self {
            AsbItem::SIndex(s) => AsbItem::SIndex(s),
            AsbItem::Udf(u) => AsbItem::Udf(u.into_owned()),
            AsbItem::Record(r) => AsbItem::Record(r.into_owned()),
        }
    }
}

pub struct AsbReader<R> {
    inp: Input<R>,
    header: AsbHeader,
    /// Version 3.0: no unescaping and no global lines.
    legacy: bool,
    /// Scratch space for number tokens and base64 text.
    tok: Vec<u8>,
    /// The current item's names and payloads, back to back; items borrow from it.
    arena: Vec<u8>,
    /// The current record's bins as (name, particle type, value) ranges of `arena`.
    bins: Vec<(Range<usize>, u8, Range<usize>)>,
    /// Where the current `+` line started.
    line_at: (u64, u64),
    /// Whether records are first tried by `fast.rs` (off only to test it against the careful
    /// reader).
    fast: bool,
}

/// A record's fields before its bins, as ranges of the arena; its bins are in `bins`.
struct Head {
    key: Option<(u8, Range<usize>)>,
    namespace: Range<usize>,
    set: Option<Range<usize>>,
    digest: [u8; DIGEST_LEN],
    generation: u16,
    expiry: u32,
}

type Res<T> = Result<T, AsbError>;

fn show(c: Option<u8>) -> String {
    match c {
        None => "end of input".into(),
        Some(b'\n') => "line feed".into(),
        Some(c) if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        Some(c) => format!("byte 0x{c:02x}"),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Digits only, at most `max`.
fn parse_uint(tok: &[u8], max: u64) -> Option<u64> {
    let mut v: u64 = 0;
    for &c in tok {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    (v <= max).then_some(v)
}

/// The 20 bytes of a digest line's 28 base64 characters.
fn parse_digest(text: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    // Unpadded, 28 characters hold 21 bytes. base64-simd asserts that its output has room for
    // what it decodes, so there is room for 21, and the length is what rejects them.
    let mut out = [0u8; 21];
    let d = B64.decode(text, Out::from_slice(&mut out)).ok()?;
    (*d).try_into().ok()
}

/// An optional `-` and digits, within an i64.
fn parse_int(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, tok),
    };
    if digits.is_empty() {
        return None;
    }
    // A negative number is summed downwards, so that i64::MIN fits.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = i64::from(c - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

impl<R: Read> AsbReader<R> {
    /// Reads the version line and the meta lines.
    pub fn new(input: R) -> Res<Self> {
        let mut r = AsbReader {
            inp: Input::new(input),
            header: AsbHeader {
                version: String::new(),
                namespace: None,
                first_file: false,
            },
            legacy: false,
            tok: Vec::with_capacity(256),
            arena: Vec::with_capacity(64 << 10),
            bins: Vec::new(),
            line_at: (1, 1),
            fast: true,
        };
        r.read_version()?;
        r.read_meta()?;
        Ok(r)
    }

    pub fn header(&self) -> &AsbHeader {
        &self.header
    }

    /// Reads every record field by field, as when the fast path misses: for tests that
    /// compare the two.
    #[doc(hidden)]
    pub fn careful_only(mut self) -> Self {
        self.fast = false;
        self
    }

    fn err<T>(&self, kind: AsbErrorKind) -> Res<T> {
        let (line, col) = self.inp.pos();
        Err(AsbError { line, col, kind })
    }

    fn syntax<T>(&self, msg: impl Into<String>) -> Res<T> {
        self.err(AsbErrorKind::Syntax(msg.into()))
    }

    fn bad_at<T>(&self, at: (u64, u64), msg: String) -> Res<T> {
        Err(AsbError {
            line: at.0,
            col: at.1,
            kind: AsbErrorKind::Syntax(msg),
        })
    }

    fn io<T>(&self, r: io::Result<T>) -> Res<T> {
        r.map_err(|e| {
            let (line, col) = self.inp.pos();
            AsbError {
                line,
                col,
                kind: AsbErrorKind::Io(e),
            }
        })
    }

    fn peek(&mut self) -> Res<Option<u8>> {
        let r = self.inp.peek();
        self.io(r)
    }

    /// Consumes `want` or fails saying `what` was expected.
    #[inline]
    fn expect(&mut self, want: u8, what: &str) -> Res<()> {
        let r = self.inp.eat(want);
        if self.io(r)? {
            return Ok(());
        }
        match self.peek()? {
            None => self.err(AsbErrorKind::Eof(format!("where {what} was expected"))),
            c => self.syntax(format!("expected {what}, found {}", show(c))),
        }
    }

    fn expect_str(&mut self, want: &[u8], what: &str) -> Res<()> {
        let r = self.inp.eat_str(want);
        if self.io(r)? {
            return Ok(());
        }
        for &c in want {
            self.expect(c, what)?;
        }
        Ok(())
    }

    fn read_version(&mut self) -> Res<()> {
        let foreign = match self.inp.peek_n(8) {
            Ok([]) => Some(AsbErrorKind::Empty),
            Ok(b) if b.starts_with(&ZSTD_MAGIC) => Some(AsbErrorKind::Zstd),
            Ok(b) if b.starts_with(&MAGIC[..4]) => Some(AsbErrorKind::Stream),
            Ok(b) if !b"Version ".starts_with(&b[..b.len().min(8)]) => Some(AsbErrorKind::NotAsb),
            Ok(_) => None,
            Err(e) => Some(AsbErrorKind::Io(e)),
        };
        if let Some(kind) = foreign {
            return self.err(kind);
        }
        self.expect_str(b"Version ", "'Version '")?;
        let mut v = Vec::new();
        let r = self.inp.bytes(3, &mut v);
        self.io(r)?;
        let v = lossy(&v);
        match v.as_str() {
            "3.0" => self.legacy = true,
            "3.1" | "3.2" => {}
            _ => return self.err(AsbErrorKind::Version(v)),
        }
        self.expect(b'\n', "a line feed after the version")?;
        self.header.version = v;
        Ok(())
    }

    /// Reads a name token up to an unescaped space or LF into the arena.
    fn name(&mut self, what: &str) -> Res<Range<usize>> {
        let start = self.arena.len();
        let unescape = !self.legacy;
        let r = self.inp.token(&mut self.arena, unescape, MAX_TOKEN, true);
        match self.io(r)? {
            Stop::At(_) => Ok(start..self.arena.len()),
            Stop::Eof => self.err(AsbErrorKind::Eof(format!("in {what}"))),
            Stop::TooLong => self.syntax(format!("{what} is longer than {MAX_TOKEN} bytes")),
        }
    }

    /// A name token as an owned vector (for the rare global lines).
    fn name_owned(&mut self, what: &str) -> Res<Vec<u8>> {
        let r = self.name(what)?;
        let v = self.arena[r.clone()].to_vec();
        self.arena.truncate(r.start);
        Ok(v)
    }

    /// Reads a number token up to a space or LF into `self.tok`; returns where it started.
    fn number_token(&mut self, what: &str) -> Res<(u64, u64)> {
        let at = self.inp.pos();
        self.tok.clear();
        let r = self.inp.token(&mut self.tok, false, MAX_NUMBER, true);
        match self.io(r)? {
            Stop::At(_) if !self.tok.is_empty() => Ok(at),
            Stop::At(c) => self.syntax(format!("expected {what}, found {}", show(Some(c)))),
            Stop::Eof => self.err(AsbErrorKind::Eof(format!("in {what}"))),
            Stop::TooLong => self.syntax(format!("{what} is too long")),
        }
    }

    fn uint(&mut self, what: &str, max: u64) -> Res<u64> {
        let at = self.number_token(what)?;
        match parse_uint(&self.tok, max) {
            Some(v) => Ok(v),
            None => self.bad_at(
                at,
                format!(
                    "invalid {what} {:?} (expected 0 to {max})",
                    lossy(&self.tok)
                ),
            ),
        }
    }

    /// The length field before a payload of `what`, and the space after it.
    fn length(&mut self, what: &str) -> Res<u64> {
        let at = self.number_token("a length")?;
        let Some(n) = parse_uint(&self.tok, MAX_LEN) else {
            return self.bad_at(
                at,
                format!("invalid length {:?} of {what}", lossy(&self.tok)),
            );
        };
        let r = self.inp.eat(b' ');
        if !self.io(r)? {
            let c = self.peek()?;
            return self.syntax(format!(
                "expected a space after the length of {what}, found {}",
                show(c)
            ));
        }
        Ok(n)
    }

    fn int(&mut self, what: &str) -> Res<i64> {
        let at = self.number_token(what)?;
        match parse_int(&self.tok) {
            Some(v) => Ok(v),
            None => self.bad_at(at, format!("invalid {what} {:?}", lossy(&self.tok))),
        }
    }

    fn double(&mut self, what: &str) -> Res<f64> {
        let at = self.number_token(what)?;
        match parse_double(&self.tok) {
            Some(v) => Ok(v),
            None => self.bad_at(at, format!("invalid {what} {:?}", lossy(&self.tok))),
        }
    }

    /// Appends exactly `n` bytes to `out`.
    fn raw_into(&mut self, n: u64, what: &str, to_tok: bool) -> Res<()> {
        let out = if to_tok {
            &mut self.tok
        } else {
            &mut self.arena
        };
        // Reserve at most 1 MiB up front: the length field is not trusted with memory.
        out.reserve(n.min(1 << 20) as usize);
        let r = self.inp.bytes(n, out);
        let got = self.io(r)?;
        if got < n {
            return self.err(AsbErrorKind::Eof(format!("in {what}: {got} of {n} bytes")));
        }
        Ok(())
    }

    /// `<len> <raw bytes>` into the arena.
    fn sized_raw(&mut self, what: &str) -> Res<Range<usize>> {
        let n = self.length(what)?;
        let start = self.arena.len();
        self.raw_into(n, what, false)?;
        Ok(start..self.arena.len())
    }

    /// `<b64len> <base64>`, decoded into the arena.
    fn sized_b64(&mut self, what: &str) -> Res<Range<usize>> {
        let n = self.length(what)?;
        let at = self.inp.pos();
        if n % 4 != 0 {
            return self.syntax(format!(
                "base64 length {n} of {what} is not a multiple of 4"
            ));
        }
        self.tok.clear();
        self.raw_into(n, what, true)?;
        let start = self.arena.len();
        match B64.decode_append(&self.tok, &mut self.arena) {
            Ok(()) => Ok(start..self.arena.len()),
            Err(e) => self.bad_at(at, format!("invalid base64 in {what}: {e}")),
        }
    }

    /// Either payload form: raw when the type letter had a `!`.
    fn payload(&mut self, raw: bool, what: &str) -> Res<Range<usize>> {
        if raw {
            self.sized_raw(what)
        } else {
            self.sized_b64(what)
        }
    }

    fn read_meta(&mut self) -> Res<()> {
        while self.peek()? == Some(b'#') {
            if self.at_incomplete_marker()? {
                return self.incomplete();
            }
            self.expect_str(b"# ", "'# '")?;
            let at = self.inp.pos();
            self.tok.clear();
            let r = self.inp.token(&mut self.tok, false, MAX_TOKEN, true);
            let stop = self.io(r)?;
            match (self.tok.as_slice(), stop) {
                (b"namespace", Stop::At(b' ')) => {
                    self.expect(b' ', "a space")?;
                    let ns = self.name_owned("the namespace")?;
                    self.expect(b'\n', "a line feed after the namespace")?;
                    self.header.namespace = Some(ns);
                }
                (b"first-file", Stop::At(b'\n')) => {
                    self.expect(b'\n', "a line feed")?;
                    self.header.first_file = true;
                }
                _ => {
                    let t = lossy(&self.tok);
                    return self.bad_at(at, format!("unknown meta line '# {t}'"));
                }
            }
        }
        Ok(())
    }

    fn at_incomplete_marker(&mut self) -> Res<bool> {
        match self.inp.peek_n(INCOMPLETE_MARKER.len()) {
            Ok(b) => Ok(b.starts_with(INCOMPLETE_MARKER)),
            Err(e) => self.err(AsbErrorKind::Io(e)),
        }
    }

    fn incomplete<T>(&mut self) -> Res<T> {
        let at = self.inp.pos();
        let r = self.inp.eat_str(INCOMPLETE_MARKER);
        self.io(r)?;
        self.tok.clear();
        let r = self.inp.token(&mut self.tok, false, MAX_TOKEN, false);
        self.io(r)?;
        Err(AsbError {
            line: at.0,
            col: at.1,
            kind: AsbErrorKind::Incomplete(lossy(&self.tok)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn integers_parse_as_rust_parses_them() {
        let cases: &[&[u8]] = &[
            b"0",
            b"-0",
            b"007",
            b"-007",
            b"9223372036854775807",
            b"9223372036854775808",
            b"-9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
            b"-",
            b"",
            b"+1",
            b"1-",
            b"--1",
            b"1 ",
            b"12a",
        ];
        for &tok in cases {
            let digits = tok.strip_prefix(b"-").unwrap_or(tok);
            let rust = (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(tok).unwrap().parse::<i64>().ok())
                .flatten();
            assert_eq!(parse_int(tok), rust, "{:?}", String::from_utf8_lossy(tok));
        }
    }
}
