//! Partition scans: the reply stream of records, partition-done markers and the last message,
//! with digest resume, set and expression filters, bin selection, max records and records per
//! second, and the fault knobs.

use super::exp;
use super::store::{now_cl, partition_of, Stored, PARTITIONS};
use super::{Cluster, Conn};
use as_common::wire::{field, flags, op, result, Msg, MsgHeader, MsgWriter, WireError};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Replies are sent in protos of about this size, as a server batches them.
const CHUNK: usize = 64 << 10;

struct Request<'a> {
    /// (partition, resume after this digest)
    parts: Vec<(usize, Option<[u8; 20]>)>,
    set: Option<&'a [u8]>,
    bins: Vec<&'a [u8]>,
    no_bins: bool,
    max_records: u64,
    rps: u32,
    filter: Option<&'a [u8]>,
}

fn parse<'a>(cluster: &Cluster, node: usize, msg: &Msg<'a>) -> Request<'a> {
    let mut parts = Vec::new();
    if let Some(pids) = msg.field(field::PID_ARRAY) {
        for c in pids.chunks_exact(2) {
            parts.push((
                u16::from_le_bytes([c[0], c[1]]) as usize & (PARTITIONS - 1),
                None,
            ));
        }
    }
    if let Some(ds) = msg.field(field::DIGEST_ARRAY) {
        for c in ds.chunks_exact(20) {
            let d: [u8; 20] = c.try_into().unwrap();
            parts.push((partition_of(&d), Some(d)));
        }
    }
    if msg.field(field::PID_ARRAY).is_none() && msg.field(field::DIGEST_ARRAY).is_none() {
        parts = (0..PARTITIONS)
            .filter(|&p| cluster.owner(p) == Some(node))
            .map(|p| (p, None))
            .collect();
    }
    let be = |f: u8| {
        msg.field(f)
            .map(|d| d.iter().fold(0u64, |a, &b| a << 8 | b as u64))
    };
    Request {
        parts,
        set: msg.field(field::SET).filter(|s| !s.is_empty()),
        bins: msg
            .ops
            .iter()
            .filter(|o| o.op == op::READ && !o.name.is_empty())
            .map(|o| o.name)
            .collect(),
        no_bins: msg.header.info1 & flags::INFO1_NOBINDATA != 0,
        max_records: be(field::MAX_RECORDS).unwrap_or(0),
        rps: be(field::RECORDS_PER_SECOND).unwrap_or(0) as u32,
        filter: msg.field(field::FILTER_EXP),
    }
}

fn put_record(w: &mut MsgWriter, ns: &[u8], digest: &[u8; 20], r: &Stored, req: &Request) {
    w.message(&MsgHeader {
        generation: r.generation as u32,
        ttl: r.void_time,
        ..Default::default()
    });
    w.field(field::NAMESPACE, ns);
    w.field(field::DIGEST, digest);
    if !r.set.is_empty() {
        w.field(field::SET, &r.set);
    }
    if let Some((t, k)) = &r.key {
        w.field_parts(field::KEY, &[&[*t], k]);
    }
    if req.no_bins {
        return;
    }
    for b in &r.bins {
        if req.bins.is_empty() || req.bins.contains(&b.0.as_slice()) {
            w.op(op::READ, b.1, &b.0, &b.2);
        }
    }
}

fn partition_done(w: &mut MsgWriter, p: usize, code: u8) {
    w.message(&MsgHeader {
        info3: flags::INFO3_PARTITION_DONE,
        result: code,
        generation: p as u32,
        ..Default::default()
    });
}

pub fn scan(cluster: &Cluster, node: usize, conn: &mut Conn, msg: &Msg) -> Result<(), WireError> {
    let Some(ns) = msg
        .field(field::NAMESPACE)
        .and_then(|n| cluster.namespace(n))
    else {
        return super::reply_code(conn, result::INVALID_NAMESPACE);
    };
    let req = parse(cluster, node, msg);
    if let Some(f) = req.filter {
        if let Err(e) = exp::check(f) {
            if std::env::var_os("AS_TESTD_DEBUG").is_some() {
                eprintln!("as-testd: unsupported filter expression: {e}");
            }
            return super::reply_code(conn, result::PARAMETER);
        }
    }
    let stall = {
        let mut f = cluster.faults.lock().unwrap();
        match f.stall {
            Some((n, ms)) if n == node => {
                f.stall = None;
                Some(ms)
            }
            _ => None,
        }
    };
    if let Some(ms) = stall {
        std::thread::sleep(Duration::from_millis(ms));
    }

    let mut w = MsgWriter::new();
    w.begin_proto();
    let started = Instant::now();
    let mut sent = 0u64;
    let now = now_cl();
    'parts: for &(p, after) in &req.parts {
        if !cluster.serves(node, p) {
            partition_done(&mut w, p, result::PARTITION_UNAVAILABLE);
            continue;
        }
        // Copy the partition so no lock is held while the client reads.
        let records: Vec<([u8; 20], Stored)> = {
            let part = ns.parts[p].lock().unwrap();
            let range = match after {
                Some(d) => part.range((std::ops::Bound::Excluded(d), std::ops::Bound::Unbounded)),
                None => part.range::<[u8; 20], _>(..),
            };
            range.map(|(d, r)| (*d, r.clone())).collect()
        };
        for (digest, r) in &records {
            if r.expired(now) || req.set.is_some_and(|s| r.set != s) {
                continue;
            }
            if let Some(f) = req.filter {
                if !exp::matches(f, r, digest) {
                    continue;
                }
            }
            if req.max_records > 0 && sent >= req.max_records {
                break 'parts;
            }
            if drop_now(cluster, node) {
                conn.write(w.finish())?;
                conn.cut();
                return Err(WireError::Closed);
            }
            if req.rps > 0 {
                let due = Duration::from_secs_f64(sent as f64 / req.rps as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    conn.write(w.finish())?;
                    w.begin_proto();
                    std::thread::sleep(wait);
                }
            }
            put_record(&mut w, ns.name.as_bytes(), digest, r, &req);
            sent += 1;
            cluster.scanned[node].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if w.body_len() >= CHUNK {
                conn.write(w.finish())?;
                w.begin_proto();
            }
        }
        partition_done(&mut w, p, result::OK);
    }
    w.message(&MsgHeader {
        info3: flags::INFO3_LAST,
        ..Default::default()
    });
    conn.write(w.finish())?;
    Ok(())
}

/// Counts a record against a drop-after fault of this node; true when the connection must drop
/// now. Also drops when the node was taken away mid-scan.
fn drop_now(cluster: &Cluster, node: usize) -> bool {
    if !cluster.nodes[node].alive.load(Ordering::SeqCst) {
        return true;
    }
    let mut f = cluster.faults.lock().unwrap();
    match &mut f.drop_after {
        Some((n, k)) if *n == node => {
            if *k == 0 {
                f.drop_after = None;
                return true;
            }
            *k -= 1;
            false
        }
        _ => false,
    }
}
