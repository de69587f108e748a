//! Replays recorded client requests (`tests/data/wire/<scenario>/conn-NN.c2s`) against a server and
//! compares its replies with the recorded ones (`conn-NN.s2c`), message by message.
//!
//! Only what depends on time or identity is normalised: void times (shifted by the clock offset
//! learnt from the first write reply that carries one), node names, ports and the cluster name,
//! the cell ids a server adds to GeoJSON particles, and the order of records across partitions
//! (server-behaviours S2: it depends on the server's threads). Inside a partition the order is
//! exact.
#![allow(dead_code)]

mod info;
mod requests;

// Not every test binary uses them all.
#[allow(unused_imports)]
pub use requests::{recorded_msg_requests, request_shape, scan_of, write_of, writes_of, Recorder};

use as_common::wire::{field, flags, Msg, TYPE_INFO, TYPE_MSG};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

pub fn wire_dir() -> PathBuf {
    crate::data().join("wire")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proto {
    pub ptype: u8,
    pub body: Vec<u8>,
}

impl Proto {
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.body.len());
        as_common::wire::put_proto(&mut out, self.ptype, self.body.len() as u64);
        out.extend_from_slice(&self.body);
        out
    }

    fn msgs(&self) -> Vec<Msg<'_>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < self.body.len() {
            let (m, used) = Msg::parse(&self.body[at..]).expect("a well-formed message");
            out.push(m);
            at += used;
        }
        out
    }
}

/// The protos of one direction of a connection.
pub fn split_protos(mut b: &[u8]) -> Vec<Proto> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let h = u64::from_be_bytes(b[..8].try_into().unwrap());
        let len = (h & 0xffff_ffff_ffff) as usize;
        out.push(Proto {
            ptype: (h >> 48) as u8,
            body: b[8..8 + len].to_vec(),
        });
        b = &b[8 + len..];
    }
    assert!(b.is_empty(), "a capture ends inside a proto");
    out
}

/// What a request is, which says where its reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Info,
    /// A single-record command: one reply proto.
    Single,
    /// A scan or query: replies up to LAST, or a lone error.
    Multi,
    /// A batch: replies up to LAST, which a whole batch's error carries too; a row's error is
    /// that row's answer (as_batch_send_error, `as/src/base/batch.c`; server-behaviours S19).
    Batch,
}

pub fn kind(p: &Proto) -> Kind {
    if p.ptype == TYPE_INFO {
        return Kind::Info;
    }
    let (m, _) = Msg::parse(&p.body).expect("a well-formed request");
    let h = m.header;
    let batch = h.info1 & 0x08 != 0;
    let scan = h.info1 & flags::INFO1_READ != 0
        && h.info2 & flags::INFO2_WRITE == 0
        && m.field(field::DIGEST).is_none();
    if batch {
        Kind::Batch
    } else if scan {
        Kind::Multi
    } else {
        Kind::Single
    }
}

/// Whether `p` is the last reply proto of a request of kind `k`. An error of a scan is one
/// message with a result code and no LAST (server-behaviours S8).
pub fn ends(k: Kind, p: &Proto) -> bool {
    if !matches!(k, Kind::Multi | Kind::Batch) || p.ptype != TYPE_MSG {
        return true;
    }
    if k == Kind::Batch {
        return p
            .msgs()
            .iter()
            .any(|m| m.header.info3 & flags::INFO3_LAST != 0);
    }
    p.msgs().iter().any(|m| {
        m.header.info3 & flags::INFO3_LAST != 0
            || (m.header.result != 0 && m.header.info3 & flags::INFO3_PARTITION_DONE == 0)
    })
}

pub struct Exchange {
    pub request: Proto,
    pub replies: Vec<Proto>,
}

/// Pairs each recorded request with the replies it got.
pub fn exchanges(scenario: &str, conn: usize) -> Vec<Exchange> {
    let dir = wire_dir().join(scenario);
    let read = |ext: &str| {
        let p = dir.join(format!("conn-{conn:02}.{ext}"));
        crate::fixture(&p)
    };
    let mut replies = split_protos(&read("s2c")).into_iter();
    split_protos(&read("c2s"))
        .into_iter()
        .map(|request| {
            let k = kind(&request);
            let mut got = Vec::new();
            for p in replies.by_ref() {
                let end = ends(k, &p);
                got.push(p);
                if end {
                    break;
                }
            }
            Exchange {
                request,
                replies: got,
            }
        })
        .collect()
}

fn read_proto(s: &mut TcpStream) -> std::io::Result<Proto> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h)?;
    let h = u64::from_be_bytes(h);
    let mut body = vec![0; (h & 0xffff_ffff_ffff) as usize];
    s.read_exact(&mut body)?;
    Ok(Proto {
        ptype: (h >> 48) as u8,
        body,
    })
}

