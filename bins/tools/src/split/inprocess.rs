//! The filter the options describe (`as-encode [--compact] [| as-zstd -l N] [| as-crypt ...]`)
//! run on a thread of as-split's own (--in-process): the tools' own functions, so the same bytes
//! (bar an encrypted file's random IV), without the processes and pipes of each file.

use super::follow::Shared;
use anyhow::Context;
use as_cli::io::CHUNK;
use as_cli::signals;
use as_common::crypt::{Encryptor, Key};
use as_common::spares::Spares;
use as_common::stream::StreamReader;
use crossbeam_channel::{Receiver, Sender};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::thread::JoinHandle;

/// The stages the options describe.
#[derive(Clone)]
pub struct Stages {
    pub compact: bool,
    /// zstd's level, when the files are compressed.
    pub level: Option<i32>,
    /// The key, when the files are encrypted.
    pub key: Option<Key>,
    /// zstd's worker threads for each file (its bytes are the same whatever their number).
    pub threads: u32,
}

/// Chunks of stream in flight to the thread: about what a pipe between the tools holds.
const IN_FLIGHT: usize = 4;

/// Starts the stages for one file: returns where its stream goes (closing it ends the stream)
/// and the thread, which ends with the file written (not synced) or the reason it is not.
/// `digest`: what the file's bytes are hashed into as they are written.
/// `partial`: the one file the segments go into, whose keystream an encrypted segment goes on
/// with (as `as-crypt --append "$PARTIAL"`).
pub fn start(
    stages: Stages,
    file: File,
    digest: Option<Shared>,
    partial: Option<PathBuf>,
    name: &str,
) -> (ChunkWriter, JoinHandle<anyhow::Result<()>>) {
    let (input, rx, read_spares) = channel();
    let what = format!("the stream of {name}");
    let name = name.to_string();
    let thread = signals::spawn(move || -> anyhow::Result<()> {
        let mut reader = StreamReader::new(ChunkReader::new(rx, read_spares))
            .with_context(|| format!("reading {what}"))?;
        // Every frame was checked as as-split read it.
        reader.trust_checksums();
        let (out, landing) = write_behind(file, digest);
        let made = (|| -> anyhow::Result<()> {
            match &stages.key {
                None => compress(&stages, &mut reader, out, &what)?,
                Some(key) => {
                    let crypt = match crate::crypt::existing(partial.as_deref())? {
                        Some((f, len)) => Encryptor::append(out, key, f, len)
                            .context("cannot continue the encrypted file")?,
                        None => Encryptor::new(out, key)?,
                    };
                    compress(&stages, &mut reader, crypt, &what)?.into_inner()
                }
            }
            .flush()
            .context("cannot write the output")
        })();
        // (The writer is gone: the thread has the last chunk and ends.) Its failure, a full
        // disk say, is why the encoding could not go on.
        match landing.join() {
            Ok(Ok(())) => made,
            Ok(Err(e)) => Err(anyhow::Error::new(e).context("cannot write the output")),
            Err(_) => anyhow::bail!("the thread writing {name} panicked"),
        }
    });
    (input, thread)
}

/// A writer of chunks to a thread, that thread's end of it, and where its chunks come back.
fn channel() -> (ChunkWriter, Receiver<Vec<u8>>, Spares<Vec<u8>>) {
    let (tx, rx) = crossbeam_channel::bounded(IN_FLIGHT);
    // Chunks read go back to be filled again: no allocation (and no fresh pages) per chunk.
    let spares = Spares::new(IN_FLIGHT + 1);
    (ChunkWriter::new(tx, spares.clone()), rx, spares)
}

/// Writes the file and hashes its bytes (into `digest`) on a thread of its own, behind the
/// stages: on a machine with a core to spare, the encoding never waits for either (SHA-256 at
/// about 1.7 GB/s takes 0.4 of the time the encoding takes to make ASB).
fn write_behind(
    mut file: File,
    digest: Option<Shared>,
) -> (ChunkWriter, JoinHandle<io::Result<()>>) {
    let (out, rx, spares) = channel();
    let thread = signals::spawn(move || -> io::Result<()> {
        for chunk in rx.iter() {
            file.write_all(&chunk)?;
            if let Some(d) = &digest {
                d.lock().unwrap().update(&chunk);
            }
            spares.give(chunk);
        }
        Ok(())
    });
    (out, thread)
}

/// The stream as ASB text (`as-encode`), compressed when the stages say (`| as-zstd -l N`),
/// into `out`, which is returned.
fn compress<R: Read, W: Write>(
    stages: &Stages,
    reader: &mut StreamReader<R>,
    out: W,
    what: &str,
) -> anyhow::Result<W> {
    Ok(match stages.level {
        None => crate::encode::encode(reader, out, stages.compact, what)?,
        Some(level) => {
            let z = Unflushed(crate::zstd::encoder(out, level, stages.threads)?);
            let z = crate::encode::encode(reader, z, stages.compact, what)?;
            z.0.finish().context("cannot write the output")?
        }
    })
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
    /// Chunks the thread has read, to fill again.
    spares: Spares<Vec<u8>>,
}

impl ChunkWriter {
    fn new(tx: Sender<Vec<u8>>, spares: Spares<Vec<u8>>) -> ChunkWriter {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
            spares,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let mut next = self.spares.take();
        next.reserve(CHUNK);
        let chunk = std::mem::replace(&mut self.buf, next);
        self.tx.send(chunk).map_err(|_| {
            // As a pipe whose reader went away: the thread's result says why.
            io::Error::new(io::ErrorKind::BrokenPipe, "the thread it feeds stopped")
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
    spares: Spares<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    fn new(rx: Receiver<Vec<u8>>, spares: Spares<Vec<u8>>) -> ChunkReader {
        ChunkReader {
            rx,
            spares,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => {
                    let done = std::mem::replace(&mut self.chunk, c);
                    self.at = 0;
                    // (Dropped instead when the writer has enough; the first is none.)
                    if done.capacity() > 0 {
                        self.spares.give(done);
                    }
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
