//! Where the files go: a directory, one file built of segments, or a sink command per file; and,
//! for one file in the making, where its bytes land ([`Output`]).

use anyhow::{bail, Context};
use as_cli::framed::FramedWriter;
use as_cli::process::{detached_shell, kill_group};
use as_cli::signals;
use as_common::layout;
use as_common::state::{self, Kind};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Clone)]
pub enum Dest {
    /// `PREFIX_NNNNN.asb` files in a directory.
    Dir(PathBuf),
    /// Each file piped into this command (with FILE set); framed: as-s3put --framed; `remove`:
    /// the command that deletes the object FILE (`--sink-remove`), which makes the sink keep
    /// the marker of an unfinished backup.
    Sink {
        cmd: String,
        framed: bool,
        remove: Option<String>,
    },
    /// One file: segments appended to FILE.partial, renamed to FILE at the end.
    File(Arc<OneFile>),
}

impl Dest {
    pub fn kind(&self) -> Kind {
        match self {
            Dest::Dir(_) => Kind::Directory,
            Dest::Sink { .. } => Kind::Sink,
            Dest::File(_) => Kind::File,
        }
    }

    /// Writes (or overwrites) `PREFIX.asb.incomplete`, the marker that says the backup is not
    /// one to restore, holding `text`: a file in the directory, or an object sent whole through
    /// a sink that can delete it again (`--sink-remove`). Nothing for other destinations.
    pub fn mark_incomplete(&self, prefix: &str, text: &str) -> anyhow::Result<()> {
        match self {
            Dest::Dir(dir) => {
                let m = layout::incomplete_marker(dir, prefix);
                std::fs::write(&m, text).with_context(|| format!("cannot write {}", m.display()))
            }
            Dest::Sink {
                cmd,
                framed,
                remove: Some(_),
            } => {
                let name = marker_name(prefix);
                let mut sink = spawn_sink(cmd, &name)?;
                let stdin = sink.stdin.take().expect("piped");
                let mut input = match framed {
                    true => SinkInput::Framed(FramedWriter::new(stdin)),
                    false => SinkInput::Plain(stdin),
                };
                let written = match &mut input {
                    SinkInput::Plain(w) => w.write_all(text.as_bytes()),
                    SinkInput::Framed(w) => w.write_frame(text.as_bytes()),
                }
                .with_context(|| format!("writing {name}"));
                end_sink(input, sink, written, cmd, &name)
            }
            _ => Ok(()),
        }
    }

    /// Removes the marker once the backup is complete. A marker that cannot be removed fails
    /// the backup: it is whole, but would look unfinished.
    pub fn clear_marker(&self, prefix: &str) -> anyhow::Result<()> {
        match self {
            Dest::Dir(dir) => {
                let m = layout::incomplete_marker(dir, prefix);
                match std::fs::remove_file(&m) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(e).with_context(|| format!("cannot remove {}", m.display()))
                    }
                    _ => Ok(()),
                }
            }
            Dest::Sink {
                remove: Some(cmd), ..
            } => {
                let name = marker_name(prefix);
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
            _ => Ok(()),
        }
    }
}

pub struct OneFile {
    pub path: PathBuf,
    pub partial: PathBuf,
    /// Opened for appending.
    pub file: File,
}

impl OneFile {
    /// Opens FILE.partial for appending: new, or (resuming) cut back to the length the state
    /// says is complete.
    pub fn open(path: &Path, resume_at: Option<u64>) -> anyhow::Result<OneFile> {
        let partial = layout::with_suffix(path, layout::PARTIAL);
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true);
        let file = match resume_at {
            Some(len) => {
                let f = opts.open(&partial).with_context(|| {
                    format!(
                        "cannot resume: {} (the partial file) cannot be opened",
                        partial.display()
                    )
                })?;
                f.set_len(len).with_context(|| {
                    format!("cannot cut {} back to {len} bytes", partial.display())
                })?;
                f
            }
            None => opts
                .create(true)
                .truncate(false)
                .open(&partial)
                .and_then(|f| f.set_len(0).map(|()| f))
                .with_context(|| format!("cannot create {}", partial.display()))?,
        };
        Ok(OneFile {
            path: path.to_path_buf(),
            partial,
            file,
        })
    }

    /// The backup is complete: FILE.partial becomes FILE.
    pub fn rename_into_place(&self) -> anyhow::Result<()> {
        std::fs::rename(&self.partial, &self.path).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.partial.display(),
                self.path.display()
            )
        })?;
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        state::sync_dir(dir.unwrap_or(Path::new("."))).context("cannot sync the directory")
    }
}