/// Sends a request and reads the replies as the recorded client did; after a lone error it
/// checks that nothing more comes (the recorded server sent nothing more).
pub fn send(s: &mut TcpStream, request: &Proto) -> Result<Vec<Proto>, String> {
    s.write_all(&request.bytes()).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let k = kind(request);
    let mut got = Vec::new();
    loop {
        let p =
            read_proto(s).map_err(|e| format!("no reply ({e}) after {} proto(s)", got.len()))?;
        let end = ends(k, &p);
        got.push(p);
        if end {
            break;
        }
    }
    let last = got.last().unwrap();
    let lone_error = k == Kind::Multi
        && last
            .msgs()
            .iter()
            .all(|m| m.header.info3 & flags::INFO3_LAST == 0);
    if lone_error {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => return Err("closed the connection after an error".into()),
            Ok(_) => return Err("sent more after an error".into()),
            Err(e) => return Err(format!("after an error: {e}")),
        }
    }
    Ok(got)
}

/// A message reduced to what must be equal, plus the parts compared with tolerance.
#[derive(Debug, Clone)]
struct Norm {
    pid: Option<u16>,
    digest: Option<[u8; 20]>,
    text: String,
    generation: u32,
    void: u32,
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn norm_msg(m: &Msg, alone: bool) -> Norm {
    let h = m.header;
    let digest: Option<[u8; 20]> = m.field(field::DIGEST).and_then(|d| d.try_into().ok());
    let mut text = format!(
        "info={:02x},{:02x},{:02x},{:02x} result={} txn_ttl={}",
        h.info1, h.info2, h.info3, h.info4, h.result, h.timeout
    );
    let record = digest.is_some() && h.info3 == 0 && h.result == 0;
    if !record {
        // LAST, errors and partition-done: where they stand matters (server-behaviours S7, S8).
        text += if alone {
            " (alone in its proto)"
        } else {
            " (shares its proto)"
        };
        if h.info3 & flags::INFO3_PARTITION_DONE != 0 {
            text += &format!(" pid={}", h.generation);
        }
    }
    for f in &m.fields {
        let v = match f.ftype {
            field::NAMESPACE | field::SET => format!("{:?}", String::from_utf8_lossy(f.data)),
            _ => hex(f.data),
        };
        text += &format!(" f{}={v}", f.ftype);
    }
    for o in &m.ops {
        let value = if o.ptype == as_common::record::particle::GEOJSON {
            // The server adds covering cells (S2 ids) it computes itself; the text is the data.
            let cells = o
                .value
                .get(1..3)
                .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
            let json = o.value.get(3 + 8 * cells as usize..).unwrap_or_default();
            format!("geojson:{}", String::from_utf8_lossy(json))
        } else {
            hex(o.value)
        };
        text += &format!(
            " op{}/{}:{:?}={value}",
            o.op,
            o.ptype,
            String::from_utf8_lossy(o.name)
        );
    }
    Norm {
        pid: digest
            .filter(|_| record)
            .map(|d| u16::from_le_bytes([d[0], d[1]]) & 0xfff),
        digest,
        text,
        generation: if record || h.result == 0 {
            h.generation
        } else {
            0
        },
        void: h.ttl,
    }
}

/// What the comparison may forgive, and what it learnt.
#[derive(Default)]
pub struct Normalizer {
    /// Seconds between our clock and the recorded server's.
    pub clock_shift: Option<i64>,
    /// Records the scans saw at a higher generation than the data loaded here has.
    pub generation_before_load: Vec<[u8; 20]>,
}

impl Normalizer {
    fn same(&mut self, rec: &Norm, ours: &Norm) -> Result<(), String> {
        if rec.text != ours.text {
            return Err(format!("recorded {}\n      ours {}", rec.text, ours.text));
        }
        let gen_ok = rec.generation == ours.generation
            || (ours.generation == 1
                && rec
                    .digest
                    .is_some_and(|d| self.generation_before_load.contains(&d)));
        if !gen_ok {
            return Err(format!(
                "generation {} recorded, {} ours: {}",
                rec.generation, ours.generation, rec.text
            ));
        }
        match (rec.void, ours.void) {
            (0, 0) => Ok(()),
            (0, _) | (_, 0) => Err(format!(
                "void time {} recorded, {} ours: {}",
                rec.void, ours.void, rec.text
            )),
            (r, o) => {
                let shift = *self.clock_shift.get_or_insert(o as i64 - r as i64);
                if (o as i64 - r as i64 - shift).abs() <= 2 {
                    Ok(())
                } else {
                    Err(format!(
                        "void time {r} recorded, {o} ours (clock shift {shift}): {}",
                        rec.text
                    ))
                }
            }
        }
    }

