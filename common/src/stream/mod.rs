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

mod record_codec;

use crate::record::{Record, SIndex, Udf, DIGEST_LEN};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
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

/// Writes a record stream. Call [`StreamWriter::finish`] to write the trailer; a writer dropped
/// without it leaves a truncated stream, which every reader rejects.
pub struct StreamWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    counts: Counts,
}

impl<W: Write> StreamWriter<W> {
    pub fn new(mut out: W, header: &Header) -> Result<Self, StreamError> {
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        let mut w = StreamWriter {
            out,
            buf: Vec::with_capacity(4096),
            counts: Counts::default(),
        };
        w.write(Kind::Header, header)?;
        Ok(w)
    }

    fn write<T: Serialize + ?Sized>(&mut self, kind: Kind, v: &T) -> Result<(), StreamError> {
        self.buf.clear();
        self.buf.extend_from_slice(&[kind as u8, 0, 0, 0, 0]);
        rmp_serde::encode::write(&mut self.buf, v)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.seal(kind)
    }

    /// Seals the frame in `buf` and writes it.
    fn seal(&mut self, kind: Kind) -> Result<(), StreamError> {
        seal_frame(&mut self.buf, 0)?;
        self.out.write_all(&self.buf)?;
        self.counts.add(kind);
        Ok(())
    }

    /// Writes frames sealed elsewhere (by worker threads), with what they hold.
    pub fn batch(&mut self, b: &FrameBatch) -> Result<(), StreamError> {
        self.out.write_all(&b.bytes)?;
        let (c, t) = (&mut self.counts.0, &b.counts);
        c.records += t.records;
        c.sindexes += t.sindexes;
        c.udfs += t.udfs;
        c.partitions_done += t.partitions_done;
        Ok(())
    }

    pub fn record(&mut self, r: &Record) -> Result<(), StreamError> {
        self.buf.clear();
        self.buf
            .extend_from_slice(&[Kind::Record as u8, 0, 0, 0, 0]);
        record_codec::write(&mut self.buf, r);
        self.seal(Kind::Record)
    }
    pub fn sindex(&mut self, s: &SIndex) -> Result<(), StreamError> {
        self.write(Kind::SIndex, s)
    }
    pub fn udf(&mut self, u: &Udf) -> Result<(), StreamError> {
        self.write(Kind::Udf, u)
    }
    pub fn partition_done(&mut self, p: &PartitionDone) -> Result<(), StreamError> {
        self.write(Kind::PartitionDone, p)
    }
    pub fn frame(&mut self, f: &Frame) -> Result<(), StreamError> {
        match f {
            Frame::SIndex(s) => self.sindex(s),
            Frame::Udf(u) => self.udf(u),
            Frame::Record(r) => self.record(r),
            Frame::PartitionDone(p) => self.partition_done(p),
        }
    }

    /// What has been written so far.
    pub fn counts(&self) -> Trailer {
        self.counts.0
    }

    /// Writes the trailer and flushes; only now is the stream complete.
    pub fn finish(mut self) -> Result<(W, Trailer), StreamError> {
        let t = self.counts.0;
        self.write(Kind::Trailer, &t)?;
        self.out.flush()?;
        Ok((self.out, t))
    }
}

/// Fills in the length of the frame that starts at `start` in `buf` (kind byte, four length
/// bytes, payload) and appends its checksum.
fn seal_frame(buf: &mut Vec<u8>, start: usize) -> Result<(), StreamError> {
    let len = buf.len() - start - 5;
    if len > MAX_FRAME as usize {
        buf.truncate(start);
        return Err(StreamError::TooLarge(len));
    }
    buf[start + 1..start + 5].copy_from_slice(&(len as u32).to_le_bytes());
    let crc = crc32c::crc32c(&buf[start..]);
    buf.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A frame as read (its checksum verified, unless [`StreamReader::trust_checksums`]), for stages
/// that route frames without decoding them
/// ([`StreamReader::next_sealed`], [`FrameBatch::sealed`]).
pub struct Sealed<'a> {
    /// Kind, length and payload.
    frame: &'a [u8],
    crc: u32,
}

