//! The input of an upload (as-put, as-s3put): where its data comes from, how its end is judged
//! (a producer's exit status, a commit frame, or end of input), what is said when it is done,
//! and what a signal does to it.

use anyhow::{bail, Context};
use as_cli::framed::FramedReader;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

/// The process group of the `--from` producer, for [`stop_producer`].
static PRODUCER: AtomicI32 = AtomicI32::new(0);

/// Stops the producer (the whole pipeline --from runs, in a group of its own), so that an
/// upload given up on a signal leaves nothing running behind it.
pub fn stop_producer() {
    let g = PRODUCER.load(Ordering::SeqCst);
    if g > 0 {
        // SAFETY: kill(2) on the process group this process made for its producer.
        unsafe {
            libc::kill(-g, libc::SIGTERM);
        }
    }
}

/// How an upload knows that its data is whole: exactly one of these.
#[derive(clap::Args, Debug, Clone)]
#[group(id = "mode", required = true, multiple = false)]
pub struct Completion {
    /// Run this command (bash -o pipefail -c) and upload its output; complete if it exits 0.
    #[arg(long)]
    pub from: Option<String>,

    /// Standard input is framed; a zero-length frame completes the upload.
    #[arg(long)]
    pub framed: bool,

    /// Standard input is trusted: its end completes the upload.
    #[arg(long)]
    pub eof_completes: bool,
}

/// What an upload says when it is done.
#[derive(clap::Args, Debug, Clone)]
pub struct Report {
    /// Print the object's size on stderr when done.
    #[arg(short, long)]
    pub verbose: bool,

    /// When the object is complete, write `bytes=N` into this file (for scripts).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

impl Report {
    /// The `-v` line (`how` ends it, if not empty) and the `--summary` file of a complete
    /// object.
    pub fn done(&self, url: &str, bytes: u64, how: &str) -> anyhow::Result<()> {
        if self.verbose {
            tracing::info!(%url, bytes, "{url}: {bytes} byte(s){how}");
        }
        as_cli::summary::Summary::new()
            .set("bytes", bytes)
            .write(self.summary.as_deref())
    }
}

/// Where the data comes from, and how its end is judged.
pub enum Input {
    /// A child's output; whole if the child exits 0.
    Child(Child, std::process::ChildStdout),
    /// Framed standard input; whole once the zero-length frame came.
    Framed(FramedReader<std::io::Stdin>),
    /// Standard input; whole at its end.
    Eof(std::io::Stdin),
}

impl Input {
    /// `--from CMD` (run here), `--framed`, or else plain standard input.
    pub fn open(c: &Completion) -> anyhow::Result<Input> {
        Ok(match (c.from.as_deref(), c.framed) {
            (Some(cmd), _) => {
                let mut child = as_cli::process::detached_shell(cmd)
                    .stdout(Stdio::piped())
                    .spawn()
                    .with_context(|| format!("cannot run {cmd:?}"))?;
                PRODUCER.store(child.id() as i32, Ordering::SeqCst);
                let out = child.stdout.take().expect("piped");
                Input::Child(child, out)
            }
            (None, true) => Input::Framed(FramedReader::new(std::io::stdin())),
            (None, false) => Input::Eof(std::io::stdin()),
        })
    }

    /// Fills `buf` as far as it goes; returns the bytes read (0 only at the end).
    pub fn fill(&mut self, buf: &mut [u8]) -> anyhow::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let k = match self {
                Input::Child(_, out) => out.read(&mut buf[n..])?,
                Input::Eof(input) => input.read(&mut buf[n..])?,
                Input::Framed(input) => input.read(&mut buf[n..])?,
            };
            if k == 0 {
                break;
            }
            n += k;
        }
        Ok(n)
    }

    /// Whether the data that came is whole (called at the end of input).
    pub fn whole(&mut self) -> anyhow::Result<()> {
        match self {
            Input::Child(child, _) => {
                let st = child.wait()?;
                if !st.success() {
                    bail!("the producer failed ({st})");
                }
                Ok(())
            }
            Input::Framed(input) if input.committed() => Ok(()),
            Input::Framed(_) => {
                bail!("input ended without its commit frame: the producer did not finish")
            }
            Input::Eof(_) => Ok(()),
        }
    }
}

/// What to do to drop the upload under way, if one is: set once it has begun.
pub type Cancel = std::sync::Arc<std::sync::Mutex<Option<futures::future::BoxFuture<'static, ()>>>>;

/// On SIGINT or SIGTERM: drops the upload under way (nothing may appear at the key), stops the
/// producer, and exits as the signal would have, with one line. Watched on a task of its own,
/// as reading the input blocks.
pub fn cancel_on_signal(rt: &tokio::runtime::Runtime) -> Cancel {
    let cancel: Cancel = Default::default();
    let watched = cancel.clone();
    rt.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let sig = tokio::select! {
            _ = term.recv() => libc::SIGTERM,
            _ = int.recv() => libc::SIGINT,
        };
        let c = watched.lock().unwrap().take();
        if let Some(c) = c {
            c.await;
        }
        stop_producer();
        tracing::error!("{}; nothing was stored", as_cli::signals::Interrupted(sig));
        std::process::exit(128 + sig);
    });
    cancel
}