/// `PREFIX.asb.incomplete`, the marker's name in a sink's prefix.
fn marker_name(prefix: &str) -> String {
    format!("{prefix}{}", layout::INCOMPLETE)
}

/// Starts the sink command for the file `name`, its standard input piped.
fn spawn_sink(cmd: &str, name: &str) -> anyhow::Result<Child> {
    detached_shell(cmd)
        .env("FILE", name)
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run the sink {cmd:?}"))
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

/// Where one file's bytes land.
pub enum Output {
    /// The filter writes `partial` itself; synced and renamed to `dir/name` when complete.
    Dir {
        file: File,
        partial: Option<PathBuf>,
        dir: PathBuf,
        name: String,
    },
    /// The filter appends to the one file, whose length was `start` when the segment began.
    Segment { one: Arc<OneFile>, start: u64 },
    /// A pump here moves the filter's output into the sink command.
    Sink {
        cmd: String,
        name: String,
        framed: bool,
        pump: Option<JoinHandle<anyhow::Result<SinkInput>>>,
        child: Option<Child>,
        pumped: Arc<AtomicU64>,
    },
}

/// The sink's standard input, plain or framed.
pub enum SinkInput {
    Plain(ChildStdin),
    Framed(FramedWriter<ChildStdin>),
}

impl Output {
    /// Makes the file's place; returns it and what the filter's output is to be.
    pub fn prepare(dest: &Dest, name: &str) -> anyhow::Result<(Output, Stdio)> {
        Ok(match dest {
            Dest::Dir(dir) => {
                let p = dir.join(layout::partial_name(name));
                let file =
                    File::create(&p).with_context(|| format!("cannot create {}", p.display()))?;
                let stdout = Stdio::from(file.try_clone()?);
                let name = name.to_string();
                let (partial, dir) = (Some(p), dir.clone());
                (
                    Output::Dir {
                        file,
                        partial,
                        dir,
                        name,
                    },
                    stdout,
                )
            }
            Dest::File(one) => {
                let start = one.file.metadata()?.len();
                let stdout = Stdio::from(one.file.try_clone()?);
                let one = one.clone();
                (Output::Segment { one, start }, stdout)
            }
            Dest::Sink { cmd, framed, .. } => (
                Output::Sink {
                    cmd: cmd.clone(),
                    name: name.to_string(),
                    framed: *framed,
                    pump: None,
                    child: None,
                    pumped: Arc::new(AtomicU64::new(0)),
                },
                Stdio::piped(),
            ),
        })
    }

    /// Once the filter runs: a sink is started, and fed from the filter's output.
    pub fn start(&mut self, filter: &mut Child, name: &str) -> anyhow::Result<()> {
        if let Output::Sink {
            cmd,
            framed,
            name: _,
            pump,
            child,
            pumped,
        } = self
        {
            let mut c = spawn_sink(cmd, name)?;
            let stdin = c.stdin.take().expect("piped");
            let input = match framed {
                true => SinkInput::Framed(FramedWriter::new(stdin)),
                false => SinkInput::Plain(stdin),
            };
            let out = filter.stdout.take().expect("piped");
            *pump = Some(spawn_pump(out, input, pumped.clone(), name.to_string()));
            *child = Some(c);
        }
        Ok(())
    }

    /// Whether the filter writes into the file itself (its size is then a system call away).
    pub fn is_direct(&self) -> bool {
        !matches!(self, Output::Sink { .. })
    }

    /// Bytes in the file (segment) so far.
    pub fn landed(&self) -> u64 {
        match self {
            Output::Dir { file, .. } => file.metadata().map_or(0, |m| m.len()),
            Output::Segment { one, start } => one
                .file
                .metadata()
                .map_or(0, |m| m.len().saturating_sub(*start)),
            Output::Sink { pumped, .. } => pumped.load(Ordering::SeqCst),
        }
    }

    /// Why the destination stopped taking the filter's output, if it did (a failed sink).
    pub fn failure(&mut self) -> Option<anyhow::Error> {
        match self {
            Output::Sink { pump, .. } => match pump.take().map(JoinHandle::join) {
                Some(Ok(Err(e))) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }

    /// After the filter succeeded (`written`: whether all the stream reached it): makes the
    /// file durable, synced and renamed into place, or committed and accepted by the sink.
    /// Returns the file's bytes, and the one file's whole length.
    pub fn finish(&mut self, written: anyhow::Result<()>) -> anyhow::Result<(u64, Option<u64>)> {
        match self {
            Output::Sink {
                cmd,
                name,
                pump,
                child,
                pumped,
                ..
            } => {
                let input = pump
                    .take()
                    .expect("started")
                    .join()
                    .map_err(|_| anyhow::anyhow!("pump thread panicked"))??;
                let sink = child.take().expect("started");
                end_sink(input, sink, written, cmd, name)?;
                Ok((pumped.load(Ordering::SeqCst), None))
            }
            Output::Dir {
                file,
                partial,
                dir,
                name,
            } => {
                written?;
                let bytes = file.metadata()?.len();
                // Kept until renamed: a failure before that removes it (abort).
                let p = partial.clone().expect("not finished");
                let fin = dir.join(&*name);
                file.sync_all()
                    .with_context(|| format!("cannot sync {}", p.display()))?;
                std::fs::rename(&p, &fin).with_context(|| {
                    format!("cannot rename {} to {}", p.display(), fin.display())
                })?;
                *partial = None;
                state::sync_dir(dir).with_context(|| format!("cannot sync {}", dir.display()))?;
                Ok((bytes, None))
            }
            Output::Segment { one, start } => {
                written?;
                one.file
                    .sync_all()
                    .with_context(|| format!("cannot sync {}", one.partial.display()))?;
                let len = one.file.metadata()?.len();
                Ok((len.saturating_sub(*start), Some(len)))
            }
        }
    }

    /// Gives up on the file (its filter already stopped): stops the sink, or removes what the
    /// filter wrote.
    pub fn abort(&mut self) {
        match self {
            Output::Sink {
                framed,
                pump,
                child,
                ..
            } => {
                if let Some(p) = pump.take() {
                    let _ = p.join();
                }
                if let Some(mut sink) = child.take() {
                    // A framed sink sees no commit and gives up by itself; others are stopped.
                    if !*framed {
                        kill_group(&sink);
                    }
                    let _ = sink.wait();
                }
            }
            Output::Dir { partial, .. } => {
                if let Some(p) = partial.take() {
                    let _ = std::fs::remove_file(p);
                }
            }
            // The one file is cut back to its last checkpoint on resume.
            Output::Segment { .. } => {}
        }
    }
}

/// Moves a filter's output into a sink, counting the bytes; gives the sink's input back at
/// the end of the output.
fn spawn_pump(
    mut out: ChildStdout,
    mut input: SinkInput,
    counter: Arc<AtomicU64>,
    name: String,
) -> JoinHandle<anyhow::Result<SinkInput>> {
    signals::spawn(move || {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = as_cli::io::read_retrying(&mut out, &mut buf)
                .with_context(|| format!("reading the filter output of {name}"))?;
            if n == 0 {
                break;
            }
            match &mut input {
                SinkInput::Plain(w) => w.write_all(&buf[..n]),
                SinkInput::Framed(w) => w.write_frame(&buf[..n]),
            }
            .with_context(|| format!("writing {name}"))?;
            counter.fetch_add(n as u64, Ordering::SeqCst);
        }
        match &mut input {
            SinkInput::Plain(w) => w.flush(),
            SinkInput::Framed(w) => w.flush(),
        }
        .with_context(|| format!("writing {name}"))?;
        Ok(input)
    })
}

/// Reads all of a child's stderr, on a thread.
pub fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    signals::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}