impl Sealed<'_> {
    fn payload(&self) -> &[u8] {
        &self.frame[5..]
    }

    /// The digest of a record frame, read without decoding the rest of the record.
    pub fn record_digest(&self) -> Option<[u8; DIGEST_LEN]> {
        record_codec::digest(self.payload())
    }

    /// The partition-done marker of a frame.
    pub fn partition_done(&self) -> Option<PartitionDone> {
        rmp_serde::from_slice(self.payload()).ok()
    }

    /// The name of the index or UDF module a frame of `kind` defines (None for other frames).
    pub fn metadata_name(&self, kind: Kind) -> Option<String> {
        let name = match kind {
            Kind::SIndex => rmp_serde::from_slice::<SIndex>(self.payload()).ok()?.name,
            Kind::Udf => rmp_serde::from_slice::<Udf>(self.payload())
                .ok()?
                .name
                .to_vec(),
            _ => return None,
        };
        Some(String::from_utf8_lossy(&name).into_owned())
    }
}

/// Complete frames built away from the writer (e.g. by scan workers) and handed to
/// [`StreamWriter::batch`] in one piece, with the counts the trailer needs.
#[derive(Debug, Default)]
pub struct FrameBatch {
    pub bytes: Vec<u8>,
    pub counts: Trailer,
}

impl crate::spares::Reuse for FrameBatch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.counts = Trailer::default();
    }
}

impl FrameBatch {
    pub fn record(&mut self, r: &Record) -> Result<(), StreamError> {
        let start = self.bytes.len();
        self.bytes
            .extend_from_slice(&[Kind::Record as u8, 0, 0, 0, 0]);
        record_codec::write(&mut self.bytes, r);
        seal_frame(&mut self.bytes, start)?;
        self.counts.records += 1;
        Ok(())
    }

    pub fn partition_done(&mut self, p: &PartitionDone) -> Result<(), StreamError> {
        let start = self.bytes.len();
        self.bytes
            .extend_from_slice(&[Kind::PartitionDone as u8, 0, 0, 0, 0]);
        rmp_serde::encode::write(&mut self.bytes, p)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        seal_frame(&mut self.bytes, start)?;
        self.counts.partitions_done += 1;
        Ok(())
    }

