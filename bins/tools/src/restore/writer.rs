//! The writes: records grouped by the node that masters their partition into batches, a pool of
//! workers each sending one batch at a time on its own connection to that node, and asrestore's
//! error classes and retries (`batch_uploader.c`): results counted per record, record errors
//! fatal unless --ignore-record-error, transient failures retried on the partition's current
//! master (the map re-read first) after asrestore's backoff.
//!
//! Two deliberate differences from asrestore: a batch's rows that fail transiently (timeout,
//! overload, key busy, partition unavailable) are retried by themselves, where asrestore fails the
//! restore on them; and single writes (--disable-batch-writes) are pipelined, a group of them sent
//! on one connection before the answers are read, where asrestore opens a connection per record.

use super::counts::Counts;
use super::items::{Item, Items};
use as_cli::signals;
use as_common::client::cluster::Cluster;
use as_common::client::conn::Conn;
use as_common::client::write::{self, outcome, row_results, Outcome};
use as_common::client::{code_name, ClientError};
use as_common::record::partition_of;
use as_common::spares::Spares;
use as_common::wire::{result, Msg, MsgWriter, TYPE_MSG};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct WriteOptions {
    pub batch: bool,
    /// The transaction TTL sent (asrestore sends its socket timeout, 10000).
    pub timeout_ms: u32,
    pub max_retries: u32,
    pub retry_scale_us: u64,
    pub ignore_record_error: bool,
    pub namespace: String,
}

/// What the workers share.
pub struct WriteState {
    pub cluster: RwLock<Cluster>,
    pub counts: Arc<Counts>,
    pub settings: WriteOptions,
    last_refresh: Mutex<Option<Instant>>,
    /// The first error that stops the restore.
    failure: Mutex<Option<anyhow::Error>>,
}

impl WriteState {
    pub fn new(cluster: Cluster, counts: Arc<Counts>, settings: WriteOptions) -> WriteState {
        WriteState {
            cluster: RwLock::new(cluster),
            counts,
            settings,
            last_refresh: Mutex::new(None),
            failure: Mutex::new(None),
        }
    }

    fn fail(&self, e: anyhow::Error) {
        let mut f = self.failure.lock().unwrap();
        if f.is_none() {
            *f = Some(e);
        }
    }

    pub fn failed(&self) -> bool {
        self.failure.lock().unwrap().is_some()
    }

    /// Re-reads the partition map, at most every 200 ms however many workers ask.
    fn refresh(&self) {
        {
            let mut last = self.last_refresh.lock().unwrap();
            if last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
                return;
            }
            *last = Some(Instant::now());
        }
        let _ = self
            .cluster
            .write()
            .unwrap()
            .refresh(&self.settings.namespace);
    }

    /// The node to write partition `p` on: its master, else any node (a server proxies a
    /// write for a partition it does not master).
    fn node_for(&self, digest: &[u8; 20]) -> usize {
        let c = self.cluster.read().unwrap();
        c.owners[partition_of(digest) as usize].unwrap_or(0)
    }
}

/// asrestore's backoff (`retry_strategy.c`): the first retry at once, then SCALE * 2^(n-2) µs;
/// `None` once the retries are used up.
pub fn next_delay(attempts: &mut u32, max_retries: u32, scale_us: u64) -> Option<Duration> {
    if *attempts >= max_retries {
        return None;
    }
    *attempts += 1;
    Some(match *attempts {
        1 => Duration::ZERO,
        n => Duration::from_micros(scale_us.saturating_mul(1u64 << (n - 2).min(40))),
    })
}

pub struct Writer {
    tx: Option<Sender<Items>>,
    workers: Vec<JoinHandle<()>>,
    pending: HashMap<usize, Items>,
    /// Batches written, handed back by the workers.
    spares: Spares<Items>,
    batch_size: usize,
    pub shared: Arc<WriteState>,
}

