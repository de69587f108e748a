//! The framed record stream that connects the tools (documented in `man/as-stream.5`).
//!
//! ```text
//! stream  = magic version frame*            ; the first frame is a header, the last a trailer
//! magic   = 89 41 53 52 0D 0A 1A 0A         ; "\x89ASR\r\n\x1a\n", PNG-style
//! version = u32 little-endian (1)
//! frame   = kind:u8 len:u32le payload[len] crc:u32le   ; crc = CRC32C over kind, len and payload
//! ```
//!
//! Payloads are MessagePack (`rmp-serde`, structs as arrays). A reader can skip or forward a frame
//! without decoding it. A stream that ends before its trailer is truncated; the trailer's counts
//! must match the frames seen, so a lost frame is caught too.

mod reader;
mod record_codec;
mod writer;

pub(crate) use reader::read_full;
pub use reader::{sniff_foreign, Sealed, StreamReader};
pub use writer::{FrameBatch, StreamWriter};

use crate::record::{Record, SIndex, Udf, DIGEST_LEN};
use serde::{Deserialize, Serialize};
use std::io;
use thiserror::Error;

pub const MAGIC: [u8; 8] = *b"\x89ASR\r\n\x1a\n";
pub const VERSION: u32 = 1;
/// Largest payload a frame may carry. Server records are at most 8 MiB; this leaves room for
/// large UDF modules while bounding what a corrupt length field can make a reader buffer.
pub const MAX_FRAME: u32 = 128 << 20;
/// zstd frame magic, to recognise compressed input.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Frame kinds. Kinds 0x80 and above are optional: readers that do not know them skip them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Header = 1,
    SIndex = 2,
    Udf = 3,
    Record = 4,
    PartitionDone = 5,
    Trailer = 6,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Header,
            2 => Kind::SIndex,
            3 => Kind::Udf,
            4 => Kind::Record,
            5 => Kind::PartitionDone,
            6 => Kind::Trailer,
            _ => return None,
        })
    }
}

/// First frame of every stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// Namespace of the backup; `None` only for ASB files that carried no `# namespace` line.
    #[serde(with = "serde_bytes")]
    pub namespace: Option<Vec<u8>>,
    /// Whether this stream starts the backup's first file (`# first-file`).
    pub first_file: bool,
    /// Name and version of the producing tool, e.g. `as-decode 0.1.0`.
    pub producer: String,
    /// Human-readable description of what was backed up.
    pub scope: String,
    /// The ASB made of this stream goes on at the end of a file written before (a resumed
    /// single-file backup): it starts with no header lines. Absent (false) in older streams, and
    /// written only when true or followed by `origin`, so that older readers read every other
    /// stream.
    #[serde(default)]
    pub append: bool,
    /// Where and when a scan read the records (as-scan writes it; a backup's manifest keeps it).
    #[serde(default)]
    pub origin: Option<Origin>,
}

/// What a scan says of itself in its stream's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// When the scan started, UTC RFC 3339 on the scanning host's clock.
    pub started: String,
    pub cluster: String,
    pub nodes: Vec<String>,
    /// The scope as data (`scope` is its text).
    pub scope: crate::scope::Scope,
}

/// By position, as the frames' MessagePack has it: the optional fields only when they carry
/// something, so a stream without them has the bytes it always had.
impl Serialize for Header {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let len = match (&self.origin, self.append) {
            (Some(_), _) => 6,
            (None, true) => 5,
            (None, false) => 4,
        };
        let mut st = s.serialize_struct("Header", len)?;
        st.serialize_field(
            "namespace",
            &self.namespace.as_deref().map(serde_bytes::Bytes::new),
        )?;
        st.serialize_field("first_file", &self.first_file)?;
        st.serialize_field("producer", &self.producer)?;
        st.serialize_field("scope", &self.scope)?;
        if len > 4 {
            st.serialize_field("append", &self.append)?;
        }
        if let Some(o) = &self.origin {
            st.serialize_field("origin", o)?;
        }
        st.end()
    }
}

/// Status of a partition in a `PartitionDone` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionStatus {
    /// Every record of the partition precedes this frame.
    Complete,
    /// The partition's records up to and including `last_digest` precede this frame; a resumed
    /// scan continues after that digest.
    Partial,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDone {
    pub partition: u16,
    pub status: PartitionStatus,
    #[serde(with = "serde_bytes")]
    pub last_digest: Option<[u8; DIGEST_LEN]>,
}

/// Last frame of a complete stream: the number of frames of each kind that came before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub records: u64,
    pub sindexes: u64,
    pub udfs: u64,
    pub partitions_done: u64,
}

/// A decoded frame, borrowing from the reader's buffer.
#[derive(Debug)]
pub enum Frame<'a> {
    SIndex(SIndex),
    Udf(Udf<'a>),
    Record(Record<'a>),
    PartitionDone(PartitionDone),
}

#[derive(Debug, Error)]
pub enum StreamError {
    #[error("input is empty: expected a record stream (did the producer fail?)")]
    Empty,
    #[error("input is zstd-compressed: run as-zstd -d first")]
    Zstd,
    #[error("input is ASB text, not a record stream: run as-decode first")]
    AsbText,
    #[error("input is not a record stream (bad magic)")]
    BadMagic,
    #[error("record stream version {0} is not supported (this tool reads version {VERSION})")]
    Version(u32),
    #[error("record stream is truncated: {0}")]
    Truncated(String),
    #[error("record stream is corrupt at frame {frame} (byte offset {offset}): {what}")]
    Corrupt {
        frame: u64,
        offset: u64,
        what: String,
    },
    #[error("frame too large for the record stream: {0} bytes (at most {MAX_FRAME})")]
    TooLarge(usize),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Counts frames as they are written or read, to fill and check the trailer.
#[derive(Debug, Default, Clone, Copy)]
struct Counts(Trailer);

impl Counts {
    fn add(&mut self, kind: Kind) {
        Counts::add_to(&mut self.0, kind)
    }

    fn add_to(t: &mut Trailer, kind: Kind) {
        match kind {
            Kind::Record => t.records += 1,
            Kind::SIndex => t.sindexes += 1,
            Kind::Udf => t.udfs += 1,
            Kind::PartitionDone => t.partitions_done += 1,
            Kind::Header | Kind::Trailer => {}
        }
    }
}

#[cfg(test)]
mod tests;
