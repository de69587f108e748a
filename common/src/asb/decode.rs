//! ASB text decoder: versions 3.0 and 3.1, as the C reader (`dec_text.c`) accepts them.
//!
//! Every error carries the line and column where it was found. Lengths in the file are never
//! trusted for allocation: payloads grow only as bytes arrive.

use super::double::parse_double;
use super::input::{Input, Stop};
use super::{bytes_particle, INCOMPLETE_MARKER};
use crate::record::{
    particle, Bin, IndexDataType, IndexType, Record, SIndex, Udf, Value, DIGEST_LEN,
};
use crate::stream::{MAGIC, ZSTD_MAGIC};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use thiserror::Error;

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
    #[error("unsupported backup format version {0:?} (this tool reads 3.0 and 3.1)")]
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
    /// `"3.0"` or `"3.1"`.
    pub version: String,
    pub namespace: Option<Vec<u8>>,
    pub first_file: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AsbItem {
    SIndex(SIndex),
    Udf(Udf<'static>),
    Record(Record<'static>),
}

pub struct AsbReader<R> {
    inp: Input<R>,
    header: AsbHeader,
    /// Version 3.0: no unescaping and no global lines.
    legacy: bool,
    tok: Vec<u8>,
    /// Where the current `+` line started.
    line_at: (u64, u64),
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
            line_at: (1, 1),
        };
        r.read_version()?;
        r.read_meta()?;
        Ok(r)
    }

    pub fn header(&self) -> &AsbHeader {
        &self.header
    }

    fn err<T>(&self, kind: AsbErrorKind) -> Res<T> {
        let (line, col) = self.inp.pos();
        Err(AsbError { line, col, kind })
    }

    fn syntax<T>(&self, msg: impl Into<String>) -> Res<T> {
        self.err(AsbErrorKind::Syntax(msg.into()))
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

    /// Consumes `want` or fails naming `what` was expected.
    fn expect(&mut self, want: u8, what: &str) -> Res<()> {
        let c = self.peek()?;
        if c != Some(want) {
            if c.is_none() {
                return self.err(AsbErrorKind::Eof(format!("where {what} was expected")));
            }
            return self.syntax(format!("expected {what}, found {}", show(c)));
        }
        let r = self.inp.bump();
        self.io(r)?;
        Ok(())
    }

    fn expect_str(&mut self, want: &[u8], what: &str) -> Res<()> {
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
        let v = String::from_utf8_lossy(&v).into_owned();
        match v.as_str() {
            "3.0" => self.legacy = true,
            "3.1" => {}
            _ => return self.err(AsbErrorKind::Version(v)),
        }
        self.expect(b'\n', "a line feed after the version")?;
        self.header.version = v;
        Ok(())
    }

    /// Reads a token up to an unescaped space or LF into `self.tok`.
    fn name(&mut self, what: &str) -> Res<()> {
        self.tok.clear();
        let unescape = !self.legacy;
        let r = self.inp.token(&mut self.tok, unescape, MAX_TOKEN, |c| {
            c == b' ' || c == b'\n'
        });
        match self.io(r)? {
            Stop::At(_) => Ok(()),
            Stop::Eof => self.err(AsbErrorKind::Eof(format!("in {what}"))),
            Stop::TooLong => self.syntax(format!("{what} is longer than {MAX_TOKEN} bytes")),
        }
    }

    fn name_owned(&mut self, what: &str) -> Res<Vec<u8>> {
        self.name(what)?;
        Ok(self.tok.clone())
    }

    /// Reads a number token up to a space or LF into `self.tok`; returns where it started.
    fn number_token(&mut self, what: &str) -> Res<(u64, u64)> {
        let at = self.inp.pos();
        self.tok.clear();
        let r = self.inp.token(&mut self.tok, false, MAX_NUMBER, |c| {
            c == b' ' || c == b'\n'
        });
        match self.io(r)? {
            Stop::At(_) if !self.tok.is_empty() => Ok(at),
            Stop::At(c) => self.syntax(format!("expected {what}, found {}", show(Some(c)))),
            Stop::Eof => self.err(AsbErrorKind::Eof(format!("in {what}"))),
            Stop::TooLong => self.syntax(format!("{what} is too long")),
        }
    }

    fn bad_at<T>(&self, at: (u64, u64), msg: String) -> Res<T> {
        Err(AsbError {
            line: at.0,
            col: at.1,
            kind: AsbErrorKind::Syntax(msg),
        })
    }

    fn uint(&mut self, what: &str, max: u64) -> Res<u64> {
        let at = self.number_token(what)?;
        let s = &self.tok;
        let v = if s.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        } else {
            None
        };
        match v {
            Some(v) if v <= max => Ok(v),
            _ => self.bad_at(
                at,
                format!(
                    "invalid {what} {:?} (expected 0 to {max})",
                    String::from_utf8_lossy(s)
                ),
            ),
        }
    }

    fn int(&mut self, what: &str) -> Res<i64> {
        let at = self.number_token(what)?;
        let s = &self.tok;
        let digits = s.strip_prefix(b"-").unwrap_or(s);
        let v = if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        } else {
            None
        };
        match v {
            Some(v) => Ok(v),
            None => self.bad_at(
                at,
                format!("invalid {what} {:?}", String::from_utf8_lossy(s)),
            ),
        }
    }

    fn double(&mut self, what: &str) -> Res<f64> {
        let at = self.number_token(what)?;
        match parse_double(&self.tok) {
            Some(v) => Ok(v),
            None => self.bad_at(
                at,
                format!("invalid {what} {:?}", String::from_utf8_lossy(&self.tok)),
            ),
        }
    }

    /// Reads exactly `n` bytes.
    fn raw(&mut self, n: u64, what: &str) -> Res<Vec<u8>> {
        let mut out = Vec::with_capacity(n.min(1 << 20) as usize);
        let r = self.inp.bytes(n, &mut out);
        let got = self.io(r)?;
        if got < n {
            return self.err(AsbErrorKind::Eof(format!("in {what}: {got} of {n} bytes")));
        }
        Ok(out)
    }

    /// `<len> <raw bytes>`
    fn sized_raw(&mut self, what: &str) -> Res<Vec<u8>> {
        let n = self.uint(&format!("length of {what}"), MAX_LEN)?;
        self.expect(b' ', &format!("a space after the length of {what}"))?;
        self.raw(n, what)
    }

    /// `<b64len> <base64>`
    fn sized_b64(&mut self, what: &str) -> Res<Vec<u8>> {
        let n = self.uint(&format!("base64 length of {what}"), MAX_LEN)?;
        self.expect(b' ', &format!("a space after the length of {what}"))?;
        let at = self.inp.pos();
        if n % 4 != 0 {
            return self.syntax(format!(
                "base64 length {n} of {what} is not a multiple of 4"
            ));
        }
        let text = self.raw(n, what)?;
        match B64.decode(&text) {
            Ok(v) => Ok(v),
            Err(e) => self.bad_at(at, format!("invalid base64 in {what}: {e}")),
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
            let r = self
                .inp
                .token(&mut self.tok, false, MAX_TOKEN, |c| c == b' ' || c == b'\n');
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
                    let t = String::from_utf8_lossy(&self.tok).into_owned();
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
        let r = self
            .inp
            .bytes(INCOMPLETE_MARKER.len() as u64, &mut Vec::new());
        self.io(r)?;
        self.tok.clear();
        let r = self
            .inp
            .token(&mut self.tok, false, MAX_TOKEN, |c| c == b'\n');
        self.io(r)?;
        Err(AsbError {
            line: at.0,
            col: at.1,
            kind: AsbErrorKind::Incomplete(String::from_utf8_lossy(&self.tok).into_owned()),
        })
    }

    /// The next global or record, or `None` at the end of the input.
    pub fn next_item(&mut self) -> Res<Option<AsbItem>> {
        match self.peek()? {
            None => Ok(None),
            Some(b'+') => self.record().map(|r| Some(AsbItem::Record(r))),
            Some(b'*') if self.legacy => {
                self.syntax("global lines ('*') are not allowed in a version 3.0 file")
            }
            Some(b'*') => self.global().map(Some),
            Some(b'#') if self.at_incomplete_marker()? => self.incomplete(),
            Some(b'#') => self.syntax("meta line ('#') after the header"),
            c => self.syntax(format!(
                "expected '+' or '*' at the start of a line, found {}",
                show(c)
            )),
        }
    }

    fn global(&mut self) -> Res<AsbItem> {
        self.expect_str(b"* ", "'* '")?;
        let c = self.peek()?;
        match c {
            Some(b'i') => {
                self.expect_str(b"i ", "'i '")?;
                self.sindex().map(AsbItem::SIndex)
            }
            Some(b'u') => {
                self.expect_str(b"u ", "'u '")?;
                self.udf().map(AsbItem::Udf)
            }
            Some(b'e') => {
                self.syntax("expression index lines ('* e', version 3.2) are not supported")
            }
            _ => self.syntax(format!("expected 'i' or 'u' after '* ', found {}", show(c))),
        }
    }

    fn letter(&mut self, what: &str) -> Res<u8> {
        let c = self.peek()?;
        match c {
            Some(c) if c != b' ' && c != b'\n' => {
                let r = self.inp.bump();
                self.io(r)?;
                Ok(c)
            }
            None => self.err(AsbErrorKind::Eof(format!("where {what} was expected"))),
            _ => self.syntax(format!("expected {what}, found {}", show(c))),
        }
    }

    fn sindex(&mut self) -> Res<SIndex> {
        let namespace = self.name_owned("the index namespace")?;
        self.expect(b' ', "a space after the index namespace")?;
        let set = self.name_owned("the index set")?;
        self.expect(b' ', "a space after the index set")?;
        let name = self.name_owned("the index name")?;
        self.expect(b' ', "a space after the index name")?;
        let at = self.inp.pos();
        let it = self.letter("an index type")?;
        let Some(index_type) = IndexType::from_letter(it) else {
            return self.bad_at(
                at,
                format!(
                    "invalid index type {} (expected N, L, K or V)",
                    show(Some(it))
                ),
            );
        };
        self.expect(b' ', "a space after the index type")?;
        let at = self.inp.pos();
        let paths = self.uint("the number of index paths", 65535)?;
        if paths != 1 {
            return self.bad_at(
                at,
                format!("an index with {paths} paths is not supported (only 1)"),
            );
        }
        self.expect(b' ', "a space after the number of paths")?;
        let bin = self.name_owned("the index bin")?;
        self.expect(b' ', "a space after the index bin")?;
        let at = self.inp.pos();
        let dt = self.letter("an index data type")?;
        let Some(data_type) = IndexDataType::from_letter(dt) else {
            return self.bad_at(
                at,
                format!(
                    "invalid index data type {} (expected N, S, G or B)",
                    show(Some(dt))
                ),
            );
        };
        // Files from before asbackup 3.12 have no context, not even the space.
        let context = if self.peek()? == Some(b' ') {
            self.expect(b' ', "a space")?;
            Some(self.name_owned("the index context")?)
        } else {
            None
        };
        self.expect(b'\n', "a line feed after the index definition")?;
        Ok(SIndex {
            namespace,
            set: if set.is_empty() { None } else { Some(set) },
            name,
            index_type,
            bin,
            data_type,
            context,
        })
    }

    fn udf(&mut self) -> Res<Udf<'static>> {
        let at = self.inp.pos();
        let kind = self.letter("a UDF type")?;
        if kind != b'L' {
            return self.bad_at(
                at,
                format!("invalid UDF type {} (expected L)", show(Some(kind))),
            );
        }
        self.expect(b' ', "a space after the UDF type")?;
        let name = self.name_owned("the UDF name")?;
        self.expect(b' ', "a space after the UDF name")?;
        let content = self.sized_raw("the UDF content")?;
        self.expect(b'\n', "a line feed after the UDF content")?;
        Ok(Udf {
            kind,
            name: Cow::Owned(name),
            content: Cow::Owned(content),
        })
    }

    /// Reads `+ <letter> ` and returns the letter.
    fn record_line(&mut self) -> Res<u8> {
        self.line_at = self.inp.pos();
        self.expect_str(b"+ ", "'+ ' (a record line)")?;
        let c = self.letter("a record line letter")?;
        self.expect(b' ', "a space after the record line letter")?;
        Ok(c)
    }

    fn expect_line(&mut self, got: u8, want: u8) -> Res<()> {
        if got != want {
            return self.bad_at(
                self.line_at,
                format!(
                    "expected a '+ {}' line, found '+ {}'",
                    want as char, got as char
                ),
            );
        }
        Ok(())
    }

    fn record(&mut self) -> Res<Record<'static>> {
        let mut c = self.record_line()?;
        let key = if c == b'k' {
            let k = self.key()?;
            self.expect(b'\n', "a line feed after the key")?;
            c = self.record_line()?;
            Some(k)
        } else {
            None
        };
        self.expect_line(c, b'n')?;
        let namespace = self.name_owned("the record namespace")?;
        self.expect(b'\n', "a line feed after the namespace")?;

        let c = self.record_line()?;
        self.expect_line(c, b'd')?;
        let at = self.inp.pos();
        let d = self.raw(28, "the digest")?;
        let digest: [u8; DIGEST_LEN] = match B64.decode(&d).ok().and_then(|v| v.try_into().ok()) {
            Some(d) => d,
            None => {
                return self.bad_at(
                    at,
                    "invalid digest (expected 28 base64 characters of 20 bytes)".into(),
                )
            }
        };
        self.expect(b'\n', "a line feed after the digest")?;

        let mut c = self.record_line()?;
        let set = if c == b's' {
            let s = self.name_owned("the set name")?;
            self.expect(b'\n', "a line feed after the set name")?;
            c = self.record_line()?;
            Some(Cow::Owned(s))
        } else {
            None
        };
        self.expect_line(c, b'g')?;
        let generation = self.uint("generation", u16::MAX as u64)? as u16;
        self.expect(b'\n', "a line feed after the generation")?;
        let c = self.record_line()?;
        self.expect_line(c, b't')?;
        let expiry = self.uint("expiration", u32::MAX as u64)? as u32;
        self.expect(b'\n', "a line feed after the expiration")?;
        let c = self.record_line()?;
        self.expect_line(c, b'b')?;
        let n = self.uint("bin count", u16::MAX as u64)? as usize;
        self.expect(b'\n', "a line feed after the bin count")?;

        let mut bins = Vec::with_capacity(n);
        for _ in 0..n {
            bins.push(self.bin()?);
        }
        Ok(Record {
            namespace: Cow::Owned(namespace),
            set,
            digest,
            key,
            generation,
            expiry,
            bins,
        })
    }

    fn key(&mut self) -> Res<Value<'static>> {
        let at = self.inp.pos();
        let t = self.letter("a key type")?;
        let raw = self.peek()? == Some(b'!');
        if raw {
            self.inp.bump().ok();
        }
        self.expect(b' ', "a space after the key type")?;
        Ok(match t {
            b'I' => Value::int(self.int("integer key")?),
            b'D' => Value::double(self.double("double key")?),
            b'S' => Value::new(particle::STRING, self.sized_raw("the string key")?),
            b'X' if raw => Value::new(particle::STRING, self.sized_raw("the string key")?),
            b'X' => Value::new(particle::STRING, self.sized_b64("the string key")?),
            b'B' if raw => Value::new(particle::BLOB, self.sized_raw("the bytes key")?),
            b'B' => Value::new(particle::BLOB, self.sized_b64("the bytes key")?),
            _ => {
                return self.bad_at(
                    at,
                    format!(
                        "invalid key type {} (expected I, D, S, X or B)",
                        show(Some(t))
                    ),
                )
            }
        })
    }

    fn bin(&mut self) -> Res<Bin<'static>> {
        self.expect_str(b"- ", "'- ' (a bin line)")?;
        let at = self.inp.pos();
        let t = self.letter("a bin type")?;
        let raw = self.peek()? == Some(b'!');
        if raw {
            self.inp.bump().ok();
        }
        if t == b'U' {
            return Err(AsbError {
                line: at.0,
                col: at.1,
                kind: AsbErrorKind::Ldt,
            });
        }
        let known = matches!(t, b'N' | b'Z' | b'I' | b'D' | b'S' | b'X' | b'G')
            || bytes_particle(t).is_some();
        if !known {
            return self.bad_at(at, format!("invalid bin type {}", show(Some(t))));
        }
        self.expect(b' ', "a space after the bin type")?;
        let name = self.name_owned("the bin name")?;
        if t == b'N' {
            self.expect(b'\n', "a line feed after a nil bin's name")?;
            return Ok(Bin {
                name: Cow::Owned(name),
                value: Value::new(particle::NIL, Vec::new()),
            });
        }
        self.expect(b' ', "a space after the bin name")?;
        let value = match t {
            b'Z' => {
                let at = self.inp.pos();
                match self.letter("T or F")? {
                    b'T' => Value::bool(true),
                    b'F' => Value::bool(false),
                    c => {
                        return self.bad_at(
                            at,
                            format!("invalid boolean {} (expected T or F)", show(Some(c))),
                        )
                    }
                }
            }
            b'I' => Value::int(self.int("integer value")?),
            b'D' => Value::double(self.double("double value")?),
            b'S' => Value::new(particle::STRING, self.sized_raw("the string value")?),
            b'X' if raw => Value::new(particle::STRING, self.sized_raw("the string value")?),
            b'X' => Value::new(particle::STRING, self.sized_b64("the string value")?),
            b'G' => Value::new(particle::GEOJSON, self.sized_raw("the GeoJSON value")?),
            _ => {
                let ptype = bytes_particle(t).expect("checked above");
                let data = if raw {
                    self.sized_raw("the bin value")?
                } else {
                    self.sized_b64("the bin value")?
                };
                Value::new(ptype, data)
            }
        };
        self.expect(b'\n', "a line feed after the bin value")?;
        Ok(Bin {
            name: Cow::Owned(name),
            value,
        })
    }
}
