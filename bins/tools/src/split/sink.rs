//! A sink command per file (`--sink`, with FILE set to the file's name): fed plainly, or in
//! frames committed once the file is whole (`--framed-sink`). With `--sink-remove`, the marker
//! of an unfinished backup goes through the sink too.

use super::job::Landed;
use super::landing::{Arrival, Landing, Output};
use anyhow::{bail, Context};
use as_cli::framed::FramedWriter;
use as_cli::process::{detached_shell, kill_group};
use as_cli::signals;
use as_common::layout;
use as_common::manifest::{Digester, FileDigest};
use as_common::state::{BackupState, Kind};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct Sink {
    pub cmd: String,
    pub framed: bool,
    /// The command that deletes the object FILE (`--sink-remove`): the sink then keeps the
    /// marker of an unfinished backup.
    pub remove: Option<String>,
    pub prefix: String,
}

impl Sink {
    /// `PREFIX.asb.incomplete`, the marker's name in the sink's prefix.
    /// One small file, whole, through the sink.
    fn send(&self, name: &str, data: &[u8]) -> anyhow::Result<()> {
        let (mut input, sink) = spawn(&self.cmd, self.framed, name)?;
        let written = input
            .write_all(data)
            .with_context(|| format!("writing {name}"));
        end_sink(input, sink, written, &self.cmd, name)
    }

    fn marker(&self) -> String {
        format!("{}{}", self.prefix, layout::INCOMPLETE)
    }
}

impl Landing for Sink {
    fn kind(&self) -> Kind {
        Kind::Sink
    }

    fn default_state(&self) -> Option<PathBuf> {
        None
    }

    fn fresh(&mut self, _remove: bool, _shard: bool) -> anyhow::Result<()> {
        Ok(())
    }

    /// A sink may have completed a file whose commit was never recorded: the same names are
    /// written again, so nothing is left twice.
    fn resume(&mut self, st: &mut BackupState) -> anyhow::Result<VecDeque<u64>> {
        st.open.sort_unstable();
        Ok(st.open.iter().copied().collect())
    }

    fn name(&self, n: u64) -> String {
        layout::file_name(&self.prefix, n)
    }

    /// The sink starts once the filter runs (attach).
    fn start(
        &self,
        name: &str,
        mac_key: Option<[u8; 32]>,
    ) -> anyhow::Result<(Output, Box<dyn Arrival>)> {
        let arrival = Box::new(SinkFile {
            cmd: self.cmd.clone(),
            framed: self.framed,
            name: name.to_string(),
            pump: Pump::idle(),
            child: None,
            mac_key,
        });
        Ok((Output::Piped, arrival))
    }

    /// Sent whole, by a sink that can delete it again.
    fn mark_incomplete(&self, text: &str) -> anyhow::Result<()> {
        if self.remove.is_none() {
            return Ok(());
        }
        self.send(&self.marker(), text.as_bytes())
    }

    /// The manifest goes out before the marker is removed: a prefix is never without both (a
    /// shard's would look like a whole backup of fewer partitions).
    fn publish(&self, name: &str, data: &[u8]) -> anyhow::Result<()> {
        self.send(name, data)
    }

    fn clear_marker(&self) -> anyhow::Result<()> {
        let Some(cmd) = &self.remove else {
            return Ok(());
        };
        let name = self.marker();
        let st = detached_shell(cmd)
            .env("FILE", &name)
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run the sink's remove command {cmd:?}"))?;
        if !st.success() {
            bail!("the backup is complete, but its marker {name} could not be removed: {cmd:?} failed ({st})");
        }
        Ok(())
    }
}

/// Starts the sink command for the file `name`.
fn spawn(cmd: &str, framed: bool, name: &str) -> anyhow::Result<(SinkInput, Child)> {
    let mut sink = detached_shell(cmd)
        .env("FILE", name)
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run the sink {cmd:?}"))?;
    let stdin = sink.stdin.take().expect("piped");
    let input = match framed {
        true => SinkInput::Framed(FramedWriter::new(stdin)),
        false => SinkInput::Plain(stdin),
    };
    Ok((input, sink))
}

/// The sink's standard input, plain or framed.
enum SinkInput {
    Plain(ChildStdin),
    Framed(FramedWriter<ChildStdin>),
}

impl std::io::Write for SinkInput {
    /// Whole: a framed sink takes each buffer as one frame.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            SinkInput::Plain(w) => w.write_all(buf)?,
            SinkInput::Framed(w) => w.write_frame(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            SinkInput::Plain(w) => w.flush(),
            SinkInput::Framed(w) => w.flush(),
        }
    }
}

