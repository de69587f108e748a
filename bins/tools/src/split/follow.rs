//! A file its filter writes itself, followed as it grows: hashed while its bytes are fresh in
//! the page cache (not read back whole once complete, which for a large file means reading it
//! from the disk again), and its writeback started as it goes, so that the sync making it
//! durable has little left to wait for.

use as_common::manifest::Digester;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

/// New bytes are hashed once there are this many (each look costs a system call).
const HASH_STEP: u64 = 1 << 20;
/// Writeback is started once this many bytes are dirty: large enough for the disk to take
/// whole, small enough that the final sync waits for little.
const FLUSH_STEP: u64 = 8 << 20;

pub struct Follow {
    file: File,
    /// The digest of the file's bytes up to `hashed` (shared by the segments of the one file).
    digest: Arc<Mutex<Digester>>,
    hashed: u64,
    flushed: u64,
    /// What is read back, kept between reads (zeroing a new one cost as much as the hashing).
    buf: Vec<u8>,
}

impl Follow {
    /// Follows `file` from `at`, where `digest` has hashed it up to.
    pub fn new(file: File, at: u64, digest: Arc<Mutex<Digester>>) -> Follow {
        Follow {
            file,
            digest,
            hashed: at,
            flushed: at,
            buf: Vec::new(),
        }
    }

    /// Catches up with what the filter has written: returns the file's length. `end`: the
    /// filter has finished, so every byte is hashed (and the caller syncs).
    pub fn catch_up(&mut self, end: bool) -> io::Result<u64> {
        let len = self.file.metadata()?.len();
        if end || len >= self.hashed + HASH_STEP {
            self.hash_to(len)?;
        }
        if !end && len >= self.flushed + FLUSH_STEP {
            start_writeback(&self.file, self.flushed, len - self.flushed);
            self.flushed = len;
        }
        Ok(len)
    }

    /// Hashes `[hashed, len)`: bytes below a length the file had are whole (appends only add).
    fn hash_to(&mut self, len: u64) -> io::Result<()> {
        let mut digest = self.digest.lock().unwrap();
        if self.buf.is_empty() {
            self.buf = vec![0u8; 256 << 10];
        }
        let buf = &mut self.buf;
        while self.hashed < len {
            let want = (len - self.hashed).min(buf.len() as u64) as usize;
            let n = match self.file.read_at(&mut buf[..want], self.hashed) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was written",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            digest.update(&buf[..n]);
            self.hashed += n as u64;
        }
        Ok(())
    }
}

/// Asks the kernel to start writing `[from, from + len)` out (not to wait for it).
fn start_writeback(file: &File, from: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: sync_file_range only reads the descriptor and the range; a failure (a file
        // system without it) leaves the final sync to do all the work, as before.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                from as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, len);
}
