//! One file in the making: its filter process, where the filter's output lands (an
//! [`Arrival`]), and what the file makes durable once complete.

use super::job::{Advance, Durable, Job};
use super::landing::Arrival;
use anyhow::Context;
use as_cli::process::{detached_shell, kill_group};
use as_cli::signals;
use as_common::stream::{FrameBatch, Header, StreamWriter};
use std::io::{BufWriter, Read};
use std::process::{Child, ChildStdin, Stdio};
use std::thread::JoinHandle;

/// A file being written: its stream goes through the filter into where it lands.
pub struct FileInProgress {
    name: String,
    writer: Option<StreamWriter<BufWriter<ChildStdin>>>,
    filter: Child,
    filter_err: Option<JoinHandle<String>>,
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
        let mut filter = detached_shell(&job.filter);
        let mut arrival = job.landing.start(&name, &mut filter, job.mac_key)?;
        let mut filter = filter
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the filter {:?}", job.filter))?;
        // The filter's complaints become part of our one error line, or vanish when we
        // stopped it ourselves.
        let filter_err = collect(filter.stderr.take().expect("piped"));
        arrival.attach(&mut filter)?;
        let stdin = filter.stdin.take().expect("piped");
        let header = Header {
            first_file: first,
            append: arrival.continues(),
            ..job.header.clone()
        };
        let writer = StreamWriter::new(BufWriter::with_capacity(64 << 10, stdin), &header)
            .with_context(|| format!("writing to the filter of {name}"))?;
        Ok(FileInProgress {
            name,
            writer: Some(writer),
            filter,
            filter_err: Some(filter_err),
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
            // The filter stopped reading: its exit, or the destination, says why.
            return match self.filter.wait() {
                Ok(st) if !st.success() => Err(self.filter_failed(job, st)),
                _ => Err(anyhow::Error::new(e)
                    .context(format!("writing to the filter of {}", self.name))),
            };
        }
        self.durable.add(&b.counts, advances);
        self.unmeasured += b.len();
        self.sent += b.len() as u64;
        Ok(())
    }

    fn filter_failed(&mut self, job: &Job, st: std::process::ExitStatus) -> anyhow::Error {
        // A filter whose output could not be written (a full disk, a failed sink) fails
        // with a broken pipe: the destination's error is the cause.
        if let Some(e) = self.arrival.failure() {
            return e;
        }
        let complaint = self
            .filter_err
            .take()
            .and_then(|h| h.join().ok())
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
        let st = self.filter.wait()?;
        if !st.success() {
            return Err(self.filter_failed(job, st));
        }
        let landed = self.arrival.finish(written)?;
        let bytes = landed.bytes;
        let mut completed = job.completed.lock().unwrap();
        (completed.0, completed.1) = (completed.0 + bytes, completed.1 + self.sent);
        drop(completed);
        job.commit(&self.durable, &self.name, landed)?;
        if job.verbose {
            tracing::info!(file = %self.name, bytes, "{} ({bytes} bytes)", self.name);
        }
        Ok(())
    }

    /// Gives up on the file: stops its filter and removes what it wrote.
    pub fn abort(&mut self) {
        // Stop the filter before closing its input, so it never sees (and reports) a cut
        // stream: the whole of it (the shell and the pipeline it runs, in a process group of
        // its own), so that nothing of it writes into the file afterwards.
        kill_group(&self.filter);
        drop(self.writer.take());
        let _ = self.filter.wait();
        if let Some(h) = self.filter_err.take() {
            let _ = h.join();
        }
        self.arrival.abort();
    }
}

/// Reads all of a child's stderr, on a thread.
fn collect(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    signals::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}