    /// Differences between recorded and our replies to one msg request.
    fn diff_msgs(&mut self, rec: &[Proto], ours: &[Proto]) -> Vec<String> {
        let split = |ps: &[Proto]| {
            let mut by_pid: BTreeMap<u16, Vec<Norm>> = BTreeMap::new();
            let mut others = Vec::new();
            for p in ps {
                let msgs = p.msgs();
                for m in &msgs {
                    let n = norm_msg(m, msgs.len() == 1);
                    match n.pid {
                        Some(pid) => by_pid.entry(pid).or_default().push(n),
                        None => others.push(n),
                    }
                }
            }
            (by_pid, others)
        };
        let (rp, ro) = split(rec);
        let (op, oo) = split(ours);
        let mut out = Vec::new();
        let (rk, ok): (Vec<_>, Vec<_>) = (rp.keys().collect(), op.keys().collect());
        if rk != ok {
            out.push(format!(
                "partitions with records: recorded {rk:?}, ours {ok:?}"
            ));
        }
        for (pid, r) in &rp {
            let Some(o) = op.get(pid) else { continue };
            if r.len() != o.len() {
                out.push(format!(
                    "partition {pid}: {} record(s) recorded, {} ours",
                    r.len(),
                    o.len()
                ));
            }
            for (i, (a, b)) in r.iter().zip(o).enumerate() {
                if let Err(e) = self.same(a, b) {
                    out.push(format!("partition {pid} record #{i}: {e}"));
                    break;
                }
            }
        }
        if ro.len() != oo.len() {
            let texts = |v: &[Norm]| v.iter().map(|n| n.text.clone()).collect::<Vec<_>>();
            out.push(format!(
                "other messages: recorded {:?}\n      ours {:?}",
                texts(&ro),
                texts(&oo)
            ));
        } else {
            for (a, b) in ro.iter().zip(&oo) {
                if let Err(e) = self.same(a, b) {
                    out.push(e);
                }
            }
        }
        out
    }
}

/// When each recorded request was sent: the time of the proxy's read that brought its first
/// byte (`proxy-log.jsonl`).
fn request_times(scenario: &str, conn: usize) -> Vec<(u64, u64)> {
    let log = String::from_utf8(crate::fixture(
        &wire_dir().join(scenario).join("proxy-log.jsonl"),
    ))
    .unwrap();
    let num = |line: &str, key: &str| -> Option<f64> {
        let at = line.find(&format!("\"{key}\": "))? + key.len() + 4;
        let rest = &line[at..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..end].trim().parse().ok()
    };
    log.lines()
        .filter(|l| l.contains("\"ev\": \"chunk\"") && l.contains("\"dir\": \"c2s\""))
        .filter(|l| num(l, "conn") == Some(conn as f64))
        .filter_map(|l| Some(((num(l, "t")? * 1e6) as u64, num(l, "off")? as u64)))
        .collect()
}

/// Replays connections `conns` of `scenario` on connections of their own to `port`, every
/// request in the order the recorded clients sent them (connections overlapped: asrestore
/// creates indexes from several threads); returns every difference found. Requests for which
/// `only` is false are not sent.
pub fn replay(
    scenario: &str,
    conns: &[usize],
    port: u16,
    norm: &mut Normalizer,
    only: impl Fn(&Exchange) -> bool,
) -> Vec<String> {
    let mut events = Vec::new();
    let mut all = Vec::new();
    for &c in conns {
        let times = request_times(scenario, c);
        let mut off = 0u64;
        for (i, x) in exchanges(scenario, c).into_iter().enumerate() {
            let t = times
                .iter()
                .take_while(|(_, o)| *o <= off)
                .last()
                .map_or(0, |(t, _)| *t);
            off += 8 + x.request.body.len() as u64;
            if only(&x) {
                events.push((t, c, i, all.len()));
                all.push(x);
            }
        }
    }
    events.sort();
    let mut streams: BTreeMap<usize, TcpStream> = BTreeMap::new();
    let mut out = Vec::new();
    for (_, conn, i, k) in events {
        let x = &all[k];
        let what = describe(&x.request);
        let s = streams.entry(conn).or_insert_with(|| {
            let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_nodelay(true).unwrap();
            s
        });
        let ours = match send(s, &x.request) {
            Ok(o) => o,
            Err(e) => {
                out.push(format!(
                    "{scenario}/conn-{conn:02} request {i} ({what}): {e}"
                ));
                continue;
            }
        };
        let diffs = if x.request.ptype == TYPE_INFO {
            info::diff(&x.replies[0].body, &ours[0].body)
        } else {
            norm.diff_msgs(&x.replies, &ours)
        };
        for d in diffs {
            out.push(format!(
                "{scenario}/conn-{conn:02} request {i} ({what}): {d}"
            ));
        }
    }
    out
}

fn describe(p: &Proto) -> String {
    if p.ptype == TYPE_INFO {
        let t = String::from_utf8_lossy(&p.body);
        let t: String = t.chars().take(60).collect();
        return format!("info {:?}", t);
    }
    let (m, _) = Msg::parse(&p.body).unwrap();
    let pids = m.field(field::PID_ARRAY).map_or(0, |f| f.len() / 2);
    let digests = m.field(field::DIGEST_ARRAY).map_or(0, |f| f.len() / 20);
    format!(
        "msg info={:02x},{:02x},{:02x} pids={pids} digests={digests}",
        m.header.info1, m.header.info2, m.header.info3
    )
}
