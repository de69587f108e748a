//! Single-record commands: reads, writes, deletes, touches and simple operate calls, with the
//! server's generation, TTL, send-key and exists semantics, refusing the bin values a server
//! refuses (`check.rs`); and batch writes, each row applied as the same command (`batch.rs`).

use super::store::{now_cl, now_ns, partition_of, Stored, StoredBin};
use super::{check, Cluster};
use as_common::record::particle;
use as_common::wire::{field, flags, op, result, Msg, MsgHeader, MsgWriter};

const TTL_NEVER: u32 = u32::MAX; // -1
const TTL_KEEP: u32 = u32::MAX - 1; // -2: do not change the expiry
const TTL_DEFAULT: u32 = 0;

/// What a command did: its result code, the record's generation and void time after it (0 and
/// 0 on errors), and the bins it read.
pub struct Applied {
    pub code: u8,
    pub generation: u32,
    pub void_time: u32,
    pub bins: Vec<StoredBin>,
}

fn reply(code: u8, rec: Option<&Stored>, bins: Option<&[&StoredBin]>) -> Applied {
    Applied {
        code,
        generation: rec.map_or(0, |r| r.generation as u32),
        void_time: rec.map_or(0, |r| r.void_time),
        bins: bins
            .unwrap_or_default()
            .iter()
            .map(|b| (*b).clone())
            .collect(),
    }
}

/// A single command's answer: one message, the bins read as READ ops.
pub fn single(cluster: &Cluster, msg: &Msg) -> Vec<u8> {
    let a = match msg
        .field(field::DIGEST)
        .and_then(|d| <[u8; 20]>::try_from(d).ok())
    {
        Some(digest) => apply(cluster, msg, &digest),
        None => reply(result::PARAMETER, None, None),
    };
    let mut w = MsgWriter::new();
    w.begin_proto();
    w.message(&MsgHeader {
        result: a.code,
        generation: a.generation,
        ttl: a.void_time,
        ..Default::default()
    });
    for b in &a.bins {
        w.op(op::READ, b.1, &b.0, &b.2);
    }
    w.finish().to_vec()
}

fn void_time(ttl: u32, old: Option<u32>) -> u32 {
    match ttl {
        TTL_DEFAULT | TTL_NEVER => 0,
        TTL_KEEP => old.unwrap_or(0),
        t => now_cl().saturating_add(t),
    }
}

fn numeric_add(old: &StoredBin, ptype: u8, add: &[u8]) -> Option<Vec<u8>> {
    let (a, b): ([u8; 8], [u8; 8]) = (old.2.as_slice().try_into().ok()?, add.try_into().ok()?);
    match (old.1, ptype) {
        (particle::INTEGER, particle::INTEGER) => Some(
            i64::from_be_bytes(a)
                .wrapping_add(i64::from_be_bytes(b))
                .to_be_bytes()
                .to_vec(),
        ),
        (particle::FLOAT, particle::FLOAT) => Some(
            (f64::from_be_bytes(a) + f64::from_be_bytes(b))
                .to_be_bytes()
                .to_vec(),
        ),
        _ => None,
    }
}

