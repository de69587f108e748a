//! Messages (proto type 3): a 22-byte header, fields, then operations.
//!
//! ```text
//! header = 22 info1 info2 info3 info4 result:u8 generation:u32 ttl:u32 timeout:u32
//!          n_fields:u16 n_ops:u16                     (big-endian)
//! field  = size:u32 (type byte + data) type:u8 data
//! op     = size:u32 (4 + name + value) op:u8 particle:u8 version:u8 name_len:u8 name value
//! ```
//! A scan reply packs many messages into one proto body; [`Msg::parse`] reads one and says how
//! many bytes it took.

use super::{put_proto, seal_proto, WireError, TYPE_MSG};

pub const HEADER_SIZE: usize = 22;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgHeader {
    pub info1: u8,
    pub info2: u8,
    pub info3: u8,
    pub info4: u8,
    pub result: u8,
    pub generation: u32,
    /// In requests the TTL to set; in replies the record's void time (seconds since 2010).
    pub ttl: u32,
    pub timeout: u32,
    pub n_fields: u16,
    pub n_ops: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub ftype: u8,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op<'a> {
    pub op: u8,
    pub ptype: u8,
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// A message borrowing from the buffer it was parsed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Msg<'a> {
    pub header: MsgHeader,
    pub fields: Vec<Field<'a>>,
    pub ops: Vec<Op<'a>>,
}

fn take<'a>(b: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
    if b.len() < n {
        return Err(WireError::Malformed(what));
    }
    let (v, rest) = b.split_at(n);
    *b = rest;
    Ok(v)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

impl<'a> Msg<'a> {
    /// Parses the message at the start of `buf`; returns it and the number of bytes it took.
    pub fn parse(buf: &'a [u8]) -> Result<(Msg<'a>, usize), WireError> {
        let mut m = Msg::default();
        let used = m.parse_into(buf)?;
        Ok((m, used))
    }

    /// [`Msg::parse`] into this message, reusing its lists (a scan reads a reply's records
    /// into one message, without two allocations each). After an error it holds nothing
    /// meaningful.
    pub fn parse_into(&mut self, buf: &'a [u8]) -> Result<usize, WireError> {
        let mut b = buf;
        let h = take(&mut b, HEADER_SIZE, "short message header")?;
        if h[0] as usize != HEADER_SIZE {
            return Err(WireError::Malformed("message header size is not 22"));
        }
        let header = MsgHeader {
            info1: h[1],
            info2: h[2],
            info3: h[3],
            info4: h[4],
            result: h[5],
            generation: be32(&h[6..]),
            ttl: be32(&h[10..]),
            timeout: be32(&h[14..]),
            n_fields: u16::from_be_bytes([h[18], h[19]]),
            n_ops: u16::from_be_bytes([h[20], h[21]]),
        };
        let fields = &mut self.fields;
        fields.clear();
        fields.reserve(header.n_fields as usize);
        for _ in 0..header.n_fields {
            let size = be32(take(&mut b, 4, "short field header")?) as usize;
            if size == 0 {
                return Err(WireError::Malformed("field of size 0"));
            }
            let f = take(&mut b, size, "field past the end of the message")?;
            fields.push(Field {
                ftype: f[0],
                data: &f[1..],
            });
        }
        let ops = &mut self.ops;
        ops.clear();
        ops.reserve(header.n_ops as usize);
        for _ in 0..header.n_ops {
            let size = be32(take(&mut b, 4, "short operation header")?) as usize;
            let o = take(&mut b, size, "operation past the end of the message")?;
            if o.len() < 4 || o.len() < 4 + o[3] as usize {
                return Err(WireError::Malformed("operation shorter than its header"));
            }
            let name_len = o[3] as usize;
            ops.push(Op {
                op: o[0],
                ptype: o[1],
                name: &o[4..4 + name_len],
                value: &o[4 + name_len..],
            });
        }
        self.header = header;
        Ok(buf.len() - b.len())
    }

    pub fn field(&self, ftype: u8) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|f| f.ftype == ftype)
            .map(|f| f.data)
    }
}

/// A field: its size (type byte included), type, and the concatenation of `parts` (e.g. a
/// key: particle type, bytes). Also the encoding of a batch row's fields.
pub fn put_field(b: &mut Vec<u8>, ftype: u8, parts: &[&[u8]]) {
    put_field_header(b, ftype, parts.iter().map(|p| p.len()).sum());
    for p in parts {
        b.extend_from_slice(p);
    }
}

/// The start of a field of `len` bytes of data: its size (type byte included) and type.
fn put_field_header(b: &mut Vec<u8>, ftype: u8, len: usize) {
    b.extend_from_slice(&(len as u32 + 1).to_be_bytes());
    b.push(ftype);
}