/// Once all of a file went into its sink (`written`: whether it did): a framed sink is told to
/// complete it, a plain one sees its input end, and the sink must succeed. If the file is not
/// whole, a framed sink sees its input end without the commit and gives up by itself; others
/// are stopped.
fn end_sink(
    input: SinkInput,
    mut sink: Child,
    written: anyhow::Result<()>,
    cmd: &str,
    name: &str,
) -> anyhow::Result<()> {
    let committed = match (written, input) {
        (Ok(()), SinkInput::Framed(w)) => w
            .commit()
            .map(drop)
            .with_context(|| format!("writing {name}")),
        (Ok(()), SinkInput::Plain(w)) => {
            drop(w);
            Ok(())
        }
        // Stopped before its input ends, so that it cannot take a cut file for a whole one.
        (Err(e), SinkInput::Plain(w)) => {
            kill_group(&sink);
            drop(w);
            Err(e)
        }
        (Err(e), SinkInput::Framed(_)) => Err(e),
    };
    if let Err(e) = committed {
        let _ = sink.wait();
        return Err(e);
    }
    let st = sink.wait()?;
    if !st.success() {
        bail!("the sink {cmd:?} failed for {name} ({st})");
    }
    Ok(())
}

/// A file on its way into its sink command: a pump moves the filter's output there.
struct SinkFile {
    cmd: String,
    framed: bool,
    name: String,
    pump: Pump<SinkInput>,
    child: Option<Child>,
    mac_key: Option<[u8; 32]>,
}

impl Arrival for SinkFile {
    fn attach(&mut self, filter: &mut Child) -> anyhow::Result<()> {
        let (input, child) = spawn(&self.cmd, self.framed, &self.name)?;
        let out = filter.stdout.take().expect("piped");
        self.pump.start(out, input, self.name.clone(), self.mac_key);
        self.child = Some(child);
        Ok(())
    }

    fn landed(&mut self) -> u64 {
        self.pump.landed()
    }

    fn cheap_to_measure(&self) -> bool {
        true
    }

    fn failure(&mut self) -> Option<anyhow::Error> {
        self.pump.failure()
    }

    /// Committed and accepted by the sink; the digest is of the bytes sent.
    fn finish(&mut self, written: anyhow::Result<()>) -> anyhow::Result<Landed> {
        let (input, digest) = self.pump.finish()?;
        let child = self.child.take().expect("started");
        end_sink(input, child, written, &self.cmd, &self.name)?;
        Ok(Landed {
            bytes: digest.size,
            file_len: None,
            digest: Some(digest),
        })
    }

    fn abort(&mut self) {
        self.pump.abandon();
        if let Some(mut child) = self.child.take() {
            // A framed sink sees no commit and gives up by itself; others are stopped.
            if !self.framed {
                kill_group(&child);
            }
            let _ = child.wait();
        }
    }
}

/// A filter's output on its way into `W` (a sink's input, standard output) on a thread of its
/// own, counted and hashed; `W` given back at the end of the output, with the digest.
pub struct Pump<W> {
    thread: Option<JoinHandle<anyhow::Result<(W, FileDigest)>>>,
    pumped: Arc<AtomicU64>,
}

impl<W: std::io::Write + Send + 'static> Pump<W> {
    /// A pump that has not started: nothing landed.
    pub fn idle() -> Pump<W> {
        Pump {
            thread: None,
            pumped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Starts moving `out` into `w` (`name` for messages).
    pub fn start(
        &mut self,
        mut out: ChildStdout,
        mut w: W,
        name: String,
        mac_key: Option<[u8; 32]>,
    ) {
        let counter = self.pumped.clone();
        self.thread = Some(signals::spawn(move || {
            let mut digester = Digester::new(mac_key.as_ref());
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = as_cli::io::read_retrying(&mut out, &mut buf)
                    .with_context(|| format!("reading the filter output of {name}"))?;
                if n == 0 {
                    break;
                }
                w.write_all(&buf[..n])
                    .with_context(|| format!("writing {name}"))?;
                digester.update(&buf[..n]);
                counter.fetch_add(n as u64, Ordering::SeqCst);
            }
            w.flush().with_context(|| format!("writing {name}"))?;
            Ok((w, digester.finish()))
        }));
    }

    /// Bytes moved so far.
    pub fn landed(&mut self) -> u64 {
        self.pumped.load(Ordering::SeqCst)
    }

    /// Why it stopped, if it failed (it is waited for).
    pub fn failure(&mut self) -> Option<anyhow::Error> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Some(e),
            _ => None,
        }
    }

    /// Waits for the end of the output: `W` and the digest of what went through.
    pub fn finish(&mut self) -> anyhow::Result<(W, FileDigest)> {
        self.thread
            .take()
            .expect("started")
            .join()
            .map_err(|_| anyhow::anyhow!("the pump thread panicked"))?
    }

    /// Waits for it, whatever became of it.
    pub fn abandon(&mut self) {
        if let Some(p) = self.thread.take() {
            let _ = p.join();
        }
    }
}
