//! Partition scans that keep particles raw, tracked as the official clients track them (C
//! `as_partition_tracker.c`, Go `partition_tracker.go`): a partition's resume point is the last
//! record received for it, in whatever order the server sends them (descending by digest on
//! 8.x); a partition is done when its node's scan ends with LAST and the node neither reported it
//! unavailable nor stopped at its share of `max_records`. Unavailable partitions, and every
//! partition of a node whose scan failed, are retried after their last digest on the next copy.
//! Records and partition-done markers go out as sealed stream frames.

use super::cluster::Cluster;
use super::filter::Work;
use super::ClientError;
use crate::record::{partition_of, Bin, Record, Value, DIGEST_LEN};
use crate::stream::{FrameBatch, PartitionDone, PartitionStatus};
use crate::wire::{field, flags, op, result, Msg, MsgHeader, MsgWriter};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// What to scan and how.
#[derive(Debug, Clone, Default)]
pub struct ScanSpec {
    pub namespace: String,
    /// Exactly one set goes in the SET field; several go into `filter_exp` (the caller builds it).
    pub set: Option<String>,
    pub bins: Vec<String>,
    pub no_bins: bool,
    pub filter_exp: Option<Vec<u8>>,
    /// 0 = no limit. Never more records than this in all; spread over the nodes as the
    /// official clients spread it, so a multi-node scan may return fewer.
    pub max_records: u64,
    /// Per request, 0 = unlimited.
    pub records_per_second: u32,
    pub socket_timeout: Duration,
    pub total_timeout: Option<Duration>,
    pub max_retries: u32,
    pub sleep_between_retries: Duration,
    /// Scan each partition on a copy in one of these racks when there is one.
    pub prefer_racks: Vec<u32>,
    /// Say on stderr what goes to and comes from each node.
    pub debug: bool,
}

/// Shared by the workers of one backup.
pub struct ScanShared {
    pub cluster: RwLock<Cluster>,
    pub spec: ScanSpec,
    /// Records handed out so far, against `max_records`.
    pub records: AtomicU64,
    /// Set when the record limit was reached or a worker failed: everyone stops.
    pub stop: AtomicBool,
    pub started: Instant,
    /// Retries so far: one for each job's each round of retried partitions.
    pub retries: AtomicU64,
}

/// Hands a batch's sealed frames to the writer, leaving it empty (it may swap in a spare
/// buffer); returns false when the writer is gone.
pub type Sink<'a> = dyn FnMut(&mut FrameBatch) -> bool + 'a;

/// Sends a batch once it holds about this much.
const BATCH_BYTES: usize = 256 << 10;

/// A partition still to scan: where to resume, and which copy to try (raised on each failure,
/// as the clients' `sequence`).
#[derive(Debug, Clone, Copy)]
struct Part {
    digest: Option<[u8; DIGEST_LEN]>,
    sequence: usize,
}

/// How one node's scan ended.
struct NodeEnd {
    /// Partitions the node reported unavailable.
    unavailable: BTreeSet<u16>,
    /// Whether it sent its whole share of `max_records` (so it may hold more).
    hit_max: bool,
}

/// Shares of `max` for `nodes` nodes, as the official clients deal them: equal parts, the
/// remainder to the first nodes; one each when there are more nodes than records (the surplus is
/// then dropped on arrival).
fn shares(max: u64, nodes: usize) -> Vec<u64> {
    let n = nodes as u64;
    if max >= n {
        (0..n).map(|i| max / n + u64::from(i < max % n)).collect()
    } else {
        vec![1; nodes]
    }
}

impl ScanShared {
    pub fn new(cluster: Cluster, spec: ScanSpec) -> Self {
        ScanShared {
            cluster: RwLock::new(cluster),
            spec,
            records: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            started: Instant::now(),
            retries: AtomicU64::new(0),
        }
    }

    fn debug(&self, what: impl FnOnce() -> String) {
        if self.spec.debug {
            tracing::debug!("{}", what());
        }
    }

    fn limit_reached(&self) -> bool {
        let m = self.spec.max_records;
        m > 0 && self.records.load(Ordering::SeqCst) >= m
    }

