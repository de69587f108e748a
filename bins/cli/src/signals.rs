//! SIGINT and SIGTERM as a request to stop cleanly: the tools that make data durable (as-split)
//! finish what they hold, save their state and exit with 128 + the signal's number.
//!
//! The handler only records the signal. It is installed without SA_RESTART, and the other
//! threads block both signals, so a read blocked in the main thread returns EINTR and
//! [`Interruptible`] turns that into an [`Interrupted`] error.

use std::io::{self, Read};
use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
    // A second signal is not asked nicely: it ends the process (the state saved so far stays
    // valid). signal() is async-signal-safe.
    // SAFETY: restoring the default disposition of the signal just received.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

/// The backup was stopped by this signal.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}", name(*.0))]
pub struct Interrupted(pub i32);

pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Catches SIGINT and SIGTERM in the calling (main) thread, and ignores SIGXFSZ so that a
/// file-size limit is an error (EFBIG) to report rather than a silent death.
pub fn install() {
    // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = record as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0; // no SA_RESTART: a blocked read must return
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Keeps SIGINT and SIGTERM away from the calling thread, so they reach the main thread.
pub fn block_here() {
    // SAFETY: plain signal-mask calls on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// `std::thread::spawn` for a thread that must not take the signals.
pub fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        block_here();
        f()
    })
}

/// The signal received, if any.
pub fn received() -> Option<Interrupted> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(Interrupted(s)),
    }
}

/// A reader that stops with [`Interrupted`] once a signal arrived.
pub struct Interruptible<R>(pub R);

impl<R: Read> Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(i) = received() {
                return Err(io::Error::other(i));
            }
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

/// The signal behind an error, if it was one.
pub fn interrupted(e: &anyhow::Error) -> Option<&Interrupted> {
    e.chain().find_map(|c| {
        c.downcast_ref::<Interrupted>().or_else(|| {
            c.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<Interrupted>())
        })
    })
}