/// Applies one command to the record of `digest` (the DIGEST field of a single command, the row
/// header's digest in a batch).
pub fn apply(cluster: &Cluster, msg: &Msg, digest: &[u8; 20]) -> Applied {
    let h = &msg.header;
    let digest = *digest;
    let Some(ns) = msg
        .field(field::NAMESPACE)
        .and_then(|n| cluster.namespace(n))
    else {
        return reply(result::INVALID_NAMESPACE, None, None);
    };
    let set = msg.field(field::SET).unwrap_or_default();
    let mut part = ns.parts[partition_of(&digest)].lock().unwrap();
    let now = now_cl();
    if part.get(&digest).is_some_and(|r| r.expired(now)) {
        part.remove(&digest);
    }
    let existing = part.get(&digest);

    let writes = h.info2 & flags::INFO2_WRITE != 0;
    if !writes {
        // Read, exists, or read-only operate.
        let Some(rec) = existing else {
            return reply(result::KEY_NOT_FOUND, None, None);
        };
        if h.info1 & flags::INFO1_NOBINDATA != 0 {
            return reply(result::OK, Some(rec), None);
        }
        let names: Vec<&[u8]> = msg
            .ops
            .iter()
            .filter(|o| o.op == op::READ)
            .map(|o| o.name)
            .collect();
        let bins: Vec<&StoredBin> = if names.is_empty() || h.info1 & flags::INFO1_GET_ALL != 0 {
            rec.bins.iter().collect()
        } else {
            rec.bins
                .iter()
                .filter(|b| names.contains(&b.0.as_slice()))
                .collect()
        };
        return reply(result::OK, Some(rec), Some(&bins));
    }

    if h.info2 & flags::INFO2_DELETE != 0 {
        return match part.remove(&digest) {
            Some(_) => reply(result::OK, None, None),
            None => reply(result::KEY_NOT_FOUND, None, None),
        };
    }
    // Injected write errors (testd-fault write-error), consumed one write at a time.
    {
        let mut f = cluster.faults.lock().unwrap();
        if let Some((code, times)) = f.write_error {
            f.write_error = (times > 1).then(|| (code, times - 1));
            return reply(code, None, None);
        }
    }
    // A bin name is at most 15 bytes (the server's AS_BIN_NAME_MAX_SZ of 16 with its NUL);
    // longer gets BIN_NAME (21), a record error asrestore counts or fails on.
    if msg.ops.iter().any(|o| o.name.len() > 15) {
        return reply(21, None, None);
    }
    // Exists and generation policies.
    if existing.is_some() && h.info2 & flags::INFO2_CREATE_ONLY != 0 {
        return reply(result::KEY_EXISTS, None, None);
    }
    if existing.is_none() && h.info3 & (flags::INFO3_UPDATE_ONLY | flags::INFO3_REPLACE_ONLY) != 0 {
        return reply(result::KEY_NOT_FOUND, None, None);
    }
    let old_gen = existing.map_or(0, |r| r.generation);
    if h.info2 & flags::INFO2_GENERATION != 0 && h.generation != old_gen as u32 {
        return reply(result::GENERATION, None, None);
    }
    if h.info2 & flags::INFO2_GENERATION_GT != 0 && h.generation <= old_gen as u32 {
        return reply(result::GENERATION, None, None);
    }
    let replace = h.info3 & (flags::INFO3_CREATE_OR_REPLACE | flags::INFO3_REPLACE_ONLY) != 0;
    let mut rec = match existing {
        Some(r) if !replace => r.clone(),
        _ => Stored {
            key: None,
            set: set.to_vec(),
            generation: 0,
            void_time: 0,
            lut_ns: 0,
            bins: Vec::new(),
        },
    };
    let old_void = existing.map(|r| r.void_time);
    let mut reads: Vec<StoredBin> = Vec::new();
    for o in &msg.ops {
        let pos = rec.bins.iter().position(|b| b.0 == o.name);
        match o.op {
            op::WRITE if o.ptype == particle::NIL => {
                if let Some(i) = pos {
                    rec.bins.remove(i);
                }
            }
            op::WRITE => {
                // A bin value the server refuses (an HLL of the wrong size, an ordered list out
                // of order...: check.rs, server-behaviours S19) fails the whole write and
                // nothing of it is stored: write_master (as/src/transaction/write.c) returns
                // the error of as_bin_particle_from_client (as/src/base/particle.c).
                if let Some(code) = check::refused(o.ptype, o.value) {
                    return reply(code, None, None);
                }
                match pos {
                    Some(i) => rec.bins[i] = (o.name.to_vec(), o.ptype, o.value.to_vec()),
                    None => rec.bins.push((o.name.to_vec(), o.ptype, o.value.to_vec())),
                }
            }
            op::INCR => match pos {
                Some(i) => match numeric_add(&rec.bins[i], o.ptype, o.value) {
                    Some(v) => rec.bins[i].2 = v,
                    None => return reply(12, None, None), // BIN_TYPE_ERROR
                },
                None => rec.bins.push((o.name.to_vec(), o.ptype, o.value.to_vec())),
            },
            op::APPEND | op::PREPEND => match pos {
                Some(i) if rec.bins[i].1 == o.ptype => {
                    let b = &mut rec.bins[i].2;
                    if o.op == op::APPEND {
                        b.extend_from_slice(o.value);
                    } else {
                        b.splice(0..0, o.value.iter().copied());
                    }
                }
                Some(_) => return reply(12, None, None),
                None => rec.bins.push((o.name.to_vec(), o.ptype, o.value.to_vec())),
            },
            op::TOUCH => {}
            op::DELETE => {
                part.remove(&digest);
                return reply(result::OK, None, None);
            }
            op::READ => {
                if o.name.is_empty() {
                    reads.extend(rec.bins.iter().cloned());
                } else if let Some(i) = pos {
                    reads.push(rec.bins[i].clone());
                }
            }
            _ => return reply(result::UNSUPPORTED_FEATURE, None, None),
        }
    }
    if let Some(k) = msg.field(field::KEY).filter(|k| !k.is_empty()) {
        rec.key = Some((k[0], k[1..].to_vec()));
    }
    rec.generation = old_gen.wrapping_add(1).max(1);
    rec.void_time = void_time(h.ttl, old_void);
    rec.lut_ns = now_ns();
    if !set.is_empty() {
        rec.set = set.to_vec();
    }
    if rec.bins.is_empty() {
        part.remove(&digest);
        return reply(result::OK, None, None);
    }
    let out = if reads.is_empty() {
        reply(result::OK, Some(&rec), None)
    } else {
        let refs: Vec<&StoredBin> = reads.iter().collect();
        reply(result::OK, Some(&rec), Some(&refs))
    };
    part.insert(digest, rec);
    out
}
