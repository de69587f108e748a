//! Writing a record stream: frames sealed (length and checksum) as they are written, or built
//! in batches away from the writer and handed to it whole.

use super::{record_codec, Counts, Frame, Header, Kind, PartitionDone, StreamError, Trailer};
use super::{Sealed, MAGIC, MAX_FRAME, VERSION};
use crate::record::{Record, SIndex, Udf};
use serde::Serialize;
use std::io::{self, Write};

/// Writes a record stream. Call [`StreamWriter::finish`] to write the trailer; a writer dropped
/// without it leaves a truncated stream, which every reader rejects.
pub struct StreamWriter<W: Write> {
    pub(super) out: W,
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
pub(super) fn seal_frame(buf: &mut Vec<u8>, start: usize) -> Result<(), StreamError> {
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

    /// Adds a frame as read (from [`StreamReader::next_sealed`](super::StreamReader::next_sealed)): sealed again with the
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
