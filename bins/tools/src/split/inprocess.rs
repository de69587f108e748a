//! The filter the options describe (`as-encode [--compact] [| as-zstd -l N]`) run on a thread of
//! as-split's own (--in-process): the tools' own functions, so the same bytes, without two
//! processes and two pipes a file.

use anyhow::Context;
use as_cli::io::CHUNK;
use as_cli::signals;
use as_common::stream::StreamReader;
use crossbeam_channel::{Receiver, Sender};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::thread::JoinHandle;

/// The stages the options describe.
#[derive(Clone, Copy, Debug)]
pub struct Stages {
    pub compact: bool,
    /// zstd's level, when the files are compressed.
    pub level: Option<i32>,
}

/// Chunks of stream in flight to the thread: about what a pipe between the tools holds.
const IN_FLIGHT: usize = 4;

/// Starts the stages for one file: returns where its stream goes (closing it ends the stream)
/// and the thread, which ends with the file written (not synced) or the reason it is not.
pub fn start(
    stages: Stages,
    file: File,
    name: &str,
) -> (ChunkWriter, JoinHandle<anyhow::Result<()>>) {
    let (tx, rx) = crossbeam_channel::bounded(IN_FLIGHT);
    let what = format!("the stream of {name}");
    let thread = signals::spawn(move || -> anyhow::Result<()> {
        let mut reader =
            StreamReader::new(ChunkReader::new(rx)).with_context(|| format!("reading {what}"))?;
        let out = BufWriter::with_capacity(CHUNK, file);
        let mut out = match stages.level {
            None => crate::encode::encode(&mut reader, out, stages.compact, &what)?.0,
            Some(level) => {
                let z = Unflushed(crate::zstd::encoder(out, level, 1)?);
                let (z, _) = crate::encode::encode(&mut reader, z, stages.compact, &what)?;
                z.0.finish().context("cannot write the output")?
            }
        };
        out.flush().context("cannot write the output")
    });
    (ChunkWriter::new(tx), thread)
}

/// A compressor that as-encode's flush at its end leaves alone, as it is left between the two
/// tools: a flush ends a zstd block early, and the frames would differ from as-zstd's.
struct Unflushed<W>(W);

impl<W: Write> Write for Unflushed<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends what is written to the thread in chunks of [`CHUNK`] bytes.
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: Sender<Vec<u8>>,
}

impl ChunkWriter {
    fn new(tx: Sender<Vec<u8>>) -> ChunkWriter {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(chunk).map_err(|_| {
            // As a pipe whose reader went away: the thread's result says why.
            io::Error::new(io::ErrorKind::BrokenPipe, "the in-process filter stopped")
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.buf.is_empty() {
            true => Ok(()),
            false => self.send(),
        }
    }
}

/// Reads the chunks a [`ChunkWriter`] sent; the end of the stream once it is dropped.
struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    fn new(rx: Receiver<Vec<u8>>) -> ChunkReader {
        ChunkReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => (self.chunk, self.at) = (c, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
