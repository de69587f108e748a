//! The items of an ASB file: globals (secondary indexes, UDFs) and records with their keys and
//! bins, read over the lexing in the parent module.

use super::fast::{self, Miss};
use super::{parse_digest, show, AsbError, AsbErrorKind, AsbItem, AsbReader, Head, Res};
use crate::asb::bytes_particle;
use crate::record::{particle, Bin, IndexDataType, IndexType, Record, SIndex, Udf, Value};
use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;

/// Reads more after which a record the fast path found cut short by the buffer's end is left to
/// the careful reader.
const RETRIES: usize = 4;

impl<R: Read> AsbReader<R> {
    /// The next global or record, or `None` at the end of the input.
    pub fn next_item(&mut self) -> Res<Option<AsbItem<'_>>> {
        self.arena.clear();
        match self.peek()? {
            None => Ok(None),
            Some(b'+') => self.record().map(Some),
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

    fn global(&mut self) -> Res<AsbItem<'_>> {
        self.expect_str(b"* ", "'* '")?;
        let c = self.peek()?;
        match c {
            Some(b'i') => {
                self.expect_str(b"i ", "'i '")?;
                self.sindex(false).map(AsbItem::SIndex)
            }
            Some(b'u') => {
                self.expect_str(b"u ", "'u '")?;
                self.udf().map(AsbItem::Udf)
            }
            Some(b'e') => {
                self.expect_str(b"e ", "'e '")?;
                self.sindex(true).map(AsbItem::SIndex)
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

    /// An optional `!` after a type letter.
    fn bang(&mut self) -> Res<bool> {
        let r = self.inp.eat(b'!');
        self.io(r)
    }

    /// A `* i` line, or with `expression` absctl's `* e` line: the same fields, then the
    /// context (optional) and the expression's base64. absctl's own reader takes all that follows
    /// the type as the expression; here two tokens are a context and an expression.
    fn sindex(&mut self, expression: bool) -> Res<SIndex> {
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
        let paths = self.uint("number of index paths", 65535)?;
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
        let mut tokens = Vec::new();
        while tokens.len() < 2 && self.peek()? == Some(b' ') {
            self.expect(b' ', "a space")?;
            tokens.push(self.name_owned("the index context")?);
        }
        self.expect(b'\n', "a line feed after the index definition")?;
        let (context, expression) = match (expression, tokens.len()) {
            (false, 0) => (None, None),
            (false, 1) => (tokens.pop(), None),
            (true, 1) => (None, tokens.pop()),
            (true, 2) => {
                let e = tokens.pop();
                (tokens.pop(), e)
            }
            (true, _) => return self.syntax("an expression index line without its expression"),
            (false, _) => return self.syntax("expected a line feed after the index context"),
        };
        Ok(SIndex {
            namespace,
            set: if set.is_empty() { None } else { Some(set) },
            name,
            index_type,
            bin,
            data_type,
            context,
            expression,
        })
    }

    fn udf(&mut self) -> Res<Udf<'_>> {
        let at = self.inp.pos();
        let kind = self.letter("a UDF type")?;
        if kind != b'L' {
            return self.bad_at(
                at,
                format!("invalid UDF type {} (expected L)", show(Some(kind))),
            );
        }
        self.expect(b' ', "a space after the UDF type")?;
        let name = self.name("the UDF name")?;
        self.expect(b' ', "a space after the UDF name")?;
        let content = self.sized_raw("the UDF content")?;
        self.expect(b'\n', "a line feed after the UDF content")?;
        Ok(Udf {
            kind,
            name: Cow::Borrowed(&self.arena[name]),
            content: Cow::Borrowed(&self.arena[content]),
        })
    }

    /// Reads `+ <letter> ` and returns the letter.
    fn record_line(&mut self) -> Res<u8> {
        self.line_at = self.inp.pos();
        // (A record line has no `!`: one is left to the slower path, which rejects it.)
        let r = self.inp.line_start(b'+', false);
        if let Some((c, _)) = self.io(r)? {
            return Ok(c);
        }
        self.expect_str(b"+ ", "'+ ' (a record line)")?;
        let c = self.letter("a record line letter")?;
        self.expect(b' ', "a space after the record line letter")?;
        Ok(c)
    }

    fn expect_line(&self, got: u8, want: u8) -> Res<()> {
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

    /// Appends the 8 big-endian bytes of a number particle to the arena.
    fn number_particle(&mut self, bits: u64) -> Range<usize> {
        let start = self.arena.len();
        self.arena.extend_from_slice(&bits.to_be_bytes());
        start..self.arena.len()
    }

    fn record(&mut self) -> Res<AsbItem<'_>> {
        let head = match self.fast_record()? {
            Some(head) => head,
            None => self.careful_record()?,
        };
        let a = &self.arena;
        Ok(AsbItem::Record(Record {
            namespace: Cow::Borrowed(&a[head.namespace]),
            set: head.set.map(|s| Cow::Borrowed(&a[s])),
            digest: head.digest,
            key: head.key.map(|(ptype, r)| Value::new(ptype, &a[r])),
            generation: head.generation,
            expiry: head.expiry,
            bins: self
                .bins
                .iter()
                .map(|(name, ptype, value)| Bin {
                    name: Cow::Borrowed(&a[name.clone()]),
                    value: Value::new(*ptype, &a[value.clone()]),
                })
                .collect(),
        }))
    }

    /// The record at the start of the window when it is there whole and plainly written
    /// (`fast.rs`); `None` leaves it, untouched, to `careful_record`.
    fn fast_record(&mut self) -> Res<Option<Head>> {
        if !self.fast {
            return Ok(None);
        }
        // Each read more means parsing the record again from its start: an input that comes in
        // small reads (a network download, a slow pipe) would parse a large record many times
        // over, so after a few it goes the careful way.
        let mut reads = 0;
        loop {
            let got = fast::record(
                self.inp.window(),
                self.legacy,
                &mut self.arena,
                &mut self.bins,
            );
            match got {
                Ok((head, used)) => {
                    self.inp.consume_lines(used);
                    return Ok(Some(head));
                }
                Err(miss) => {
                    self.arena.clear();
                    self.bins.clear();
                    if miss == Miss::Odd || reads == RETRIES {
                        return Ok(None);
                    }
                    reads += 1;
                    let more = self.inp.more();
                    if !self.io(more)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// A record read one field at a time, with the line and column of any error.
    fn careful_record(&mut self) -> Res<Head> {
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
        let namespace = self.name("the record namespace")?;
        self.expect(b'\n', "a line feed after the namespace")?;

        let c = self.record_line()?;
        self.expect_line(c, b'd')?;
        let at = self.inp.pos();
        self.tok.clear();
        self.raw_into(28, "the digest", true)?;
        let Some(digest) = parse_digest(&self.tok) else {
            return self.bad_at(
                at,
                "invalid digest (expected 28 base64 characters of 20 bytes)".into(),
            );
        };
        self.expect(b'\n', "a line feed after the digest")?;

        let mut c = self.record_line()?;
        let set = if c == b's' {
            let s = self.name("the set name")?;
            self.expect(b'\n', "a line feed after the set name")?;
            c = self.record_line()?;
            Some(s)
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

        self.bins.clear();
        for _ in 0..n {
            let b = self.bin()?;
            self.bins.push(b);
        }
        Ok(Head {
            key,
            namespace,
            set,
            digest,
            generation,
            expiry,
        })
    }

    fn key(&mut self) -> Res<(u8, Range<usize>)> {
        let at = self.inp.pos();
        let t = self.letter("a key type")?;
        let raw = self.bang()?;
        self.expect(b' ', "a space after the key type")?;
        Ok(match t {
            b'I' => {
                let v = self.int("integer key")?;
                (particle::INTEGER, self.number_particle(v as u64))
            }
            b'D' => {
                let v = self.double("double key")?;
                (particle::FLOAT, self.number_particle(v.to_bits()))
            }
            b'S' => (particle::STRING, self.sized_raw("the string key")?),
            b'X' => (particle::STRING, self.payload(raw, "the string key")?),
            b'B' => (particle::BLOB, self.payload(raw, "the bytes key")?),
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

    fn bin(&mut self) -> Res<(Range<usize>, u8, Range<usize>)> {
        let at = (self.inp.pos().0, self.inp.pos().1 + 2);
        let r = self.inp.line_start(b'-', true);
        let (t, raw) = match self.io(r)? {
            Some(fast) => fast,
            None => {
                self.expect_str(b"- ", "'- ' (a bin line)")?;
                let t = self.letter("a bin type")?;
                let raw = self.bang()?;
                self.expect(b' ', "a space after the bin type")?;
                (t, raw)
            }
        };
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
        let name = self.name("the bin name")?;
        if t == b'N' {
            self.expect(b'\n', "a line feed after a nil bin's name")?;
            let end = self.arena.len();
            return Ok((name, particle::NIL, end..end));
        }
        self.expect(b' ', "a space after the bin name")?;
        let value = match t {
            b'Z' => {
                let at = self.inp.pos();
                let v = match self.letter("T or F")? {
                    b'T' => 1,
                    b'F' => 0,
                    c => {
                        return self.bad_at(
                            at,
                            format!("invalid boolean {} (expected T or F)", show(Some(c))),
                        )
                    }
                };
                self.arena.push(v);
                (particle::BOOL, self.arena.len() - 1..self.arena.len())
            }
            b'I' => {
                let v = self.int("integer value")?;
                (particle::INTEGER, self.number_particle(v as u64))
            }
            b'D' => {
                let v = self.double("double value")?;
                (particle::FLOAT, self.number_particle(v.to_bits()))
            }
            b'S' => (particle::STRING, self.sized_raw("the string value")?),
            b'X' => (particle::STRING, self.payload(raw, "the string value")?),
            b'G' => (particle::GEOJSON, self.sized_raw("the GeoJSON value")?),
            _ => {
                let ptype = bytes_particle(t).expect("checked above");
                (ptype, self.payload(raw, "the bin value")?)
            }
        };
        self.expect(b'\n', "a line feed after the bin value")?;
        Ok((name, value.0, value.1))
    }
}
