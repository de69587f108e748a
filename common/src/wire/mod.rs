//! The Aerospike wire protocol, as far as the toolkit speaks it: the 8-byte proto header, info
//! requests, and the message format of reads, writes and scans. Both as-scan (client side) and
//! the test server (server side) use it; records stay raw particles end to end.

pub mod info;
pub mod msg;

pub use msg::{Field, Msg, MsgHeader, MsgWriter, Op};

use crate::record::Value;
use ripemd::{Digest, Ripemd160};
use std::io::{self, Read};
use thiserror::Error;

pub const PROTO_VERSION: u8 = 2;
pub const TYPE_INFO: u8 = 1;
pub const TYPE_ADMIN: u8 = 2;
pub const TYPE_MSG: u8 = 3;
pub const TYPE_MSG_COMPRESSED: u8 = 4;
/// The largest proto body either side accepts (servers cap messages well below this).
pub const MAX_PROTO: u64 = 128 << 20;

/// Message header flags.
pub mod flags {
    pub const INFO1_READ: u8 = 1;
    pub const INFO1_GET_ALL: u8 = 1 << 1;
    pub const INFO1_SHORT_QUERY: u8 = 1 << 2;
    pub const INFO1_NOBINDATA: u8 = 1 << 5;
    pub const INFO2_WRITE: u8 = 1;
    pub const INFO2_DELETE: u8 = 1 << 1;
    pub const INFO2_GENERATION: u8 = 1 << 2;
    pub const INFO2_GENERATION_GT: u8 = 1 << 3;
    pub const INFO2_DURABLE_DELETE: u8 = 1 << 4;
    pub const INFO2_CREATE_ONLY: u8 = 1 << 5;
    pub const INFO2_RESPOND_ALL_OPS: u8 = 1 << 7;
    pub const INFO3_LAST: u8 = 1;
    pub const INFO3_PARTITION_DONE: u8 = 1 << 2;
    pub const INFO3_UPDATE_ONLY: u8 = 1 << 3;
    pub const INFO3_CREATE_OR_REPLACE: u8 = 1 << 4;
    pub const INFO3_REPLACE_ONLY: u8 = 1 << 5;
}

/// Field types of a message.
pub mod field {
    pub const NAMESPACE: u8 = 0;
    pub const SET: u8 = 1;
    pub const KEY: u8 = 2;
    pub const DIGEST: u8 = 4;
    pub const QUERY_ID: u8 = 7;
    pub const SOCKET_TIMEOUT: u8 = 9;
    pub const RECORDS_PER_SECOND: u8 = 10;
    pub const PID_ARRAY: u8 = 11;
    pub const DIGEST_ARRAY: u8 = 12;
    pub const MAX_RECORDS: u8 = 13;
    pub const BVAL_ARRAY: u8 = 15;
    pub const FILTER_EXP: u8 = 43;
}

/// Operation types.
pub mod op {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const CDT_READ: u8 = 3;
    pub const CDT_MODIFY: u8 = 4;
    pub const INCR: u8 = 5;
    pub const APPEND: u8 = 9;
    pub const PREPEND: u8 = 10;
    pub const TOUCH: u8 = 11;
    pub const DELETE: u8 = 14;
}

/// Result codes the toolkit sends or acts on.
pub mod result {
    pub const OK: u8 = 0;
    pub const SERVER_ERROR: u8 = 1;
    pub const KEY_NOT_FOUND: u8 = 2;
    pub const GENERATION: u8 = 3;
    pub const PARAMETER: u8 = 4;
    pub const KEY_EXISTS: u8 = 5;
    pub const TIMEOUT: u8 = 9;
    pub const PARTITION_UNAVAILABLE: u8 = 11;
    pub const UNSUPPORTED_FEATURE: u8 = 16;
    pub const INVALID_NAMESPACE: u8 = 20;
    pub const FILTERED_OUT: u8 = 27;
    pub const NOT_AUTHENTICATED: u8 = 80;
    pub const INVALID_USER: u8 = 60;
    pub const INVALID_CREDENTIAL: u8 = 65;
}

#[derive(Debug, Error)]
pub enum WireError {
    #[error("unsupported protocol version {0} (expected 2)")]
    Version(u8),
    #[error("message of {0} bytes is larger than the protocol allows")]
    TooLarge(u64),
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    #[error("connection closed by the peer")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Appends a proto header for a body of `len` bytes.
pub fn put_proto(out: &mut Vec<u8>, ptype: u8, len: u64) {
    let v = (PROTO_VERSION as u64) << 56 | (ptype as u64) << 48 | len;
    out.extend_from_slice(&v.to_be_bytes());
}

/// Rewrites the proto header at the start of `buf` for the body that follows it.
pub fn seal_proto(buf: &mut [u8], ptype: u8) {
    let len = (buf.len() - 8) as u64;
    let v = (PROTO_VERSION as u64) << 56 | (ptype as u64) << 48 | len;
    buf[..8].copy_from_slice(&v.to_be_bytes());
}

/// Reads one proto (header and body) into `body`; returns its type. A clean end of input
/// before the header is `Closed`.
pub fn read_proto<R: Read>(r: &mut R, body: &mut Vec<u8>) -> Result<u8, WireError> {
    let mut h = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Err(WireError::Closed),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let v = u64::from_be_bytes(h);
    let (version, ptype, len) = ((v >> 56) as u8, (v >> 48) as u8, v & 0xffff_ffff_ffff);
    if version != PROTO_VERSION {
        return Err(WireError::Version(version));
    }
    if len > MAX_PROTO {
        return Err(WireError::TooLarge(len));
    }
    body.clear();
    body.resize(len as usize, 0);
    r.read_exact(body)?;
    Ok(ptype)
}

/// The record digest the server computes: RIPEMD-160 over the set name, the key's particle
/// type and the key's bytes (integers as 8 bytes big-endian).
pub fn digest(set: &[u8], key: &Value) -> [u8; 20] {
    let mut h = Ripemd160::new();
    h.update(set);
    h.update([key.ptype]);
    h.update(&key.data);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::particle;
    use base64_simd::STANDARD;

    #[test]
    fn digests_match_the_format_reference() {
        // docs/asb-format.md#digest: set `demo`, string key `key1`, and integer key 1.
        let d = digest(b"demo", &Value::new(particle::STRING, b"key1".to_vec()));
        assert_eq!(STANDARD.encode_to_string(d), "7JEZLUt/jONdXXjTS8ply6qqyWA=");
        let d = digest(b"demo", &Value::int(1));
        assert_eq!(STANDARD.encode_to_string(d), "t/S4OIni2mfeaD4d9pGaHqzERsg=");
    }

    #[test]
    fn proto_round_trip() {
        let mut buf = Vec::new();
        put_proto(&mut buf, TYPE_INFO, 5);
        buf.extend_from_slice(b"node\n");
        let mut body = Vec::new();
        assert_eq!(read_proto(&mut &buf[..], &mut body).unwrap(), TYPE_INFO);
        assert_eq!(body, b"node\n");
        assert!(matches!(
            read_proto(&mut &b""[..], &mut body),
            Err(WireError::Closed)
        ));
        let mut bad = buf.clone();
        bad[0] = 9;
        assert!(matches!(
            read_proto(&mut &bad[..], &mut body),
            Err(WireError::Version(9))
        ));
    }
}
