//! ASB text encoder, byte for byte what asbackup 4.5.8 writes (`enc_text.c`).

use super::double::write_g17;
use super::{bin_letter, bytes_particle, INCOMPLETE_MARKER};
use crate::record::{particle, Record, SIndex, Udf, Value};
use base64_simd::{Out, STANDARD as B64};
use std::io::{self, Write};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("record {digest}: {what}")]
    BadRecord { digest: String, what: String },
    #[error("UDF {name}: {what}")]
    BadUdf { name: String, what: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Output is collected here and handed to the writer in chunks of about this size, always at a
/// record boundary, so that whatever reaches the output is whole records.
const FLUSH_AT: usize = 256 << 10;

pub struct AsbWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    compact: bool,
}

/// Appends `name` with `\`, space and LF escaped by a backslash.
pub fn escape_into(out: &mut Vec<u8>, name: &[u8]) {
    let special = |c: &u8| matches!(c, b'\\' | b' ' | b'\n');
    // Names are mostly short (bins, sets): a plain loop finds nothing sooner than memchr3's
    // vector set-up does (memchr3 was 5% of as-encode's samples, this loop is less than half).
    let clean = match name.len() {
        0..=32 => !name.iter().any(special),
        _ => memchr::memchr3(b'\\', b' ', b'\n', name).is_none(),
    };
    if clean {
        out.extend_from_slice(name);
        return;
    }
    for c in name {
        if special(c) {
            out.push(b'\\');
        }
        out.push(*c);
    }
}

fn put_uint(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `"<len> <bytes>"` raw, or `"<b64len> <base64>"`.
fn put_payload(out: &mut Vec<u8>, data: &[u8], raw: bool) {
    if raw {
        put_uint(out, data.len());
        out.push(b' ');
        out.extend_from_slice(data);
    } else {
        put_uint(out, B64.encoded_length(data.len()));
        out.push(b' ');
        put_b64(out, data);
    }
}

fn b64(data: &[u8]) -> String {
    B64.encode_to_string(data)
}

impl<W: Write> AsbWriter<W> {
    pub fn new(out: W, compact: bool) -> Self {
        AsbWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + (64 << 10)),
            compact,
        }
    }

    /// `Version 3.1`, `# namespace` (when known) and `# first-file` (for the first file only).
    pub fn header(&mut self, namespace: Option<&[u8]>, first_file: bool) -> io::Result<()> {
        self.buf.extend_from_slice(b"Version ");
        self.buf.extend_from_slice(super::VERSION.as_bytes());
        self.buf.push(b'\n');
        if let Some(ns) = namespace {
            self.buf.extend_from_slice(b"# namespace ");
            escape_into(&mut self.buf, ns);
            self.buf.push(b'\n');
        }
        if first_file {
            self.buf.extend_from_slice(b"# first-file\n");
        }
        self.maybe_flush()
    }

    pub fn sindex(&mut self, s: &SIndex) -> io::Result<()> {
        let b = &mut self.buf;
        // An expression index (read from absctl's ASB 3.2) is written as absctl writes it.
        b.extend_from_slice(if s.expression.is_some() {
            b"* e "
        } else {
            b"* i "
        });
        escape_into(b, &s.namespace);
        b.push(b' ');
        escape_into(b, s.set.as_deref().unwrap_or_default());
        b.push(b' ');
        escape_into(b, &s.name);
        b.extend_from_slice(&[b' ', s.index_type.letter(), b' ', b'1', b' ']);
        escape_into(b, &s.bin);
        b.extend_from_slice(&[b' ', s.data_type.letter()]);
        if let Some(ctx) = &s.context {
            b.push(b' ');
            escape_into(b, ctx);
        }
        if let Some(exp) = &s.expression {
            b.push(b' ');
            escape_into(b, exp);
        }
        b.push(b'\n');
        self.maybe_flush()
    }

    pub fn udf(&mut self, u: &Udf) -> Result<(), EncodeError> {
        if u.kind != b'L' {
            return Err(EncodeError::BadUdf {
                name: String::from_utf8_lossy(&u.name).into_owned(),
                what: format!(
                    "unsupported UDF language {:?} (only L, Lua, exists)",
                    u.kind as char
                ),
            });
        }
        let b = &mut self.buf;
        b.extend_from_slice(b"* u L ");
        escape_into(b, &u.name);
        b.push(b' ');
        put_payload(b, &u.content, true);
        b.push(b'\n');
        self.maybe_flush()?;
        Ok(())
    }

    /// Appends one record; on error nothing of it is written.
    pub fn record(&mut self, r: &Record) -> Result<(), EncodeError> {
        let start = self.buf.len();
        if let Err(what) = self.put_record(r) {
            self.buf.truncate(start);
            return Err(EncodeError::BadRecord {
                digest: b64(&r.digest),
                what,
            });
        }
        self.maybe_flush()?;
        Ok(())
    }

    fn put_record(&mut self, r: &Record) -> Result<(), String> {
        let compact = self.compact;
        let b = &mut self.buf;
        if let Some(key) = &r.key {
            b.extend_from_slice(b"+ k ");
            put_key(b, key, compact)?;
            b.push(b'\n');
        }
        b.extend_from_slice(b"+ n ");
        escape_into(b, &r.namespace);
        b.extend_from_slice(b"\n+ d ");
        put_b64(b, &r.digest);
        b.push(b'\n');
        if let Some(set) = &r.set {
            if !set.is_empty() {
                b.extend_from_slice(b"+ s ");
                escape_into(b, set);
                b.push(b'\n');
            }
        }
        b.extend_from_slice(b"+ g ");
        put_uint(b, r.generation);
        b.extend_from_slice(b"\n+ t ");
        put_uint(b, r.expiry);
        b.extend_from_slice(b"\n+ b ");
        let n: u16 = r
            .bins
            .len()
            .try_into()
            .map_err(|_| format!("{} bins is more than the format's 65535", r.bins.len()))?;
        put_uint(b, n);
        b.push(b'\n');
        for bin in &r.bins {
            put_bin(b, &bin.name, &bin.value, compact)?;
        }
        Ok(())
    }

    /// Marks the output as not a complete backup: a `#` line where a record may start makes both
    /// asrestore and as-decode stop with an error instead of restoring a partial backup.
    pub fn poison(&mut self, reason: &str) -> io::Result<()> {
        let reason: String = reason
            .chars()
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        self.buf.extend_from_slice(INCOMPLETE_MARKER);
        self.buf.extend_from_slice(reason.as_bytes());
        self.buf.push(b'\n');
        self.flush()
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Hands everything buffered to the writer and flushes it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }

    /// The writer, e.g. to take what a `Vec` collected after [`AsbWriter::flush`].
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.out)
    }
}

