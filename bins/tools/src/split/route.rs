//! The router and the workers: frames go to the worker that owns their partition, in
//! batches; each worker writes its own sequence of files.

use super::file::FileInProgress;
use super::job::{Advance, Job};
use anyhow::Context;
use as_cli::signals;
use as_cli::BadInput;
use as_common::record::partition_of;
use as_common::spares::{Reuse, Spares};
use as_common::stream::{FrameBatch, Kind, PartitionStatus, StreamReader};
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Frames are handed to a worker in batches of about this many bytes; a file may pass its limit
/// by one batch.
const BATCH: usize = 32 << 10;
/// Batches queued for each worker.
const IN_FLIGHT: usize = 32;

/// Frames for a worker, with what each tells about durability.
type Batch = (Vec<Advance>, FrameBatch);

/// Routes the input's frames to the workers until the input ends, fails or a signal arrives;
/// the workers then finish their files.
pub fn split<R: Read>(
    job: &Arc<Job>,
    reader: &mut StreamReader<R>,
    n: usize,
    first: bool,
) -> anyhow::Result<()> {
    let first_file = FileInProgress::open(job, first)?;
    let mut txs = Vec::new();
    let mut handles = Vec::new();
    let mut first_file = Some(first_file);
    // One worker (-o FILE, -o -, -d DIR -w 1) works on this thread, between reads: a hand-over
    // between threads per batch saved (a wake-up, spinning, a context switch: 2,500 switches
    // for 200,000 records came down to 340). A file's close (its sync) then holds the reading
    // up, as it held the worker's queue up.
    let mut inline = (n == 1).then(|| Worker {
        current: first_file.take(),
    });
    let threads = if inline.is_some() { 0 } else { n };
    // Batches written go back to be filled again: no allocation (nor growth) per batch.
    let spares = Spares::<Batch>::new(IN_FLIGHT * n + n);
    for _ in 0..threads {
        let (tx, rx) = crossbeam_channel::bounded::<Batch>(IN_FLIGHT);
        let s = job.clone();
        let f = first_file.take();
        let spares = spares.clone();
        handles.push(signals::spawn(move || worker(&s, rx, &spares, f)));
        txs.push(tx);
    }
    let mut worker_error = None;
    let fresh = || {
        let mut b = spares.take();
        b.1.bytes.reserve(2 * BATCH);
        b
    };

    // Frames go to a worker in batches (fewer hand-overs between threads), each with what it
    // tells about durability.
    let mut pending: Vec<Batch> = (0..n).map(|_| fresh()).collect();
    let read_result = (|| -> anyhow::Result<()> {
        loop {
            if let Some(i) = signals::received() {
                return Err(i.into());
            }
            let Some((kind, frame)) = reader.next_sealed().context("reading the input")? else {
                return Ok(());
            };
            let malformed = || BadInput("malformed frame in the input".into());
            let (to, advance) = match kind {
                Kind::Record => {
                    let d = frame.record_digest().ok_or_else(malformed)?;
                    let p = partition_of(&d);
                    (p as usize % n, Advance::Record(p, d))
                }
                Kind::PartitionDone => {
                    let m = frame.partition_done().ok_or_else(malformed)?;
                    let advance = match m.status {
                        PartitionStatus::Complete => Advance::Done(m.partition),
                        PartitionStatus::Partial => Advance::Nothing,
                    };
                    (m.partition as usize % n, advance)
                }
                // Index and UDF definitions belong to the first file, once.
                _ if !first => continue,
                _ => {
                    if let Some(name) = frame.metadata_name(kind) {
                        let mut m = job.metadata.lock().unwrap();
                        match kind {
                            Kind::SIndex => m.0.push(name),
                            _ => m.1.push(name),
                        }
                    }
                    (0, Advance::Nothing)
                }
            };
            let slot = &mut pending[to];
            slot.1.sealed(kind, &frame);
            slot.0.push(advance);
            if slot.1.len() < BATCH {
                continue;
            }
            let stopped = match &mut inline {
                Some(w) => {
                    let taken = w.take(job, &slot.0, &slot.1);
                    slot.clear();
                    match taken {
                        Ok(()) => false,
                        Err(e) => {
                            worker_error = Some(e);
                            true
                        }
                    }
                }
                None => txs[to].send(std::mem::replace(slot, fresh())).is_err(),
            };
            if stopped || job.failed.load(Ordering::SeqCst) {
                // A worker stopped: its error is reported below.
                return Ok(());
            }
        }
    })();
    // Whatever was read is whole: it goes to the files, even when the input broke off.
    match &mut inline {
        Some(w) if worker_error.is_none() && !pending[0].1.is_empty() => {
            if let Err(e) = w.take(job, &pending[0].0, &pending[0].1) {
                worker_error = Some(e);
            }
        }
        Some(_) => {}
        None => {
            for (tx, slot) in txs.iter().zip(pending) {
                if !slot.1.is_empty() {
                    let _ = tx.send(slot);
                }
            }
        }
    }
    // A read cut short by a signal is the signal's doing.
    let read_result = read_result.map_err(|e| match signals::received() {
        Some(i) => anyhow::Error::new(i),
        None => e,
    });
    if read_result.is_err() {
        job.broken.store(true, Ordering::SeqCst);
    }
    drop(txs);
    if let Some(mut w) = inline {
        let finished = match worker_error {
            None => w.finish(job),
            Some(e) => Err(e),
        };
        worker_error = finished.map_err(|e| w.failed(job, e)).err();
    }
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => worker_error = worker_error.or(Some(e)),
            Err(_) => worker_error = worker_error.or(Some(anyhow::anyhow!("a worker panicked"))),
        }
    }
    read_result?;
    if let Some(e) = worker_error {
        return Err(e);
    }
    // Numbers a killed run left open and this one did not reuse: overwrite them with files
    // holding no record.
    loop {
        let next = job.reuse.lock().unwrap().front().copied();
        if next.is_none() {
            break;
        }
        FileInProgress::open(job, false)?.close(job)?;
    }
    Ok(())
}

