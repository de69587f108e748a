//! as-scan's partition scans in-process (retries, resume after the last digest, node
//! failures), each record handed to a function: as-verify's comparison with the cluster and
//! as-restore's --delete-absent read the cluster so.

use anyhow::bail;
use as_common::client::filter::Work;
use as_common::client::scan::{ScanShared, ScanSpec};
use as_common::record::Record;
use as_common::stream::{Frame, FrameBatch, Header, StreamReader, StreamWriter};
use std::sync::atomic::Ordering;

/// Scans `works` with `spec` on `parallel` threads; `on` gets every record, on this thread.
pub fn each_record(
    shared: &mut ScanShared,
    spec: ScanSpec,
    works: &[Work],
    parallel: usize,
    on: &mut dyn FnMut(&Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    shared.spec = spec;
    shared.stop.store(false, Ordering::SeqCst);
    // --total-timeout is of each scan.
    shared.started = std::time::Instant::now();
    let shared = &*shared;
    let n = parallel.clamp(1, works.len().max(1));
    let jobs: Vec<Vec<Work>> = (0..n)
        .map(|i| works[works.len() * i / n..works.len() * (i + 1) / n].to_vec())
        .filter(|j| !j.is_empty())
        .collect();
    if !super::workers::run(shared, jobs, n, &mut |batch| records(batch, on))? {
        bail!("the scan stopped before it finished");
    }
    Ok(())
}

/// The records of a batch of sealed frames. The batch is read as the body of a stream (the
/// stream's reader is the one decoder of sealed records), so each is checked as every reader
/// checks it.
fn records(
    batch: &FrameBatch,
    on: &mut dyn FnMut(&Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let header = Header {
        namespace: None,
        first_file: false,
        producer: "as-tools".into(),
        scope: String::new(),
        append: false,
        origin: None,
    };
    let mut w = StreamWriter::new(Vec::with_capacity(batch.len() + 64), &header)?;
    w.batch(batch)?;
    let (bytes, _) = w.finish()?;
    let mut r = StreamReader::new(&bytes[..])?;
    while let Some(f) = r.next_frame()? {
        if let Frame::Record(rec) = f {
            on(&rec)?;
        }
    }
    Ok(())
}
