//! Partition scans, answered as an Aerospike 8.1 server answers them (`tests/data/wire`,
//! server-behaviours S1-S11): the records of each partition in descending digest order, a digest
//! resume continuing below the digest, a partition-done message only for a partition this node
//! has no copy of (result 11), and the end as a LAST message alone in its proto; an error is one
//! message with its code and no LAST.

use super::exp;
use super::store::{now_cl, partition_of, Stored, PARTITIONS};
use super::{Cluster, Conn};
use as_common::wire::{field, flags, op, result, Msg, MsgHeader, MsgWriter, WireError};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Replies are sent in protos of about this size (the recorded server's largest was 1 MiB).
const CHUNK: usize = 64 << 10;
/// A request for more partitions than this is worked as two "threads", each a contiguous half
/// of the partitions filling protos of its own, so that partitions interleave across protos as
/// on a real server (server-behaviours S2: asbackup-ns got pids 2765..4086 first, then 33..).
/// How the server deals partitions to its threads is not in the captures; a 6-partition scan came
/// in one proto in pid order (the three-node recording, server-behaviours S5), and max-records
/// takes the lowest pids first (server-behaviours S9), so those are worked as one.
const ONE_LANE_MAX: usize = 16;

struct Request<'a> {
    /// (partition, resume below this digest), ascending by partition as the server takes them.
    parts: Vec<(usize, Option<[u8; 20]>)>,
    set: Option<&'a [u8]>,
    bins: Vec<&'a [u8]>,
    no_bins: bool,
    max_records: u64,
    rps: u32,
    filter: Option<&'a [u8]>,
}

/// The request, or the result code the server refuses it with.
fn parse<'a>(msg: &Msg<'a>) -> Result<Request<'a>, u8> {
    // Without the PARTITION_DONE bit, or without partitions (an old-style whole-namespace
    // scan), an 8.x server refuses the scan (server-behaviours S6).
    let (pids, digests) = (msg.field(field::PID_ARRAY), msg.field(field::DIGEST_ARRAY));
    if msg.header.info3 & flags::INFO3_PARTITION_DONE == 0 || (pids.is_none() && digests.is_none())
    {
        return Err(result::UNSUPPORTED_FEATURE);
    }
    let mut parts = Vec::new();
    for c in pids.unwrap_or_default().chunks_exact(2) {
        parts.push((
            u16::from_le_bytes([c[0], c[1]]) as usize & (PARTITIONS - 1),
            None,
        ));
    }
    for c in digests.unwrap_or_default().chunks_exact(20) {
        let d: [u8; 20] = c.try_into().unwrap();
        parts.push((partition_of(&d), Some(d)));
    }
    parts.sort_by_key(|p| p.0);
    // The same partition twice (in both arrays) is a parameter error (server-behaviours S4).
    if parts.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(result::PARAMETER);
    }
    let be = |f: u8| {
        msg.field(f)
            .map(|d| d.iter().fold(0u64, |a, &b| a << 8 | b as u64))
    };
    Ok(Request {
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
    })
}

/// Whether the record goes out: live, in the set, matching the filter, and (with a bin list)
/// holding at least one of the bins (server-behaviours S10).
fn wanted(r: &Stored, digest: &[u8; 20], req: &Request, now: u32) -> bool {
    !r.expired(now)
        && req.set.is_none_or(|s| r.set == s)
        && req.filter.is_none_or(|f| exp::matches(f, r, digest))
        && (req.no_bins
            || req.bins.is_empty()
            || r.bins.iter().any(|b| req.bins.contains(&b.0.as_slice())))
}

/// A record as a scan returns it: NAMESPACE, DIGEST, then SET and KEY when there are, then one
/// READ op per bin; with no bin data the header keeps that flag (server-behaviours S10).
fn put_record(w: &mut MsgWriter, ns: &[u8], digest: &[u8; 20], r: &Stored, req: &Request) {
    w.message(&MsgHeader {
        info1: if req.no_bins {
            flags::INFO1_NOBINDATA
        } else {
            0
        },
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

/// A lone message with this result code.
fn message(conn: &mut Conn, info3: u8, code: u8) -> Result<(), WireError> {
    let mut w = MsgWriter::new();
    w.begin_proto();
    w.message(&MsgHeader {
        info3,
        result: code,
        ..Default::default()
    });
    conn.write(w.finish())
}

pub fn scan(cluster: &Cluster, node: usize, conn: &mut Conn, msg: &Msg) -> Result<(), WireError> {
    let Some(ns) = msg
        .field(field::NAMESPACE)
        .and_then(|n| cluster.namespace(n))
    else {
        return super::reply_code(conn, result::INVALID_NAMESPACE);
    };
    let req = match parse(msg) {
        Ok(r) => r,
        Err(code) => return super::reply_code(conn, code),
    };
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

    let n = req.parts.len();
    let lanes_n = if n > ONE_LANE_MAX && req.max_records == 0 {
        2
    } else {
        1
    };
    let mut lanes: Vec<MsgWriter> = (0..lanes_n)
        .map(|_| {
            let mut w = MsgWriter::new();
            w.begin_proto();
            w
        })
        .collect();
    // (lane, partition index): the halves' partitions taken in turn.
    let half = n.div_ceil(lanes_n);
    let order = (0..half).flat_map(|i| (0..lanes_n).map(move |l| (l, l * half + i)));
    let started = Instant::now();
    let mut sent = 0u64;
    let now = now_cl();
    'parts: for (lane, i) in order.filter(|&(_, i)| i < n) {
        let (p, below) = req.parts[i];
        let w = &mut lanes[lane];
        // A node taken away drops its connections, as a killed server's are reset.
        if !cluster.nodes[node].alive.load(Ordering::SeqCst) {
            conn.cut();
            return Err(WireError::Closed);
        }
        if !cluster.serves(node, p) {
            partition_done(w, p, result::PARTITION_UNAVAILABLE);
            continue;
        }
        // Copy the partition so no lock is held while the client reads.
        let records: Vec<([u8; 20], Stored)> = {
            let part = ns.parts[p].lock().unwrap();
            let range = match below {
                Some(d) => part.range(..d),
                None => part.range::<[u8; 20], _>(..),
            };
            range.rev().map(|(d, r)| (*d, r.clone())).collect()
        };
        for (digest, r) in &records {
            if !wanted(r, digest, &req, now) {
                continue;
            }
            // max-records: exactly that many, from the lowest partitions up, and no word of
            // the partitions left unfinished (server-behaviours S9).
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
            put_record(w, ns.name.as_bytes(), digest, r, &req);
            sent += 1;
            cluster.scanned[node].fetch_add(1, Ordering::Relaxed);
            if w.body_len() >= CHUNK {
                conn.write(w.finish())?;
                w.begin_proto();
            }
        }
        if cluster.legacy_partition_done {
            partition_done(w, p, result::OK);
        }
    }
    // The later half's last proto first, as recorded.
    for w in lanes.iter_mut().rev() {
        if w.body_len() > 0 {
            conn.write(w.finish())?;
        }
    }
    message(conn, flags::INFO3_LAST, result::OK)
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
