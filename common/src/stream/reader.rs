//! Reading a record stream: magic, version, each frame's checksum, the frames' order and the
//! trailer's counts checked as it is read.

use super::{record_codec, Counts, Frame, Header, Kind, PartitionDone, StreamError, Trailer};
use super::{MAGIC, MAX_FRAME, VERSION, ZSTD_MAGIC};
use crate::record::{SIndex, Udf, DIGEST_LEN};
use serde::Deserialize;
use std::io::{self, Read};

/// A frame as read (its checksum verified, unless [`StreamReader::trust_checksums`]), for stages
/// that route frames without decoding them
/// ([`StreamReader::next_sealed`], [`FrameBatch::sealed`](super::FrameBatch::sealed)).
pub struct Sealed<'a> {
    /// Kind, length and payload.
    pub(super) frame: &'a [u8],
    pub(super) crc: u32,
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
    pub(super) offset: u64,
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

    /// The next frame undecoded, for stages that route frames ([`FrameBatch::sealed`](super::FrameBatch::sealed));
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