    /// Adds a frame as read (from [`StreamReader::next_sealed`]): sealed again with the
    /// checksum already verified, not computed a second time.
    pub fn sealed(&mut self, kind: Kind, f: &Sealed) {
        self.bytes.extend_from_slice(f.frame);
        self.bytes.extend_from_slice(&f.crc.to_le_bytes());
        Counts::add_to(&mut self.counts, kind);
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// Input read ahead at a time: frames are taken where they lie in it, not copied out one by one
/// (the caller's input needs no buffer of its own).
const READ_AHEAD: usize = 256 << 10;

/// Reads a record stream, checking magic, version, checksums, frame order and the trailer.
pub struct StreamReader<R: Read> {
    input: R,
    header: Header,
    /// Input read: `buf[pos..end]` is not taken yet. The frame read last is
    /// `buf[at..at + len]` (kind, length and payload, without its checksum).
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    at: usize,
    len: usize,
    /// The checksum of the frame in `buf`, as read (and verified, unless trusted).
    crc: u32,
    /// Whether checksums are verified (see [`StreamReader::trust_checksums`]).
    verify: bool,
    counts: Counts,
    trailer: Option<Trailer>,
    offset: u64,
    frames: u64,
}

/// Reads as much of `buf` as the input has; returns how many bytes were read.
pub(crate) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Names what the first bytes of an input look like when they are not a record stream.
pub fn sniff_foreign(start: &[u8]) -> StreamError {
    if start.is_empty() {
        StreamError::Empty
    } else if start.starts_with(&ZSTD_MAGIC) {
        StreamError::Zstd
    } else if start.starts_with(b"Version ") {
        StreamError::AsbText
    } else {
        StreamError::BadMagic
    }
}

impl<R: Read> StreamReader<R> {
    /// Opens a stream and reads its header.
    pub fn new(input: R) -> Result<Self, StreamError> {
        let mut r = StreamReader {
            input,
            header: Header {
                namespace: None,
                first_file: false,
                producer: String::new(),
                scope: String::new(),
                append: false,
                origin: None,
            },
            buf: Vec::new(),
            pos: 0,
            end: 0,
            at: 0,
            len: 0,
            crc: 0,
            verify: true,
            counts: Counts::default(),
            trailer: None,
            offset: 12,
            frames: 0,
        };
        let n = r.fill(12)?;
        let pre = &r.buf[..n.min(12)];
        if n < 8 || pre[..8] != MAGIC {
            return Err(sniff_foreign(pre));
        }
        if n < 12 {
            return Err(StreamError::Truncated(
                "input ends inside the stream preamble".into(),
            ));
        }
        let version = u32::from_le_bytes(pre[8..12].try_into().unwrap());
        if version != VERSION {
            return Err(StreamError::Version(version));
        }
        r.pos = 12;
        match r.raw_frame()? {
            Some(Kind::Header) => r.header = r.decode()?,
            Some(k) => return Err(r.corrupt(format!("first frame is {k:?}, expected the header"))),
            None => {
                return Err(StreamError::Truncated(
                    "input ends before the stream header".into(),
                ))
            }
        }
        Ok(r)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// From now on, frames are taken as their checksums say without computing them again: for
    /// a stream handed over in memory by a stage that has verified every frame itself (as-split
    /// to its own encoding threads). Order, counts and the trailer are still checked.
    pub fn trust_checksums(&mut self) {
        self.verify = false;
    }

    /// The trailer, once [`StreamReader::next_frame`] has returned `None`.
    pub fn trailer(&self) -> Option<Trailer> {
        self.trailer
    }

    fn corrupt(&self, what: String) -> StreamError {
        StreamError::Corrupt {
            frame: self.frames,
            offset: self.offset,
            what,
        }
    }

    /// The payload of the frame read last.
    fn payload(&self) -> &[u8] {
        &self.buf[self.at + 5..self.at + self.len]
    }

    fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, StreamError> {
        rmp_serde::from_slice(self.payload()).map_err(|e| self.corrupt(format!("bad payload: {e}")))
    }

    /// Reads the next frame into `buf[at..at + len]` (kind, length, payload), checking its
    /// CRC. Returns `None` at a clean end of input. After an error the reader is not read
    /// again: the frame that failed is not skipped.
    fn raw_frame(&mut self) -> Result<Option<Kind>, StreamError> {
        loop {
            self.frames += 1;
            self.len = 0;
            let n = self.fill(5)?;
            if n == 0 {
                return Ok(None);
            }
            if n < 5 {
                return Err(StreamError::Truncated(format!(
                    "input ends inside frame {} (byte offset {})",
                    self.frames, self.offset
                )));
            }
            let p = self.pos;
            let len = u32::from_le_bytes(self.buf[p + 1..p + 5].try_into().unwrap());
            if len > MAX_FRAME {
                return Err(self.corrupt(format!("frame length {len} is larger than {MAX_FRAME}")));
            }
            let want = 5 + len as usize + 4;
            let n = self.fill(want)?;
            if n < want {
                return Err(StreamError::Truncated(format!(
                    "input ends inside frame {} (byte offset {}): {n} of {want} bytes",
                    self.frames, self.offset,
                )));
            }
            // (The frame may have moved to the front of the buffer.)
            let (at, body) = (self.pos, 5 + len as usize);
            let crc = u32::from_le_bytes(self.buf[at + body..at + want].try_into().unwrap());
            if self.verify && crc32c::crc32c(&self.buf[at..at + body]) != crc {
                return Err(self.corrupt("checksum mismatch".into()));
            }
            self.crc = crc;
            self.at = at;
            self.len = body;
            self.pos += want;
            let kind_byte = self.buf[at];
            self.offset += want as u64;
            match Kind::from_u8(kind_byte) {
                Some(k) => return Ok(Some(k)),
                None if kind_byte >= 0x80 => continue, // optional frame from a newer writer
                None => return Err(self.corrupt(format!("unknown frame kind {kind_byte}"))),
            }
        }
    }

    /// Makes `buf[pos..end]` hold at least `n` bytes (fewer only at the end of the input),
    /// moving what it holds to the front first when it has to read; returns how many it holds.
    /// `buf` doubles from 4 KiB to the read-ahead as it is read into (a short stream, as a
    /// batch of as-verify's scan, is not given 256 KiB to zero), and grows for a frame larger
    /// than it by at most 1 MiB ahead of the data actually read (never by what a length field
    /// claims); it stays grown, so that it is not zeroed again.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.end - self.pos >= n {
            return Ok(self.end - self.pos);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.buf.len() < READ_AHEAD {
            let size = (2 * self.buf.len()).clamp(4 << 10, READ_AHEAD);
            self.buf.resize(size, 0);
        }
        while self.end < n {
            if self.end == self.buf.len() {
                let grow = (n - self.end).min(1 << 20);
                self.buf.resize(self.end + grow, 0);
            }
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end)
    }

    /// Reads the next frame, counting it; `None` after a valid trailer at the end of the input.
    fn counted_frame(&mut self) -> Result<Option<Kind>, StreamError> {
        if self.trailer.is_some() {
            return Ok(None);
        }
        let kind = match self.raw_frame()? {
            Some(k) => k,
            None => {
                let c = self.counts.0;
                return Err(StreamError::Truncated(format!(
                    "stream ends without its trailer after {} record(s): the producer did not finish",
                    c.records
                )));
            }
        };
        self.counts.add(kind);
        match kind {
            Kind::Header => Err(self.corrupt("a second stream header".into())),
            Kind::Trailer => {
                let t: Trailer = self.decode()?;
                if t != self.counts.0 {
                    return Err(self.corrupt(format!(
                        "trailer counts {t:?} do not match the frames read {:?}",
                        self.counts.0
                    )));
                }
                if self.fill(1)? != 0 {
                    return Err(self.corrupt("data after the trailer".into()));
                }
                self.trailer = Some(t);
                Ok(None)
            }
            k => Ok(Some(k)),
        }
    }

    /// The next frame undecoded, for stages that route frames ([`FrameBatch::sealed`]);
    /// `None` after a valid trailer.
    pub fn next_sealed(&mut self) -> Result<Option<(Kind, Sealed<'_>)>, StreamError> {
        let Some(kind) = self.counted_frame()? else {
            return Ok(None);
        };
        let f = Sealed {
            frame: &self.buf[self.at..self.at + self.len],
            crc: self.crc,
        };
        Ok(Some((kind, f)))
    }

    /// The next frame, or `None` after a valid trailer at the end of the input.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, StreamError> {
        let Some(kind) = self.counted_frame()? else {
            return Ok(None);
        };
        Ok(Some(match kind {
            Kind::Record => match record_codec::read(self.payload()) {
                Ok(r) => Frame::Record(r),
                Err(field) => return Err(self.corrupt(format!("malformed record ({field})"))),
            },
            Kind::SIndex => Frame::SIndex(self.decode()?),
            Kind::Udf => Frame::Udf(self.decode()?),
            Kind::PartitionDone => Frame::PartitionDone(self.decode()?),
            Kind::Header | Kind::Trailer => unreachable!("handled by counted_frame"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_is_written_only_when_true() {
        let mut h = Header {
            namespace: Some(b"ns".to_vec()),
            first_file: true,
            producer: "t".into(),
            scope: "s".into(),
            append: false,
            origin: None,
        };
        assert_eq!(rmp_serde::to_vec(&h).unwrap()[0], 0x94, "fixarray of 4");
        h.append = true;
        let b = rmp_serde::to_vec(&h).unwrap();
        assert_eq!(b[0], 0x95);
        assert!(rmp_serde::from_slice::<Header>(&b).unwrap().append);
        h.append = false;
        h.origin = Some(Origin {
            started: "2026-12-06T00:00:00.000Z".into(),
            cluster: "c".into(),
            nodes: vec!["BB9".into()],
            scope: crate::scope::Scope::default(),
        });
        let b = rmp_serde::to_vec(&h).unwrap();
        assert_eq!(b[0], 0x96);
        assert_eq!(rmp_serde::from_slice::<Header>(&b).unwrap(), h);
    }

    #[test]
    fn headers_without_append_still_read() {
        // A header as streams before `append` was added wrote it: four fields.
        let old = rmp_serde::to_vec(&(
            Some(serde_bytes::ByteBuf::from(b"ns".to_vec())),
            true,
            "as-scan 0.1.0",
            "namespace=ns",
        ))
        .unwrap();
        let h: Header = rmp_serde::from_slice(&old).unwrap();
        assert!(h.first_file && !h.append);
        assert_eq!(h.namespace.as_deref(), Some(&b"ns"[..]));
    }

    fn header() -> Header {
        Header {
            namespace: Some(b"test".to_vec()),
            first_file: true,
            producer: "t".into(),
            scope: "s".into(),
            append: false,
            origin: None,
        }
    }

    /// Records of every kind, large ones among them (300 KiB first, 3 MiB third: the reader's
    /// buffer grows past its read-ahead, and more than 1 MiB at once), as a stream.
    fn records_and_stream() -> (Vec<Record<'static>>, Vec<u8>) {
        let mut g = crate::gen::Generator::new(7, b"test");
        let mut records: Vec<Record<'static>> = (0..50).map(|_| g.record()).collect();
        // Larger than the reader's read-ahead, and than the most it grows by at a time.
        for (i, size) in [(0, 300 << 10), (2, 3 << 20)] {
            records[i].bins.push(crate::record::Bin {
                name: std::borrow::Cow::Borrowed(b"big"),
                value: crate::record::Value::new(crate::record::particle::BLOB, vec![7u8; size]),
            });
        }
        let mut w = StreamWriter::new(Vec::new(), &header()).unwrap();
        for r in &records {
            w.record(r).unwrap();
        }
        (records, w.finish().unwrap().0)
    }

    #[test]
    fn frames_of_any_size_in_turn() {
        let (records, bytes) = records_and_stream();
        let mut r = StreamReader::new(&bytes[..]).unwrap();
        for want in &records {
            match r.next_frame().unwrap() {
                Some(Frame::Record(got)) => assert_eq!(&got, want),
                other => panic!("{other:?}"),
            }
        }
        assert!(r.next_frame().unwrap().is_none());
    }

    /// Hands its bytes out a few at a time (1 to `.2` a read), as a pipe may.
    struct Dribble<'a>(&'a [u8], usize, usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = self.1.wrapping_mul(31).wrapping_add(7);
            let k = (self.1 % self.2 + 1).min(buf.len()).min(self.0.len());
            buf[..k].copy_from_slice(&self.0[..k]);
            self.0 = &self.0[k..];
            Ok(k)
        }
    }

    #[test]
    fn frames_read_alike_in_small_reads_and_cut_anywhere() {
        let (records, bytes) = records_and_stream();
        let mut r = StreamReader::new(Dribble(&bytes, 0, 5000)).unwrap();
        for want in &records {
            match r.next_frame().unwrap() {
                Some(Frame::Record(got)) => assert_eq!(&got, want),
                other => panic!("{other:?}"),
            }
        }
        assert!(r.next_frame().unwrap().is_none());
        // Cut inside the third record (3 MiB): how much of it there was, and how much it needs.
        let mut r = StreamReader::new(Dribble(&bytes, 0, 5000)).unwrap();
        r.next_frame().unwrap();
        r.next_frame().unwrap();
        let at = r.offset as usize;
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        let cut = &bytes[..at + (2 << 20)];
        let mut r = StreamReader::new(Dribble(cut, 0, 5000)).unwrap();
        r.next_frame().unwrap();
        r.next_frame().unwrap();
        let err = r.next_frame().unwrap_err().to_string();
        let want = format!(
            "input ends inside frame 4 (byte offset {at}): {} of {} bytes",
            2 << 20,
            len + 9
        );
        assert!(err.contains(&want), "{err}");
        // A byte after the trailer, read ahead with it or in a read of its own.
        let mut more = bytes.clone();
        more.push(0);
        for err in [
            drain_err(StreamReader::new(&more[..])),
            drain_err(StreamReader::new(Dribble(&more, 0, 5000))),
        ] {
            assert!(err.contains("data after the trailer"), "{err}");
        }
    }

    /// How reading a whole stream ends: its error, or "ok".
    fn drain_err<R: Read>(r: Result<StreamReader<R>, StreamError>) -> String {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => return e.to_string(),
        };
        loop {
            match r.next_sealed() {
                Ok(Some(_)) => {}
                Ok(None) => return "ok".into(),
                Err(e) => return e.to_string(),
            }
        }
    }

    #[test]
    fn every_cut_fails_alike_whatever_the_reads() {
        let mut g = crate::gen::Generator::new(3, b"test");
        let mut w = StreamWriter::new(Vec::new(), &header()).unwrap();
        for _ in 0..3 {
            w.record(&g.record()).unwrap();
        }
        let bytes = w.finish().unwrap().0;
        assert_eq!(drain_err(StreamReader::new(Dribble(&bytes, 0, 5000))), "ok");
        for end in 0..bytes.len() {
            let cut = &bytes[..end];
            let whole = drain_err(StreamReader::new(cut));
            assert_ne!(whole, "ok", "cut at {end}");
            for (seed, most) in [(0, 1), (1, 7), (2, 100)] {
                let dribbled = drain_err(StreamReader::new(Dribble(cut, seed, most)));
                assert_eq!(dribbled, whole, "cut at {end}");
            }
        }
    }

    #[test]
    fn sealed_frames_are_the_bytes_read() {
        let (records, bytes) = records_and_stream();
        let mut r = StreamReader::new(&bytes[..]).unwrap();
        let mut batch = FrameBatch::default();
        let mut digests = Vec::new();
        while let Some((kind, f)) = r.next_sealed().unwrap() {
            digests.push(f.record_digest().unwrap());
            batch.sealed(kind, &f);
        }
        let want: Vec<_> = records.iter().map(|r| r.digest).collect();
        assert_eq!(digests, want);
        assert_eq!(batch.counts.records, records.len() as u64);
        // The record frames, byte for byte: what follows the header up to the trailer.
        let mut again = StreamWriter::new(Vec::new(), &header()).unwrap();
        let start = again.out.len();
        again.batch(&batch).unwrap();
        let (out, _) = again.finish().unwrap();
        assert_eq!(out, bytes);
        assert_eq!(&out[start..start + batch.len()], &batch.bytes[..]);
    }

    #[test]
    fn optional_frames_of_newer_writers_are_skipped() {
        let (records, bytes) = records_and_stream();
        // A frame of kind 0x80 (optional) right after the header.
        let mut r = StreamReader::new(&bytes[..]).unwrap();
        let after_header = r.offset as usize;
        let mut optional = vec![0x80, 0, 0, 0, 0, 1, 2, 3];
        seal_frame(&mut optional, 0).unwrap();
        let mut with = bytes[..after_header].to_vec();
        with.extend_from_slice(&optional);
        with.extend_from_slice(&bytes[after_header..]);
        r = StreamReader::new(&with[..]).unwrap();
        let mut n = 0;
        while let Some(f) = r.next_frame().unwrap() {
            assert!(matches!(f, Frame::Record(_)));
            n += 1;
        }
        assert_eq!(n, records.len());
    }

    #[test]
    fn trusted_checksums_are_not_computed_but_the_rest_is_checked() {
        let (_, bytes) = records_and_stream();
        let r = StreamReader::new(&bytes[..]).unwrap();
        // The first record frame's checksum, spoiled.
        let first = r.offset as usize;
        let len = u32::from_le_bytes(bytes[first + 1..first + 5].try_into().unwrap()) as usize;
        let mut bad = bytes.clone();
        bad[first + 5 + len] ^= 0xff;
        let drain = |mut r: StreamReader<&[u8]>| -> Result<u64, StreamError> {
            let mut n = 0;
            while r.next_frame()?.is_some() {
                n += 1;
            }
            Ok(n)
        };
        let err = drain(StreamReader::new(&bad[..]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        let mut trusting = StreamReader::new(&bad[..]).unwrap();
        trusting.trust_checksums();
        assert_eq!(drain(trusting).unwrap(), 50);
        // Cut before its trailer: still truncated.
        let mut cut = StreamReader::new(&bad[..first + 5 + len + 4]).unwrap();
        cut.trust_checksums();
        assert!(matches!(drain(cut), Err(StreamError::Truncated(_))));
    }

    /// An index without an expression is the 7-element array older readers know; one with an
    /// expression has it as an 8th element, and both read back.
    #[test]
    fn index_expressions_only_when_there_is_one() {
        let mut s = SIndex {
            namespace: b"test".to_vec(),
            set: None,
            name: b"i".to_vec(),
            index_type: crate::record::IndexType::Default,
            bin: b"b".to_vec(),
            data_type: crate::record::IndexDataType::Numeric,
            context: None,
            expression: None,
        };
        let plain = rmp_serde::to_vec(&s).unwrap();
        assert_eq!(plain[0], 0x97, "fixarray of 7");
        assert_eq!(rmp_serde::from_slice::<SIndex>(&plain).unwrap(), s);
        s.expression = Some(b"kwGTUQOlYWdlAA==".to_vec());
        let with = rmp_serde::to_vec(&s).unwrap();
        assert_eq!(with[0], 0x98, "fixarray of 8");
        assert_eq!(rmp_serde::from_slice::<SIndex>(&with).unwrap(), s);
    }
}
