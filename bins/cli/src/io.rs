//! Input, output and the one error line, shared by the tools.

use anyhow::{bail, Context};
use as_common::asb::EncodeError;
use as_common::stream::StreamError;
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Read and write in chunks this large: pipes and files both do well with it.
pub const CHUNK: usize = 256 << 10;

/// What a pipe between two stages holds, asked of the kernel for standard input and output.
/// Linux's default (64 KiB) makes a writer of CHUNK-sized blocks wait on its reader four times a
/// block, and each wait is a wake-up of the other process: at a record stream's rates that
/// churn costs more CPU than the copies themselves. 1 MiB is what any user may ask for
/// (/proc/sys/fs/pipe-max-size); past a user's pipe-user-pages-soft the kernel refuses, and the
/// pipe keeps its size.
pub const PIPE_SIZE: i32 = 1 << 20;

/// Widens standard input and output to [`PIPE_SIZE`] (or `AS_PIPE_SIZE` bytes; 0: not at
/// all) where they are pipes. Best effort: a refusal leaves a pipe as it was, and files and
/// terminals are not touched.
pub fn widen_pipes() {
    let size = std::env::var("AS_PIPE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PIPE_SIZE);
    #[cfg(target_os = "linux")]
    for fd in [0, 1] {
        if size <= 0 {
            break;
        }
        // SAFETY: fstat and fcntl on a descriptor number only read and set the kernel's state
        // of that descriptor; a closed one fails with EBADF.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) == 0
                && st.st_mode & libc::S_IFMT == libc::S_IFIFO
                && libc::fcntl(fd, libc::F_GETPIPE_SZ) < size
            {
                libc::fcntl(fd, libc::F_SETPIPE_SZ, size);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = size;
}

/// Opens `path` for reading, or stdin for `None` and `-`.
pub fn open_input(path: Option<&Path>) -> anyhow::Result<Box<dyn Read + Send>> {
    match path {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            Ok(Box::new(f))
        }
        _ => Ok(Box::new(io::stdin())),
    }
}

/// [`open_input`] for a tool that acts on SIGINT/SIGTERM: a read of stdin that a signal
/// interrupts returns the interruption (as an error) instead of being retried.
pub fn open_input_interruptible(path: Option<&Path>) -> anyhow::Result<Box<dyn Read + Send>> {
    match path {
        Some(p) if p.as_os_str() != "-" => open_input(path),
        _ => Ok(Box::new(crate::signals::Interruptible(io::stdin()))),
    }
}

/// Buffered input.
pub fn buffered<R: Read>(r: R) -> BufReader<R> {
    BufReader::with_capacity(CHUNK, r)
}

/// Standard output for binary data: refused when it is a terminal, as zstd does.
pub fn binary_stdout(what: &str) -> anyhow::Result<io::StdoutLock<'static>> {
    let out = io::stdout();
    if out.is_terminal() {
        bail!("refusing to write {what} to a terminal: redirect or pipe the output");
    }
    Ok(out.lock())
}

/// An optional path argument that names stdin when absent or `-`.
pub fn input_name(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "stdin".into(),
    }
}

/// `read`, retried when a signal interrupted it (EINTR): for readers that have no signal to
/// act on.
pub fn read_retrying(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            res => return res,
        }
    }
}

/// The error and its causes on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    let s = if is_broken_pipe(e) {
        "output closed before all data was written (broken pipe)".to_string()
    } else {
        format!("{e:#}")
    };
    s.replace('\n', " ")
}

/// Whether the error is (caused by) writing into a pipe whose reader went away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c
            .downcast_ref::<io::Error>()
            .or(match c.downcast_ref::<StreamError>() {
                Some(StreamError::Io(e)) => Some(e),
                _ => None,
            })
            .or(match c.downcast_ref::<EncodeError>() {
                Some(EncodeError::Io(e)) => Some(e),
                _ => None,
            });
        io.is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// A writer that counts the bytes written through it, into a counter its owner keeps (for a
/// tool's `--summary`: the writer itself is often moved into an encoder).
pub struct Counted<W> {
    inner: W,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<W: Write> Counted<W> {
    pub fn new(inner: W) -> (Counted<W>, std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let bytes = std::sync::Arc::default();
        let w = Counted {
            inner,
            bytes: std::sync::Arc::clone(&bytes),
        };
        (w, bytes)
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.bytes
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Flushes `w`, naming what it is in the error.
pub fn flush(mut w: impl Write) -> anyhow::Result<()> {
    w.flush().context("cannot write the output")
}

/// Writes `path` so that a reader sees the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