/// A worker: owns its current file; receives frames to append. When its input ends, even
/// early, the file it holds is finished: every frame in it is whole, and the state says what
/// the file holds.
struct Worker {
    current: Option<FileInProgress>,
}

impl Worker {
    /// Appends a batch, first closing the file at its limit and opening the next.
    fn take(&mut self, s: &Job, advances: &[Advance], batch: &FrameBatch) -> anyhow::Result<()> {
        // The limit is checked before each batch (of up to BATCH bytes).
        if batch.counts.records > 0
            && self
                .current
                .as_mut()
                .is_some_and(|f| f.landed_about(s) >= s.limit)
        {
            self.current.take().expect("checked").close(s)?;
        }
        if self.current.is_none() {
            self.current = Some(FileInProgress::open(s, false)?);
        }
        let f = self.current.as_mut().expect("opened");
        f.write(batch, advances, s)
    }

    /// The input ended: the file it holds is finished.
    fn finish(&mut self, s: &Job) -> anyhow::Result<()> {
        if let Some(mut f) = self.current.take() {
            // Without a state to resume from, what a broken backup finished would only
            // look like a backup: the file is dropped.
            if s.broken.load(Ordering::SeqCst) && s.state_path.is_none() {
                f.abort();
            } else {
                f.close(s)?;
            }
        }
        Ok(())
    }

    /// The worker failed (`e`): the others stop, and the file it held is removed.
    fn failed(&mut self, s: &Job, e: anyhow::Error) -> anyhow::Error {
        s.failed.store(true, Ordering::SeqCst);
        s.broken.store(true, Ordering::SeqCst);
        if let Some(mut f) = self.current.take() {
            f.abort();
        }
        e
    }
}

/// A worker on a thread of its own, fed batches by the router.
fn worker(
    s: &Job,
    rx: crossbeam_channel::Receiver<Batch>,
    spares: &Spares<Batch>,
    current: Option<FileInProgress>,
) -> anyhow::Result<()> {
    let mut w = Worker { current };
    let result = (|| -> anyhow::Result<()> {
        for (advances, batch) in rx.iter() {
            w.take(s, &advances, &batch)?;
            // (Dropped instead when the router has enough, or one large record made it large.)
            if batch.bytes.capacity() <= 4 * BATCH {
                spares.give((advances, batch));
            }
        }
        w.finish(s)
    })();
    result.map_err(|e| w.failed(s, e))
}
