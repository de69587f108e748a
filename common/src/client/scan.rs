//! Partition scans that keep particles raw. Each job (a list of partitions) is scanned on the
//! partitions' masters; a partition that comes back unavailable, or whose node fails mid-scan,
//! is retried on its current master from the last digest delivered, so no record is lost or
//! written twice. Records and partition-done markers go out as sealed stream frames.

use super::cluster::Cluster;
use super::filter::Work;
use super::ClientError;
use crate::record::{partition_of, Bin, Record, Value, DIGEST_LEN};
use crate::stream::{FrameBatch, PartitionDone, PartitionStatus};
use crate::wire::{field, flags, op, result, Msg, MsgHeader, MsgWriter};
use std::borrow::Cow;
use std::collections::BTreeMap;
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
    /// 0 = no limit (approximate across workers, as asbackup's).
    pub max_records: u64,
    /// Per request, 0 = unlimited.
    pub records_per_second: u32,
    pub socket_timeout: Duration,
    pub total_timeout: Option<Duration>,
    pub max_retries: u32,
    pub sleep_between_retries: Duration,
    /// Scan each partition on a copy in one of these racks when there is one.
    pub prefer_racks: Vec<u32>,
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
}

/// Hands sealed frames to the writer; returns false when the writer is gone.
pub type Sink<'a> = dyn FnMut(FrameBatch) -> bool + 'a;

/// Sends a batch once it holds about this much.
const BATCH_BYTES: usize = 256 << 10;

