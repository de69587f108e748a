//! One file in the making: its filter (a process, or as-split's own thread with --in-process),
//! where the filter's output lands (an [`Arrival`]), and what the file makes durable once
//! complete.

use super::inprocess;
use super::job::{Advance, Durable, Job};
use super::landing::{Arrival, Output};
use anyhow::{bail, Context};
use as_cli::process::{detached_shell, kill_group};
use as_cli::signals;
use as_common::stream::{FrameBatch, Header, StreamWriter};
use std::io::{BufWriter, Read, Write};
use std::process::{Child, Stdio};
use std::thread::JoinHandle;

/// A file being written: its stream goes through the filter into where it lands.
pub struct FileInProgress {
    name: String,
    writer: Option<StreamWriter<Box<dyn Write + Send>>>,
    filter: Filter,
    arrival: Box<dyn Arrival>,
    /// Stream bytes sent since the file's size was last looked at, and what it was.
    unmeasured: usize,
    measured: u64,
    /// Stream bytes sent to the filter.
    sent: u64,
    durable: Durable,
}

impl FileInProgress {
    pub fn open(job: &Job, first: bool) -> anyhow::Result<FileInProgress> {
        let number = job.take_number()?;
        let name = job.landing.name(number);
        let (output, mut arrival) = job.landing.start(&name, job.mac_key)?;
        let (stdin, filter): (Box<dyn Write + Send>, _) = match &job.in_process {
            Some(stages) => {
                let Output::File { file, partial } = output else {
                    bail!("--in-process writes files itself: not to standard output or a sink")
                };
                let digest = arrival.hashed_by_writer();
                let (input, thread) =
                    inprocess::start(stages.clone(), file, digest, partial, &name);
                // (Buffered by the thread's input already.)
                (Box::new(input), Filter::Thread(Some(thread)))
            }
            None => {
                let mut cmd = detached_shell(&job.filter);
                match output {
                    Output::File { file, partial } => {
                        cmd.stdout(file);
                        if let Some(p) = partial {
                            cmd.env("PARTIAL", p);
                        }
                    }
                    Output::Piped => {
                        cmd.stdout(Stdio::piped());
                    }
                }
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .with_context(|| format!("cannot run the filter {:?}", job.filter))?;
                // The filter's complaints become part of our one error line, or vanish when
                // we stopped it ourselves.
                let err = collect(child.stderr.take().expect("piped"));
                arrival.attach(&mut child)?;
                let stdin = child.stdin.take().expect("piped");
                let filter = Filter::Process {
                    child,
                    err: Some(err),
                };
                (Box::new(BufWriter::with_capacity(64 << 10, stdin)), filter)
            }
        };
        let header = Header {
            first_file: first,
            append: arrival.continues(),
            ..job.header.clone()
        };
        let writer = StreamWriter::new(stdin, &header)
            .with_context(|| format!("writing to the filter of {name}"))?;
        Ok(FileInProgress {
            name,
            writer: Some(writer),
            filter,
            arrival,
            unmeasured: 0,
            measured: 0,
            sent: 0,
            durable: Durable::new(number, first),
        })
    }

    /// Bytes in the file so far, looked up again only after every 64 KiB sent to the filter
    /// when the filter writes the file itself (the limit check runs before each batch, and a
    /// file's size is a system call away), or what the stream sent will make of it
    /// ([`Job::predicted`]) if that is more.
    pub fn landed_about(&mut self, job: &Job) -> u64 {
        if self.arrival.cheap_to_measure() || self.unmeasured >= 64 << 10 {
            self.measured = self.arrival.landed();
            self.unmeasured = 0;
        }
        self.measured.max(job.predicted(self.sent))
    }