impl Writer {
    /// `workers` batches are written at once; as many more may wait, ready, in the queue.
    pub fn new(shared: Arc<WriteState>, workers: usize, batch_size: usize) -> Writer {
        let (tx, rx) = bounded::<Items>(workers);
        // As many as can be out at once: queued, being written, and on their way back.
        let spares = Spares::new(3 * workers);
        let workers = (0..workers)
            .map(|_| {
                let (rx, shared, spares) = (rx.clone(), shared.clone(), spares.clone());
                signals::spawn(move || work(&shared, &rx, &spares))
            })
            .collect();
        Writer {
            tx: Some(tx),
            workers,
            pending: HashMap::new(),
            spares,
            batch_size,
            shared,
        }
    }

    pub fn put(&mut self, item: Item) {
        let node = self.shared.node_for(item.digest);
        let batch = self
            .pending
            .entry(node)
            .or_insert_with(|| self.spares.take());
        batch.push(item);
        if batch.len() >= self.batch_size {
            let full = std::mem::replace(batch, self.spares.take());
            self.send(full);
        }
    }

    fn send(&self, batch: Items) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(batch);
        }
    }

    /// Sends what is pending, waits for every write, and returns the error that stopped them.
    pub fn finish(mut self, flush: bool) -> anyhow::Result<()> {
        if flush {
            for (_, b) in std::mem::take(&mut self.pending) {
                if !b.is_empty() {
                    self.send(b);
                }
            }
        }
        drop(self.tx.take());
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        match self.shared.failure.lock().unwrap().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What a worker keeps from one batch to the next: its connections, and the buffer its batch
/// requests are built in.
#[derive(Default)]
struct Lane {
    conns: HashMap<usize, Conn>,
    request: MsgWriter,
}

fn work(shared: &WriteState, rx: &Receiver<Items>, spares: &Spares<Items>) {
    let mut lane = Lane::default();
    for batch in rx {
        // After a failure the restore stops: what is queued is not written (nor counted).
        if !shared.failed() {
            write_batch(shared, &mut lane, &batch);
        }
        spares.give(batch);
    }
}

/// `items` by the node to write each on: borrowed whole when they all go to one, as they do
/// unless the partition map changed since they were grouped.
fn by_node<'a>(shared: &WriteState, items: &'a Items) -> Vec<(usize, Cow<'a, Items>)> {
    let nodes: Vec<usize> = items.iter().map(|i| shared.node_for(i.digest)).collect();
    if nodes.windows(2).all(|w| w[0] == w[1]) {
        return nodes
            .first()
            .map(|&n| (n, Cow::Borrowed(items)))
            .into_iter()
            .collect();
    }
    let mut groups: HashMap<usize, Items> = HashMap::new();
    for (item, node) in items.iter().zip(nodes) {
        groups.entry(node).or_default().push(item);
    }
    groups
        .into_iter()
        .map(|(n, g)| (n, Cow::Owned(g)))
        .collect()
}

