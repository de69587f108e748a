//! One file in the making: its filter process, where the filter's output lands ([`Output`]),
//! and what the file makes durable once complete.

use super::dest::{collect, Dest, Output};
use super::shared::{Note, Shared};
use anyhow::Context;
use as_cli::process::{detached_shell, kill_group};
use as_common::layout;
use as_common::record::DIGEST_LEN;
use as_common::stream::{FrameBatch, Header, StreamWriter};
use std::collections::HashMap;
use std::io::BufWriter;
use std::process::{Child, ChildStdin, Stdio};
use std::thread::JoinHandle;

pub struct OpenFile {
    pub number: u64,
    pub name: String,
    pub first: bool,
    writer: Option<StreamWriter<BufWriter<ChildStdin>>>,
    filter: Child,
    filter_err: Option<JoinHandle<String>>,
    output: Output,
    /// Stream bytes sent since the file's size was last looked at, and what it was.
    unmeasured: usize,
    measured: u64,
    /// Last digest written of each partition, partitions whose end is in the file, records.
    pub progress: HashMap<u16, [u8; DIGEST_LEN]>,
    pub done: Vec<u16>,
    pub records: u64,
}

impl OpenFile {
    pub fn open(s: &Shared, first: bool) -> anyhow::Result<OpenFile> {
        let number = s.take_number()?;
        let name = match &s.dest {
            Dest::File(one) => format!("{} (segment {number})", one.path.display()),
            _ => layout::file_name(&s.prefix, number),
        };
        let (mut output, stdout) = Output::prepare(&s.dest, &name)?;
        let mut filter = detached_shell(&s.filter);
        if let Dest::File(one) = &s.dest {
            // For stages that go on from what the file holds (as-crypt --append "$PARTIAL").
            filter.env("PARTIAL", &one.partial);
        }
        let mut filter = filter
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the filter {:?}", s.filter))?;
        // The filter's complaints become part of our one error line, or vanish when we
        // stopped it ourselves.
        let filter_err = collect(filter.stderr.take().expect("piped"));
        output.start(&mut filter, &name)?;
        let stdin = filter.stdin.take().expect("piped");
        let header = Header {
            first_file: first,
            // A segment after the first goes on where the file ends: no header lines.
            append: matches!(s.dest, Dest::File(_)) && s.state.lock().unwrap().file_len > 0,
            ..s.header.clone()
        };
        let writer = StreamWriter::new(BufWriter::with_capacity(64 << 10, stdin), &header)
            .with_context(|| format!("writing to the filter of {name}"))?;
        Ok(OpenFile {
            number,
            name,
            first,
            writer: Some(writer),
            filter,
            filter_err: Some(filter_err),
            output,
            unmeasured: 0,
            measured: 0,
            progress: HashMap::new(),
            done: Vec::new(),
            records: 0,
        })
    }

    /// Bytes in the file so far, looked up again only after every 64 KiB sent to the filter
    /// when the filter writes the file itself: the limit check runs before each batch, and a
    /// file's size is a system call away.
    pub fn landed_about(&mut self) -> u64 {
        if !self.output.is_direct() || self.unmeasured >= 64 << 10 {
            self.measured = self.output.landed();
            self.unmeasured = 0;
        }
        self.measured
    }

    pub fn write(&mut self, b: &FrameBatch, notes: &[Note], s: &Shared) -> anyhow::Result<()> {
        let w = self.writer.as_mut().expect("open");
        if let Err(e) = w.batch(b) {
            // The filter stopped reading: its exit, or the destination, says why.
            return match self.filter.wait() {
                Ok(st) if !st.success() => Err(self.filter_failed(s, st)),
                _ => Err(anyhow::Error::new(e)
                    .context(format!("writing to the filter of {}", self.name))),
            };
        }
        self.records += b.counts.records;
        self.unmeasured += b.len();
        for note in notes {
            match *note {
                Note::Record(p, d) => {
                    self.progress.insert(p, d);
                }
                Note::Done(p) => self.done.push(p),
                Note::Nothing => {}
            }
        }
        Ok(())
    }

    fn filter_failed(&mut self, s: &Shared, st: std::process::ExitStatus) -> anyhow::Error {
        // A filter whose output could not be written (a full disk, a failed sink) fails
        // with a broken pipe: the destination's error is the cause.
        if let Some(e) = self.output.failure() {
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
            s.filter,
            self.name
        )
    }

    /// Ends the file's stream, waits for its filter and destination, makes the file durable
    /// and records it in the state.
    pub fn close(mut self, s: &Shared) -> anyhow::Result<()> {
        let result = self.finish(s);
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn finish(&mut self, s: &Shared) -> anyhow::Result<()> {
        let written = self
            .writer
            .take()
            .expect("open")
            .finish()
            .map(|_| ())
            .with_context(|| format!("writing to the filter of {}", self.name));
        let st = self.filter.wait()?;
        if !st.success() {
            return Err(self.filter_failed(s, st));
        }
        let (bytes, file_len) = self.output.finish(written)?;
        s.commit(self, bytes, file_len)?;
        if s.verbose {
            eprintln!("as-split: {} ({bytes} bytes)", self.name);
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
        self.output.abort();
    }
}