    /// Scans one job to the end: every partition done, or an error once retries run out.
    pub fn scan_job(&self, job: &[Work], sink: &mut Sink) -> Result<(), ClientError> {
        let mut pending: BTreeMap<u16, Part> = job
            .iter()
            .map(|&(p, digest)| {
                (
                    p,
                    Part {
                        digest,
                        sequence: 0,
                    },
                )
            })
            .collect();
        let mut batch = FrameBatch::default();
        let mut attempt = 0;
        let mut last_error: Option<ClientError> = None;
        while !pending.is_empty() && !self.stop.load(Ordering::SeqCst) {
            if let Some(t) = self.spec.total_timeout {
                if self.started.elapsed() > t {
                    return Err(ClientError::Incomplete(format!(
                        "total timeout of {} ms passed",
                        t.as_millis()
                    )));
                }
            }
            let allowance = match self.spec.max_records {
                0 => None,
                m => Some(m.saturating_sub(self.records.load(Ordering::SeqCst))),
            };
            if allowance == Some(0) {
                break;
            }
            // Each pending partition to the node holding the copy its sequence names.
            let mut by_node: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
            let mut orphans = 0;
            {
                let c = self.cluster.read().unwrap();
                for (&p, part) in &pending {
                    match c.node_for_attempt(p as usize, &self.spec.prefer_racks, part.sequence) {
                        Some(n) => by_node.entry(n).or_default().push(p),
                        None => orphans += 1,
                    }
                }
            }
            if orphans > 0 {
                last_error = Some(ClientError::Incomplete(format!(
                    "{orphans} partition(s) have no node holding a copy"
                )));
            }
            let maxes = allowance.map(|m| shares(m, by_node.len()));
            let mut retry = orphans;
            for (k, (node, parts)) in by_node.into_iter().enumerate() {
                let max = maxes.as_ref().map(|m| m[k]);
                match self.scan_node(node, &parts, max, &mut pending, &mut batch, sink) {
                    Ok(end) => {
                        retry += end.unavailable.len();
                        for p in &parts {
                            if end.unavailable.contains(p) {
                                continue;
                            }
                            let part = pending.remove(p).expect("a pending partition");
                            if end.hit_max {
                                continue; // as far as the record limit goes
                            }
                            let done = PartitionDone {
                                partition: *p,
                                status: PartitionStatus::Complete,
                                last_digest: part.digest,
                            };
                            batch
                                .partition_done(&done)
                                .map_err(|e| ClientError::Incomplete(e.to_string()))?;
                        }
                    }
                    Err(e) if e.retryable() => {
                        if self.spec.debug {
                            let node = self.node_name(node);
                            tracing::debug!(
                                %node,
                                partitions = parts.len(),
                                error = %e,
                                "{node}: {e}; its {} partition(s) go to their next copy",
                                parts.len()
                            );
                        }
                        for p in &parts {
                            if let Some(part) = pending.get_mut(p) {
                                part.sequence += 1;
                            }
                        }
                        retry += parts.len();
                        last_error = Some(e);
                    }
                    Err(e) => return Err(e),
                }
                if self.stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            if !batch.is_empty() && !sink(&mut batch) {
                return Err(ClientError::Incomplete("the output closed".into()));
            }
            if retry == 0 || self.limit_reached() || self.stop.load(Ordering::SeqCst) {
                break;
            }
            attempt += 1;
            if attempt > self.spec.max_retries {
                let first = pending.keys().next().copied().unwrap_or(0);
                return Err(ClientError::Incomplete(format!(
                    "{} partition(s) (first {first}) not scanned after {} retries{}",
                    pending.len(),
                    self.spec.max_retries,
                    last_error
                        .map(|e| format!("; last error: {e}"))
                        .unwrap_or_default()
                )));
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            if self.spec.debug {
                tracing::debug!(
                    retry = attempt,
                    partitions = pending.len(),
                    namespace = %self.spec.namespace,
                    "retry {attempt} of {}: {} partition(s), after their last digest",
                    self.spec.max_retries,
                    pending.len()
                );
            }
            std::thread::sleep(self.spec.sleep_between_retries);
            let mut c = self.cluster.write().unwrap();
            let _ = c.refresh(&self.spec.namespace);
        }
        if !batch.is_empty() && !sink(&mut batch) {
            return Err(ClientError::Incomplete("the output closed".into()));
        }
        Ok(())
    }

    fn node_name(&self, node: usize) -> String {
        let c = self.cluster.read().unwrap();
        c.nodes.get(node).map_or_else(
            || format!("node {node}"),
            |n| format!("{} {}", n.name, n.addr),
        )
    }

    fn request(&self, parts: &[(u16, Option<[u8; DIGEST_LEN]>)], max: Option<u64>) -> Vec<u8> {
        let s = &self.spec;
        let mut w = MsgWriter::new();
        w.begin_proto();
        let mut info1 = flags::INFO1_READ;
        if s.no_bins {
            info1 |= flags::INFO1_NOBINDATA;
        }
        // As the C client sends it (asbackup-scopes/*/conn-0[13].c2s): record TTL -1, fields
        // NAMESPACE, SET, SOCKET_TIMEOUT, TRID, FILTER_EXP, PID_ARRAY and/or DIGEST_ARRAY,
        // MAX_RECORDS; bins as READ ops.
        w.message(&MsgHeader {
            info1,
            info3: flags::INFO3_PARTITION_DONE,
            ttl: u32::MAX,
            timeout: s.total_timeout.map_or(0, |t| t.as_millis() as u32),
            ..Default::default()
        });
        w.field(field::NAMESPACE, s.namespace.as_bytes());
        if let Some(set) = &s.set {
            w.field(field::SET, set.as_bytes());
        }
        if s.records_per_second > 0 {
            w.field(
                field::RECORDS_PER_SECOND,
                &s.records_per_second.to_be_bytes(),
            );
        }
        w.field(
            field::SOCKET_TIMEOUT,
            &(s.socket_timeout.as_millis() as u32).to_be_bytes(),
        );
        let id = self.started.elapsed().as_nanos() as u64 ^ (std::process::id() as u64) << 32;
        w.field(field::QUERY_ID, &id.to_be_bytes());
        if let Some(e) = &s.filter_exp {
            w.field(field::FILTER_EXP, e);
        }
        // A partition goes in one array only: the same pid in both is a parameter error.
        let pids: Vec<u8> = parts
            .iter()
            .filter(|(_, d)| d.is_none())
            .flat_map(|(p, _)| p.to_le_bytes())
            .collect();
        if !pids.is_empty() {
            w.field(field::PID_ARRAY, &pids);
        }
        let digests: Vec<u8> = parts.iter().filter_map(|(_, d)| *d).flatten().collect();
        if !digests.is_empty() {
            w.field(field::DIGEST_ARRAY, &digests);
        }
        if let Some(m) = max {
            w.field(field::MAX_RECORDS, &m.to_be_bytes());
        }
        if !s.no_bins {
            for b in &s.bins {
                w.op(op::READ, 0, b.as_bytes(), &[]);
            }
        }
        w.finish().to_vec()
    }

    /// Scans `parts` on `node` until its LAST; the resume digest of each partition follows the
    /// records as they arrive.
    fn scan_node(
        &self,
        node: usize,
        parts: &[u16],
        max: Option<u64>,
        pending: &mut BTreeMap<u16, Part>,
        batch: &mut FrameBatch,
        sink: &mut Sink,
    ) -> Result<NodeEnd, ClientError> {
        let asked: Vec<(u16, Option<[u8; DIGEST_LEN]>)> =
            parts.iter().map(|p| (*p, pending[p].digest)).collect();
        let mut conn = self.cluster.read().unwrap().connect(node)?;
        let name = self.node_name(node);
        self.debug(|| {
            let resumed = asked.iter().filter(|(_, d)| d.is_some()).count();
            format!(
                "{name}: scan of {} partition(s) ({resumed} resumed after a digest){}",
                asked.len(),
                max.map(|m| format!(", max-records {m}"))
                    .unwrap_or_default()
            )
        });
        conn.send(&self.request(&asked, max))?;
        let addr = conn.addr.to_string();
        let ns = self.spec.namespace.as_bytes();
        let mut mine = [false; crate::record::PARTITIONS as usize];
        for p in parts {
            mine[*p as usize] = true;
        }
        let mut end = NodeEnd {
            unavailable: BTreeSet::new(),
            hit_max: false,
        };
        let (mut received, mut dropped) = (0u64, 0u64);
        loop {
            let t = conn.read()?;
            if t != crate::wire::TYPE_MSG {
                return Err(ClientError::Protocol(
                    addr,
                    format!("unexpected reply type {t} to a scan"),
                ));
            }
            let body = std::mem::take(&mut conn.body);
            let mut at = 0;
            // One message and one list of bins for all of the reply's records.
            let mut m = Msg::default();
            let mut bins = Vec::new();
            while at < body.len() {
                at += m
                    .parse_into(&body[at..])
                    .map_err(|e| ClientError::Wire(addr.clone(), e))?;
                let h = m.header;
                if h.info3 & flags::INFO3_PARTITION_DONE != 0 {
                    // 8.x sends one only for a partition it could not scan; older servers also
                    // sent one with OK for each finished partition, which changes nothing.
                    if h.result != result::OK {
                        let p = h.generation as u16;
                        if let Some(part) = pending.get_mut(&p) {
                            part.sequence += 1;
                            end.unavailable.insert(p);
                        }
                    }
                    continue;
                }
                if h.info3 & flags::INFO3_LAST != 0 {
                    if h.result != result::OK && h.result != result::KEY_NOT_FOUND {
                        return Err(ClientError::Server {
                            addr,
                            code: h.result,
                        });
                    }
                    end.hit_max = max.is_some_and(|m| received + dropped >= m);
                    self.debug(|| {
                        format!(
                            "{name}: LAST after {received} record(s){}{}",
                            match end.unavailable.len() {
                                0 => String::new(),
                                n => format!(
                                    ", {n} partition(s) unavailable ({}{})",
                                    end.unavailable
                                        .iter()
                                        .take(8)
                                        .map(u16::to_string)
                                        .collect::<Vec<_>>()
                                        .join(", "),
                                    if n > 8 { ", ..." } else { "" }
                                ),
                            },
                            if end.hit_max {
                                ", its share of max-records reached"
                            } else {
                                ""
                            }
                        )
                    });
                    return Ok(end);
                }
                if h.result != result::OK {
                    if h.result == result::FILTERED_OUT || h.result == result::KEY_NOT_FOUND {
                        continue;
                    }
                    // An error ends the scan: one message, no LAST follows (8.x).
                    return Err(ClientError::Server {
                        addr,
                        code: h.result,
                    });
                }
                let rec = record_with(&m, ns, std::mem::take(&mut bins))
                    .map_err(|e| ClientError::Protocol(addr.clone(), e.into()))?;
                let p = partition_of(&rec.digest);
                if !mine[p as usize] {
                    self.debug(|| {
                        format!("{name}: a record of partition {p}, not asked for: dropped")
                    });
                    continue;
                }
                if self.spec.max_records > 0
                    && self.records.fetch_add(1, Ordering::SeqCst) >= self.spec.max_records
                {
                    // Past the limit (more nodes than records): counted, not kept, and not a
                    // resume point.
                    dropped += 1;
                    continue;
                }
                if self.spec.max_records == 0 {
                    self.records.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(part) = pending.get_mut(&p) {
                    part.digest = Some(rec.digest);
                }
                received += 1;
                batch
                    .record(&rec)
                    .map_err(|e| ClientError::Protocol(addr.clone(), e.to_string()))?;
                bins = rec.bins;
                if batch.len() >= BATCH_BYTES && !sink(batch) {
                    self.stop.store(true, Ordering::SeqCst);
                    return Err(ClientError::Incomplete("the output closed".into()));
                }
            }
            conn.body = body;
        }
    }
}

/// A scan reply message as a record, borrowing its bytes from the message.
pub fn record_of<'a>(m: &Msg<'a>, default_ns: &'a [u8]) -> Result<Record<'a>, &'static str> {
    record_with(m, default_ns, Vec::new())
}

/// [`record_of`], its bins in `bins` (emptied first), a list to reuse.
pub fn record_with<'a>(
    m: &Msg<'a>,
    default_ns: &'a [u8],
    mut bins: Vec<Bin<'a>>,
) -> Result<Record<'a>, &'static str> {
    bins.clear();
    let digest: [u8; DIGEST_LEN] = m
        .field(field::DIGEST)
        .and_then(|d| d.try_into().ok())
        .ok_or("record without a 20-byte digest")?;
    let key = match m.field(field::KEY) {
        Some([t, rest @ ..]) => Some(Value::new(*t, rest)),
        _ => None,
    };
    Ok(Record {
        namespace: Cow::Borrowed(m.field(field::NAMESPACE).unwrap_or(default_ns)),
        set: m
            .field(field::SET)
            .filter(|s| !s.is_empty())
            .map(Cow::Borrowed),
        digest,
        key,
        generation: m.header.generation as u16,
        expiry: m.header.ttl,
        bins: {
            for o in &m.ops {
                let data = if o.ptype == crate::record::particle::GEOJSON {
                    geojson_text(o.value)?
                } else {
                    o.value
                };
                bins.push(Bin {
                    name: Cow::Borrowed(o.name),
                    value: Value::new(o.ptype, data),
                });
            }
            bins
        },
    })
}

/// The JSON text of a GeoJSON particle as servers send it: a flags byte, a big-endian u16 count
/// of 8-byte cell ids, the cells, then the text. Backups keep only the text, as asbackup does.
pub fn geojson_text(p: &[u8]) -> Result<&[u8], &'static str> {
    let cells = match p {
        [_, a, b, ..] => u16::from_be_bytes([*a, *b]) as usize,
        _ => return Err("GeoJSON particle shorter than its header"),
    };
    p.get(3 + 8 * cells..)
        .ok_or("GeoJSON particle shorter than its cells")
}

#[cfg(test)]
mod tests {
    #[test]
    fn max_records_shares_as_the_clients_deal_them() {
        assert_eq!(super::shares(10, 3), vec![4, 3, 3]);
        assert_eq!(super::shares(1000, 1), vec![1000]);
        assert_eq!(super::shares(2, 3), vec![1, 1, 1]);
    }
}
