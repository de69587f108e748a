//! The scan workers: jobs of partitions on `parallel` threads, their frames written in order of
//! arrival, at most --bandwidth MiB/s.

use super::progress::Progress;
use anyhow::{bail, Context};
use as_common::client::filter::Work;
use as_common::client::scan::ScanShared;
use as_common::client::ClientError;
use as_common::spares::Spares;
use as_common::stream::{FrameBatch, StreamWriter};
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A worker: takes jobs until none is left or the scan stops, sending their batches to `out`;
/// a failure stops the scan and goes to `errors`.
fn work(
    shared: &ScanShared,
    jobs: &Receiver<Vec<Work>>,
    out: &Sender<FrameBatch>,
    spares: &Spares<FrameBatch>,
    errors: &Sender<ClientError>,
) {
    for job in jobs.iter() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let mut sink = |b: &mut FrameBatch| out.send(std::mem::replace(b, spares.take())).is_ok();
        if let Err(e) = shared.scan_job(&job, &mut sink) {
            shared.stop.store(true, Ordering::SeqCst);
            let _ = errors.send(e);
            break;
        }
    }
}

/// Runs the jobs on `parallel` workers (at most one a job) and hands their batches to `take`,
/// on this thread, in order of arrival; the batches then go back to the workers. An error of
/// `take` stops the workers and is returned first, then a worker's error. `Ok(false)`: the
/// scan was stopped before every job ran (a signal, or --max-records reached).
pub fn run(
    shared: &ScanShared,
    jobs: Vec<Vec<Work>>,
    parallel: usize,
    take: &mut dyn FnMut(&FrameBatch) -> anyhow::Result<()>,
) -> anyhow::Result<bool> {
    let (job_tx, job_rx) = crossbeam_channel::unbounded();
    let workers = parallel.min(jobs.len()).max(1);
    for j in jobs {
        job_tx.send(j).expect("receiver alive");
    }
    drop(job_tx);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<FrameBatch>(4 * workers);
    // As many as can be out at once: queued, being filled, and on their way back.
    let spares = Spares::new(6 * workers);
    let (err_tx, err_rx) = crossbeam_channel::unbounded::<ClientError>();
    let mut failed = None;
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (job_rx, out_tx, spares, err_tx) = (&job_rx, out_tx.clone(), &spares, &err_tx);
            s.spawn(move || work(shared, job_rx, &out_tx, spares, err_tx));
        }
        drop(out_tx);
        for batch in out_rx.iter() {
            if let Err(e) = take(&batch) {
                shared.stop.store(true, Ordering::SeqCst);
                failed = Some(e);
                break;
            }
            spares.give(batch);
        }
        // Unblocks the workers still sending.
        drop(out_rx);
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if let Ok(e) = err_rx.try_recv() {
        return Err(e.into());
    }
    Ok(!shared.stop.load(Ordering::SeqCst))
}

/// Runs the jobs on `parallel` workers and writes their frames; returns the record count.
pub fn scan_all<W: std::io::Write>(
    shared: &ScanShared,
    jobs: Vec<Vec<Work>>,
    parallel: usize,
    w: &mut StreamWriter<W>,
    mut progress: Progress,
    bandwidth: Option<u64>,
) -> anyhow::Result<u64> {
    let (mut written, mut bytes) = (0u64, 0u64);
    let finished = run(shared, jobs, parallel, &mut |batch| {
        written += batch.counts.records;
        bytes += batch.len() as u64;
        if let Some(limit) = bandwidth {
            // Sleep until the bytes written so far fit the allowance.
            let due = Duration::from_secs_f64(bytes as f64 / (limit << 20) as f64);
            if let Some(wait) = due.checked_sub(progress.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        w.batch(batch).context("cannot write the output")?;
        progress.update(written, bytes, shared.retries.load(Ordering::Relaxed));
        Ok(())
    })?;
    if !finished && shared.spec.max_records == 0 {
        bail!("scan stopped before it finished");
    }
    Ok(written)
}