/// An op: size, op code, particle type, flags 0, name length, name, value.
pub fn put_op(b: &mut Vec<u8>, op: u8, ptype: u8, name: &[u8], value: &[u8]) {
    let size = 4 + name.len() + value.len();
    b.extend_from_slice(&(size as u32).to_be_bytes());
    b.extend_from_slice(&[op, ptype, 0, name.len() as u8]);
    b.extend_from_slice(name);
    b.extend_from_slice(value);
}

/// Builds messages into a buffer: one message in a proto (`begin` … `finish`), or several
/// messages in one proto body (`begin_batch`, `append`… , `finish`), as scan replies are sent.
#[derive(Default)]
pub struct MsgWriter {
    pub buf: Vec<u8>,
    /// Where the current message's header starts, to patch its counts.
    at: usize,
}

impl MsgWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer whose buffer holds `bytes` before it grows.
    pub fn with_capacity(bytes: usize) -> Self {
        MsgWriter {
            buf: Vec::with_capacity(bytes),
            at: 0,
        }
    }

    /// Starts a proto holding messages.
    pub fn begin_proto(&mut self) {
        self.buf.clear();
        put_proto(&mut self.buf, TYPE_MSG, 0);
    }

    /// Starts a message with this header; field and op counts are filled in as they are added.
    pub fn message(&mut self, h: &MsgHeader) {
        self.at = self.buf.len();
        let b = &mut self.buf;
        b.extend_from_slice(&[
            HEADER_SIZE as u8,
            h.info1,
            h.info2,
            h.info3,
            h.info4,
            h.result,
        ]);
        b.extend_from_slice(&h.generation.to_be_bytes());
        b.extend_from_slice(&h.ttl.to_be_bytes());
        b.extend_from_slice(&h.timeout.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
    }

    fn bump(&mut self, offset: usize) {
        let at = self.at + offset;
        let n = u16::from_be_bytes([self.buf[at], self.buf[at + 1]]) + 1;
        self.buf[at..at + 2].copy_from_slice(&n.to_be_bytes());
    }

    pub fn field(&mut self, ftype: u8, data: &[u8]) {
        self.field_parts(ftype, &[data]);
    }

    /// A field whose data is the concatenation of `parts` (e.g. a key: particle type, bytes).
    pub fn field_parts(&mut self, ftype: u8, parts: &[&[u8]]) {
        put_field(&mut self.buf, ftype, parts);
        self.bump(18);
    }

    /// A field of `len` bytes, which `data` appends to the buffer itself (no copy of its own).
    pub fn field_with(&mut self, ftype: u8, len: usize, data: impl FnOnce(&mut Vec<u8>)) {
        put_field_header(&mut self.buf, ftype, len);
        let at = self.buf.len();
        data(&mut self.buf);
        assert_eq!(self.buf.len() - at, len, "the field's length as announced");
        self.bump(18);
    }

    pub fn op(&mut self, op: u8, ptype: u8, name: &[u8], value: &[u8]) {
        put_op(&mut self.buf, op, ptype, name, value);
        self.bump(20);
    }

    /// Fills in the proto size; the buffer is then ready to send.
    pub fn finish(&mut self) -> &[u8] {
        seal_proto(&mut self.buf, TYPE_MSG);
        &self.buf
    }

    /// The request, its proto size filled in.
    pub fn into_request(mut self) -> Vec<u8> {
        self.finish();
        self.buf
    }

    /// Bytes in the proto body so far.
    pub fn body_len(&self) -> usize {
        self.buf.len().saturating_sub(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse_several_messages() {
        let mut w = MsgWriter::new();
        w.begin_proto();
        let h = MsgHeader {
            info1: 1,
            generation: 7,
            ttl: 12345,
            ..Default::default()
        };
        w.message(&h);
        w.field(0, b"test");
        w.field_parts(2, &[&[3], b"key"]);
        w.op(1, 3, b"bin name", b"value");
        w.message(&MsgHeader {
            info3: 1,
            ..Default::default()
        });
        let bytes = w.finish().to_vec();
        let body = &bytes[8..];
        let (m, used) = Msg::parse(body).unwrap();
        assert_eq!(m.header.generation, 7);
        assert_eq!(m.header.ttl, 12345);
        assert_eq!(m.header.n_fields, 2);
        assert_eq!(m.field(0), Some(&b"test"[..]));
        assert_eq!(m.field(2), Some(&b"\x03key"[..]));
        assert_eq!(m.ops[0].name, b"bin name");
        assert_eq!(m.ops[0].value, b"value");
        let (last, used2) = Msg::parse(&body[used..]).unwrap();
        assert_eq!(last.header.info3, 1);
        assert_eq!(used + used2, body.len());
        for n in 0..used {
            assert!(Msg::parse(&body[..n]).is_err(), "cut at {n}");
        }
    }
}
