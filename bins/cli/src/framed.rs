//! The framed-sink protocol between as-split and a sink that must not keep a partial object
//! (`as-split --framed-sink`, `as-s3put --framed`): the data in frames of a 4-byte big-endian
//! length and that many bytes, then one empty frame once the data is whole. A sink whose input
//! ends without the empty frame knows its producer did not finish.

use std::io::{self, Read, Write};

/// Writes data as frames; [`FramedWriter::commit`] says it is whole.
pub struct FramedWriter<W: Write>(W);

impl<W: Write> FramedWriter<W> {
    pub fn new(w: W) -> Self {
        FramedWriter(w)
    }

    /// One frame of `data` (nothing for empty data: an empty frame is the commit).
    pub fn write_frame(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let len = u32::try_from(data.len()).map_err(|_| io::Error::other("frame too long"))?;
        self.0.write_all(&len.to_be_bytes())?;
        self.0.write_all(data)
    }

    /// The empty frame: the data is whole.
    pub fn commit(mut self) -> io::Result<W> {
        self.0.write_all(&[0; 4])?;
        self.0.flush()?;
        Ok(self.0)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Reads the data of frames; the data ends at the empty frame ([`FramedReader::committed`]) or
/// where the input ends (then not committed).
pub struct FramedReader<R: Read> {
    input: R,
    left: usize,
    committed: bool,
}

impl<R: Read> FramedReader<R> {
    pub fn new(input: R) -> Self {
        FramedReader {
            input,
            left: 0,
            committed: false,
        }
    }

    /// Whether the empty frame came: the producer finished.
    pub fn committed(&self) -> bool {
        self.committed
    }
}

impl<R: Read> Read for FramedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left == 0 {
            if self.committed || buf.is_empty() {
                return Ok(0);
            }
            let mut len = [0u8; 4];
            match self.input.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.left = u32::from_be_bytes(len) as usize;
            self.committed = self.left == 0;
        }
        let want = self.left.min(buf.len());
        let k = self.input.read(&mut buf[..want])?;
        self.left -= k;
        Ok(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_commit() {
        let mut w = FramedWriter::new(Vec::new());
        w.write_frame(b"hello ").unwrap();
        w.write_frame(b"").unwrap();
        w.write_frame(b"world").unwrap();
        let bytes = w.commit().unwrap();
        let mut r = FramedReader::new(&bytes[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
        assert!(r.committed());
        // Cut before the commit frame: the data ends, uncommitted.
        let mut r = FramedReader::new(&bytes[..bytes.len() - 4]);
        out.clear();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
        assert!(!r.committed());
    }
}