    pub fn write(&mut self, b: &FrameBatch, advances: &[Advance], job: &Job) -> anyhow::Result<()> {
        let w = self.writer.as_mut().expect("open");
        if let Err(e) = w.batch(b) {
            // The filter stopped reading: its end, or the destination, says why.
            let e =
                anyhow::Error::new(e).context(format!("writing to the filter of {}", self.name));
            return Err(self.ended(job).err().unwrap_or(e));
        }
        self.durable.add(&b.counts, advances);
        self.unmeasured += b.len();
        self.sent += b.len() as u64;
        Ok(())
    }

    /// Waits for the filter to end (its input closed): why it failed, if it did.
    fn ended(&mut self, job: &Job) -> anyhow::Result<()> {
        match &mut self.filter {
            Filter::Process { child, .. } => {
                let st = child.wait()?;
                match st.success() {
                    true => Ok(()),
                    false => Err(self.filter_failed(job, st)),
                }
            }
            Filter::Thread(t) => match t.take().map(|t| t.join()) {
                None | Some(Ok(Ok(()))) => Ok(()),
                Some(Ok(Err(e))) => {
                    Err(e.context(format!("the in-process filter failed for {}", self.name)))
                }
                Some(Err(_)) => bail!("the in-process filter panicked for {}", self.name),
            },
        }
    }

    fn filter_failed(&mut self, job: &Job, st: std::process::ExitStatus) -> anyhow::Error {
        // A filter whose output could not be written (a full disk, a failed sink) fails
        // with a broken pipe: the destination's error is the cause.
        if let Some(e) = self.arrival.failure() {
            return e;
        }
        let complaint = match &mut self.filter {
            Filter::Process { err, .. } => err.take().and_then(|h| h.join().ok()),
            Filter::Thread(_) => None,
        }
        .unwrap_or_default();
        let last = complaint.lines().last().unwrap_or("").trim().to_string();
        let why = if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        };
        anyhow::anyhow!(
            "the filter {:?} failed for {} ({st}){why}",
            job.filter,
            self.name
        )
    }

    /// Ends the file's stream, waits for its filter and destination, makes the file durable
    /// and records it in the state.
    pub fn close(mut self, job: &Job) -> anyhow::Result<()> {
        let result = self.finish(job);
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn finish(&mut self, job: &Job) -> anyhow::Result<()> {
        let written = self
            .writer
            .take()
            .expect("open")
            .finish()
            .map(|_| ())
            .with_context(|| format!("writing to the filter of {}", self.name));
        self.ended(job)?;
        let landed = self.arrival.finish(written)?;
        let bytes = landed.bytes;
        job.file_completed(bytes, self.sent);
        job.commit(&self.durable, &self.name, landed)?;
        if job.verbose {
            tracing::info!(file = %self.name, bytes, "{} ({bytes} bytes)", self.name);
        }
        Ok(())
    }

    /// Gives up on the file: stops its filter and removes what it wrote.
    pub fn abort(&mut self) {
        match &mut self.filter {
            Filter::Process { child, err } => {
                // Stop the filter before closing its input, so it never sees (and reports) a
                // cut stream: the whole of it (the shell and the pipeline it runs, in a process
                // group of its own), so that nothing of it writes into the file afterwards.
                kill_group(child);
                drop(self.writer.take());
                let _ = child.wait();
                if let Some(h) = err.take() {
                    let _ = h.join();
                }
            }
            Filter::Thread(t) => {
                // The stream cut short: the thread stops at it (after what was in flight, and
                // as-encode's line that poisons a cut file); the arrival removes the file, or
                // a resume cuts the one file back.
                drop(self.writer.take());
                if let Some(t) = t.take() {
                    let _ = t.join();
                }
            }
        }
        self.arrival.abort();
    }
}

/// What makes a file's bytes of its stream.
enum Filter {
    /// The filter command, in a process group of its own, and its stderr being read.
    Process {
        child: Child,
        err: Option<JoinHandle<String>>,
    },
    /// The stages the options describe, on a thread of as-split's (--in-process).
    Thread(Option<JoinHandle<anyhow::Result<()>>>),
}

/// Reads all of a child's stderr, on a thread.
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    signals::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}