impl ScanShared {
    pub fn new(cluster: Cluster, spec: ScanSpec) -> Self {
        ScanShared {
            cluster: RwLock::new(cluster),
            spec,
            records: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    fn limit_reached(&self) -> bool {
        let m = self.spec.max_records;
        m > 0 && self.records.load(Ordering::SeqCst) >= m
    }

    /// Scans one job to the end: every partition done, or an error once retries run out.
    pub fn scan_job(&self, job: &[Work], sink: &mut Sink) -> Result<(), ClientError> {
        let mut pending: BTreeMap<u16, Option<[u8; DIGEST_LEN]>> = job.iter().copied().collect();
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
            // Group the pending partitions by master.
            let mut by_node: BTreeMap<usize, Vec<Work>> = BTreeMap::new();
            let mut orphans = 0;
            {
                let c = self.cluster.read().unwrap();
                for (&p, &d) in &pending {
                    match c.node_for(p as usize, &self.spec.prefer_racks) {
                        Some(n) => by_node.entry(n).or_default().push((p, d)),
                        None => orphans += 1,
                    }
                }
            }
            if orphans > 0 {
                last_error = Some(ClientError::Incomplete(format!(
                    "{orphans} partition(s) have no master"
                )));
            }
            for (node, parts) in by_node {
                match self.scan_node(node, &parts, &mut pending, &mut batch, sink) {
                    Ok(()) => {}
                    Err(e) if e.retryable() => last_error = Some(e),
                    Err(e) => return Err(e),
                }
                if self.stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            if !batch.is_empty() && !sink(std::mem::take(&mut batch)) {
                return Err(ClientError::Incomplete("the output closed".into()));
            }
            if pending.is_empty() || self.stop.load(Ordering::SeqCst) {
                break;
            }
            // Partitions left: unavailable, orphaned, or on a node that failed. Retry them on
            // their current masters after their last delivered digest.
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
            std::thread::sleep(self.spec.sleep_between_retries);
            let mut c = self.cluster.write().unwrap();
            let _ = c.refresh(&self.spec.namespace);
        }
        if !batch.is_empty() && !sink(batch) {
            return Err(ClientError::Incomplete("the output closed".into()));
        }
        Ok(())
    }

    fn request(&self, parts: &[Work]) -> Vec<u8> {
        let s = &self.spec;
        let mut w = MsgWriter::new();
        w.begin_proto();
        let mut info1 = flags::INFO1_READ;
        if s.no_bins {
            info1 |= flags::INFO1_NOBINDATA;
        }
        w.message(&MsgHeader {
            info1,
            info3: flags::INFO3_PARTITION_DONE,
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
        if s.max_records > 0 {
            let left = s
                .max_records
                .saturating_sub(self.records.load(Ordering::SeqCst))
                .max(1);
            w.field(field::MAX_RECORDS, &left.to_be_bytes());
        }
        if !s.no_bins {
            for b in &s.bins {
                w.op(op::READ, 0, b.as_bytes(), &[]);
            }
        }
        w.finish().to_vec()
    }

    fn scan_node(
        &self,
        node: usize,
        parts: &[Work],
        pending: &mut BTreeMap<u16, Option<[u8; DIGEST_LEN]>>,
        batch: &mut FrameBatch,
        sink: &mut Sink,
    ) -> Result<(), ClientError> {
        let mut conn = self.cluster.read().unwrap().connect(node)?;
        conn.send(&self.request(parts))?;
        let addr = conn.addr.to_string();
        let ns = self.spec.namespace.as_bytes();
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
            let mut last = false;
            while at < body.len() {
                let (m, used) =
                    Msg::parse(&body[at..]).map_err(|e| ClientError::Wire(addr.clone(), e))?;
                at += used;
                let h = m.header;
                if h.info3 & flags::INFO3_PARTITION_DONE != 0 {
                    let p = h.generation as u16;
                    if h.result == result::OK {
                        if let Some(last_digest) = pending.remove(&p) {
                            let done = PartitionDone {
                                partition: p,
                                status: PartitionStatus::Complete,
                                last_digest,
                            };
                            batch
                                .partition_done(&done)
                                .map_err(|e| ClientError::Protocol(addr.clone(), e.to_string()))?;
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
                    last = true;
                    break;
                }
                if h.result != result::OK {
                    if h.result == result::FILTERED_OUT || h.result == result::KEY_NOT_FOUND {
                        continue;
                    }
                    return Err(ClientError::Server {
                        addr,
                        code: h.result,
                    });
                }
                let rec =
                    record_of(&m, ns).map_err(|e| ClientError::Protocol(addr.clone(), e.into()))?;
                let p = partition_of(&rec.digest);
                // Deliver each record once: only for partitions still pending, after their
                // resume point.
                match pending.get_mut(&p) {
                    Some(resume) if resume.is_none_or(|d| rec.digest > d) => {
                        *resume = Some(rec.digest)
                    }
                    _ => continue,
                }
                if self.spec.max_records > 0 {
                    let n = self.records.fetch_add(1, Ordering::SeqCst);
                    if n >= self.spec.max_records {
                        self.stop.store(true, Ordering::SeqCst);
                        return Ok(());
                    }
                } else {
                    self.records.fetch_add(1, Ordering::Relaxed);
                }
                batch
                    .record(&rec)
                    .map_err(|e| ClientError::Protocol(addr.clone(), e.to_string()))?;
                if batch.len() >= BATCH_BYTES && !sink(std::mem::take(batch)) {
                    self.stop.store(true, Ordering::SeqCst);
                    return Err(ClientError::Incomplete("the output closed".into()));
                }
            }
            conn.body = body;
            if last {
                if self.limit_reached() {
                    self.stop.store(true, Ordering::SeqCst);
                }
                return Ok(());
            }
        }
    }
}

/// A scan reply message as a record, borrowing its bytes from the message.
pub fn record_of<'a>(m: &Msg<'a>, default_ns: &'a [u8]) -> Result<Record<'a>, &'static str> {
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
        bins: m
            .ops
            .iter()
            .map(|o| {
                let data = if o.ptype == crate::record::particle::GEOJSON {
                    geojson_text(o.value)?
                } else {
                    o.value
                };
                Ok(Bin {
                    name: Cow::Borrowed(o.name),
                    value: Value::new(o.ptype, data),
                })
            })
            .collect::<Result<_, &'static str>>()?,
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