/// Writes one batch until every record has an outcome, or the restore must stop.
fn write_batch(shared: &WriteState, lane: &mut Lane, items: &Items) {
    let s = &shared.settings;
    let c = &shared.counts;
    let mut retry = None;
    let mut attempts = 0;
    loop {
        let todo = retry.as_ref().unwrap_or(items);
        let mut again = Items::default();
        let mut last_error = String::new();
        for (node, group) in by_node(shared, todo) {
            let mut results = vec![None; group.len()];
            if let Err(e) = exchange(shared, lane, node, &group, &mut results) {
                lane.conns.remove(&node);
                if !e.retryable() {
                    shared.fail(e.into());
                    return;
                }
                last_error = e.to_string();
            }
            // Every row's outcome is counted, those after a failure too (as asrestore does): a
            // restore that stops still says what it wrote. The first failure stops it.
            let mut failure = None;
            for (item, code) in group.iter().zip(results) {
                let Some(code) = code else {
                    again.push(item);
                    continue;
                };
                // KEY_NOT_FOUND: deleted meanwhile, which is what was wanted.
                if item.delete && (code == 0 || code == 2) {
                    Counts::add(&c.deleted, 1);
                    continue;
                }
                // A batch row the server answers SERVER_ERROR is one it refuses for its value
                // (a list or map out of order: server-behaviours S19); asrestore stops at any
                // such row too (`_batch_status_submit`). A single write's is retried, as
                // asrestore does.
                let outcome = match outcome(code) {
                    Outcome::Retry if s.batch && code == result::SERVER_ERROR => Outcome::Fatal,
                    o => o,
                };
                match outcome {
                    Outcome::Inserted => Counts::add(&c.inserted, 1),
                    Outcome::Existed => Counts::add(&c.existed, 1),
                    Outcome::Fresher => Counts::add(&c.fresher, 1),
                    Outcome::RecordError => {
                        Counts::add(&c.ignored, 1);
                        if !s.ignore_record_error && failure.is_none() {
                            failure = Some(ClientError::RecordRejected {
                                digest: base64_simd::STANDARD.encode_to_string(item.digest),
                                code,
                            });
                        }
                    }
                    Outcome::Fatal => {
                        if failure.is_none() {
                            let addr = shared.cluster.read().unwrap().nodes[node].addr.to_string();
                            failure = Some(ClientError::Rejected { addr, code });
                        }
                    }
                    Outcome::Retry => {
                        last_error = code_name(code);
                        again.push(item);
                    }
                }
            }
            if let Some(e) = failure {
                shared.fail(e.into());
                return;
            }
        }
        if again.is_empty() {
            return;
        }
        // asrestore counts a retried transaction once: a batch, or a single write.
        Counts::add(&c.retries, if s.batch { 1 } else { again.len() as u64 });
        match next_delay(&mut attempts, s.max_retries, s.retry_scale_us) {
            None => {
                shared.fail(
                    ClientError::NotWritten(format!(
                        "{} record(s) after {attempts} retries, last: {last_error}",
                        again.len()
                    ))
                    .into(),
                );
                return;
            }
            Some(d) => std::thread::sleep(d),
        }
        shared.refresh();
        retry = Some(again);
    }
}

/// Sends `group` to `node` and fills `results` with the result code of each record answered.
/// On an error, the records without a result are the ones to retry.
fn exchange(
    shared: &WriteState,
    lane: &mut Lane,
    node: usize,
    group: &Items,
    results: &mut [Option<u8>],
) -> Result<(), ClientError> {
    let conn = match lane.conns.entry(node) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(shared.cluster.read().unwrap().connect(node)?)
        }
    };
    let addr = conn.addr.to_string();
    let protocol = |m: &str| ClientError::Protocol(addr.clone(), m.to_string());
    if shared.settings.batch {
        let rows = group.iter().map(|i| i.bytes);
        conn.send(write::batch_request(
            &mut lane.request,
            rows,
            shared.settings.timeout_ms,
        ))?;
        loop {
            if conn.read()? != TYPE_MSG {
                return Err(protocol("batch answer of another proto type"));
            }
            let (rows, last) =
                row_results(&conn.body).map_err(|e| ClientError::Wire(addr.clone(), e))?;
            for r in rows {
                let slot = results
                    .get_mut(r.index as usize)
                    .ok_or_else(|| protocol("batch answer for a row not sent"))?;
                *slot = Some(r.result);
            }
            if last {
                // Rows left unanswered (none on a healthy server) are retried.
                return Ok(());
            }
        }
    } else {
        // Pipelined: every request, then every answer, in order.
        conn.send(group.bytes())?;
        for slot in results.iter_mut() {
            if conn.read()? != TYPE_MSG {
                return Err(protocol("write answer of another proto type"));
            }
            let (m, _) = Msg::parse(&conn.body).map_err(|e| ClientError::Wire(addr.clone(), e))?;
            *slot = Some(m.header.result);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_as_asrestore() {
        let mut n = 0;
        let d: Vec<_> = std::iter::from_fn(|| next_delay(&mut n, 5, 150_000)).collect();
        assert_eq!(
            d,
            [0, 150, 300, 600, 1200].map(Duration::from_millis).to_vec()
        );
        assert_eq!(next_delay(&mut 0, 0, 150_000), None, "--max-retries 0");
    }
}