/// Appends the base64 text of `data`.
fn put_b64(out: &mut Vec<u8>, data: &[u8]) {
    let at = out.len();
    out.resize(at + B64.encoded_length(data.len()), 0);
    let _ = B64.encode(data, Out::from_slice(&mut out[at..]));
}

fn fixed8(v: &Value) -> Result<u64, String> {
    v.as_u64().ok_or_else(|| {
        format!(
            "particle type {} needs 8 bytes, has {}",
            v.ptype,
            v.data.len()
        )
    })
}

fn put_key(b: &mut Vec<u8>, key: &Value, compact: bool) -> Result<(), String> {
    match key.ptype {
        particle::INTEGER => {
            b.extend_from_slice(b"I ");
            put_uint(b, fixed8(key)? as i64);
        }
        particle::FLOAT => {
            b.extend_from_slice(b"D ");
            write_g17(b, f64::from_bits(fixed8(key)?));
        }
        particle::STRING => {
            b.extend_from_slice(b"S ");
            put_payload(b, &key.data, true);
        }
        particle::BLOB => {
            b.extend_from_slice(if compact { b"B! " } else { b"B " });
            put_payload(b, &key.data, compact);
        }
        t => return Err(format!("unsupported key type {t}")),
    }
    Ok(())
}

fn put_bin(b: &mut Vec<u8>, name: &[u8], v: &Value, compact: bool) -> Result<(), String> {
    let letter = bin_letter(v.ptype).ok_or_else(|| {
        format!(
            "bin {:?}: unknown particle type {}",
            String::from_utf8_lossy(name),
            v.ptype
        )
    })?;
    b.extend_from_slice(b"- ");
    b.push(letter);
    // The bytes-like types are the ones with a base64 form and a `!` raw form.
    let bytes_like = bytes_particle(letter).is_some();
    if bytes_like && compact {
        b.push(b'!');
    }
    b.push(b' ');
    escape_into(b, name);
    match v.ptype {
        particle::NIL => {}
        particle::INTEGER => {
            b.push(b' ');
            put_uint(b, fixed8(v)? as i64);
        }
        particle::FLOAT => {
            b.push(b' ');
            write_g17(b, f64::from_bits(fixed8(v)?));
        }
        particle::BOOL => {
            let [flag] = v.data.as_ref() else {
                return Err(format!(
                    "boolean particle needs 1 byte, has {}",
                    v.data.len()
                ));
            };
            b.extend_from_slice(if *flag != 0 { b" T" } else { b" F" });
        }
        particle::STRING | particle::GEOJSON => {
            b.push(b' ');
            put_payload(b, &v.data, true);
        }
        _ => {
            b.push(b' ');
            put_payload(b, &v.data, compact);
        }
    }
    b.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    /// Short names take the plain loop, long ones memchr3: the same escaping either way.
    #[test]
    fn escapes_names_short_and_long() {
        for len in [0, 1, 15, 31, 32, 33, 63, 200] {
            for special in [None, Some(b' '), Some(b'\\'), Some(b'\n')] {
                let mut name = vec![b'a'; len];
                let mut want = name.clone();
                if let (Some(c), true) = (special, len > 0) {
                    name[len - 1] = c;
                    want[len - 1] = b'\\';
                    want.push(c);
                }
                let mut out = b"x".to_vec();
                escape_into(&mut out, &name);
                assert_eq!(out[1..], want[..], "{len} bytes, {special:?}");
            }
        }
    }
}
