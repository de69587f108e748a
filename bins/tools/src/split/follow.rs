//! A file its filter writes itself, followed as it grows: hashed while its bytes are fresh in
//! the page cache (not read back whole once complete, which for a large file means reading it
//! from the disk again), and its writeback started as it goes, so that the sync making it
//! durable has little left to wait for.

use anyhow::Context;
use as_common::manifest::{Digester, FileDigest};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// New bytes are hashed once there are this many (each look costs a system call).
const HASH_STEP: u64 = 1 << 20;
/// Writeback is started once this many bytes are dirty: large enough for the disk to take
/// whole, small enough that the final sync waits for little.
const FLUSH_STEP: u64 = 8 << 20;

/// The digest of a file's bytes from its start up to `at`.
pub struct Hashed {
    pub digest: Digester,
    pub at: u64,
}

impl Hashed {
    /// Hashes the file's next bytes.
    pub fn update(&mut self, b: &[u8]) {
        self.digest.update(b);
        self.at += b.len() as u64;
    }
}

/// A digest the segments of the one file share.
pub type Shared = Arc<Mutex<Hashed>>;

/// The digest of the whole file at `path`, read back (a file not hashed as it landed).
pub fn read_back(path: &Path, mac_key: Option<&[u8; 32]>) -> anyhow::Result<FileDigest> {
    File::open(path)
        .and_then(|f| Digester::of(f, mac_key))
        .with_context(|| format!("cannot read back {}", path.display()))
}

/// The digest of the complete file at `path`: the one it was hashed into as it landed, if it
/// was, else read back.
pub fn finished(
    digest: Option<&Shared>,
    path: &Path,
    mac_key: Option<&[u8; 32]>,
) -> anyhow::Result<FileDigest> {
    match digest {
        Some(d) => Ok(d.lock().unwrap().digest.clone().finish()),
        None => read_back(path, mac_key),
    }
}

/// A digest of nothing yet, with an HMAC under `mac_key` if given.
pub fn shared(mac_key: Option<&[u8; 32]>) -> Shared {
    let digest = Digester::new(mac_key);
    Arc::new(Mutex::new(Hashed { digest, at: 0 }))
}

pub struct Follow {
    file: File,
    /// The digest to extend, if the file is hashed as it lands (not for a filter given by hand,
    /// which might write its output out of order: its file is read back once complete), and
    /// not given to the writer ([`Follow::give_digest`]).
    digest: Option<Shared>,
    flushed: u64,
    /// Why the file could not be read back, kept for the end: until then its length is still
    /// what the file-size limit goes by.
    failed: Option<io::Error>,
    /// What is read back, kept between reads (zeroing a new one cost as much as the hashing).
    buf: Vec<u8>,
}

impl Follow {
    /// Follows `file`, which holds `at` bytes already: hashed into `digest` (which must stand
    /// at `at`) when given.
    pub fn new(file: File, at: u64, digest: Option<Shared>) -> Follow {
        if let Some(d) = &digest {
            assert_eq!(d.lock().unwrap().at, at, "a digest of what the file holds");
        }
        Follow {
            file,
            digest,
            flushed: at,
            failed: None,
            buf: Vec::new(),
        }
    }

    /// Hands the digest over to the writer (as-split's own thread, --in-process), which hashes
    /// the bytes as it writes them: none to read back then.
    pub fn give_digest(&mut self) -> Option<Shared> {
        self.digest.take()
    }

    /// Catches up with what the filter has written: returns the file's length. `end`: the
    /// filter has finished, so every byte is hashed if the digest is still here (and the caller
    /// syncs), and a failure to read back is returned.
    pub fn catch_up(&mut self, end: bool) -> io::Result<u64> {
        let len = self.file.metadata()?.len();
        if let Some(d) = self.digest.clone() {
            let mut d = d.lock().unwrap();
            if self.failed.is_none() && (end || len >= d.at + HASH_STEP) {
                if let Err(e) = self.hash_to(&mut d, len) {
                    self.failed = Some(e);
                }
            }
        }
        if end {
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
        } else if len >= self.flushed + FLUSH_STEP {
            start_writeback(&self.file, self.flushed, len - self.flushed);
            self.flushed = len;
        }
        Ok(len)
    }

    /// Hashes `[d.at, len)`: bytes below a length the file had are whole (appends only add).
    fn hash_to(&mut self, d: &mut Hashed, len: u64) -> io::Result<()> {
        if self.buf.is_empty() {
            self.buf = vec![0u8; 256 << 10];
        }
        while d.at < len {
            let want = (len - d.at).min(self.buf.len() as u64) as usize;
            let n = match self.file.read_at(&mut self.buf[..want], d.at) {
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
            d.update(&self.buf[..n]);
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
