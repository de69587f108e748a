//! Replays recorded client requests (`../shared/wire/<scenario>/conn-NN.c2s`) against a server and
//! compares its replies with the recorded ones (`conn-NN.s2c`), message by message.
//!
//! Only what depends on time or identity is normalised: void times (shifted by the clock offset
//! learnt from the first write reply that carries one), node names, ports and the cluster name,
//! the cell ids a server adds to GeoJSON particles, and the order of records across partitions
//! (FACT 2: it depends on the server's threads). Inside a partition the order is exact.
#![allow(dead_code)]

use as_common::wire::{field, flags, info, Msg, TYPE_INFO, TYPE_MSG};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn wire_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/wire")
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
    /// A scan, query or batch: replies up to LAST, or a lone error.
    Multi,
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
    if batch || scan {
        Kind::Multi
    } else {
        Kind::Single
    }
}

/// Whether `p` is the last reply proto of a request of kind `k`. An error of a scan is one
/// message with a result code and no LAST (FACT 8).
pub fn ends(k: Kind, p: &Proto) -> bool {
    if k != Kind::Multi || p.ptype != TYPE_MSG {
        return true;
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
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
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

fn hex(b: &[u8]) -> String {
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
        // LAST, errors and partition-done: where they stand matters (FACT 7, 8).
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

/// How an info command's value is compared.
fn info_value(cmd: &str, v: &str) -> String {
    let name = cmd.split([':', '/']).next().unwrap_or("");
    let kv_keys = |v: &str, sep: char| {
        v.split(sep)
            .filter(|x| !x.is_empty())
            .map(|x| x.split_once('=').map_or(x, |(k, _)| k).to_string())
            .collect::<Vec<_>>()
    };
    let pick = |v: &str, keys: &[&str]| {
        let pairs = info::kv(v, ';');
        keys.iter()
            .map(|k| {
                let got = pairs.iter().find(|(x, _)| x == k).map(|(_, v)| *v);
                format!("{k}={}", got.unwrap_or("<missing>"))
            })
            .collect::<Vec<_>>()
            .join(";")
    };
    match name {
        // Identity: the node's name, the cluster's name, the build's hashes and times.
        "node" | "cluster_principal" => {
            let ok = v.len() == 15 && v.bytes().all(|c| c.is_ascii_hexdigit());
            format!("<node name: {}>", if ok { "15 hex digits" } else { v })
        }
        "cluster-name" | "build_time" | "build_sha" | "build_ee_sha" | "build_os"
        | "build_arch" | "compatibility-id" => "<identity>".into(),
        // Server internals: only the form, `k=v;...`.
        "statistics" => format!("<k=v list: {}>", v.contains('=')),
        // The keys clients read, with their values.
        "namespace" => pick(
            v,
            &[
                "objects",
                "effective_replication_factor",
                "replication-factor",
            ],
        ),
        "get-config" => pick(v, &["batch-index-threads"]),
        "sindex-stat" => format!("{:?} {}", kv_keys(v, ';'), pick(v, &["load_pct"])),
        // Sets the recorded server kept from its history (objects=0) are left out.
        "sets" => {
            let mut items: Vec<String> = v
                .split(';')
                // `bar`'s 200,000 records are in no capture.
                .filter(|x| {
                    !x.is_empty() && !x.contains(":objects=0:") && !x.starts_with("ns=bar:")
                })
                .map(|x| {
                    let pairs = info::kv(x, ':');
                    let get = |k: &str| pairs.iter().find(|(a, _)| *a == k).map_or("", |p| p.1);
                    format!(
                        "{:?} set={} objects={} sindexes={}",
                        kv_keys(x, ':'),
                        get("set"),
                        get("objects"),
                        get("sindexes")
                    )
                })
                .collect();
            items.sort();
            items.join("\n")
        }
        // The recorded hashes are not the SHA-1 of the content, which as-testd sends; no client
        // reads them but to compare with what it put, so only their form is compared.
        "udf-list" => v
            .split(';')
            .map(|item| {
                item.split(',')
                    .map(|kv| match kv.split_once('=') {
                        Some(("hash", h)) if h.len() == 40 => "hash=<40 hex>".to_string(),
                        _ => kv.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(";"),
        // A list whose order the server does not promise.
        "sindex-list" => {
            let mut items: Vec<&str> = v.split(';').collect();
            items.sort();
            items.join(";")
        }
        "peers-clear-std" | "peers-clear-alt" => {
            // generation, the default port, then the peers.
            let mut parts = v.splitn(3, ',');
            let (g, _, rest) = (parts.next(), parts.next(), parts.next());
            format!("{},<port>,{}", g.unwrap_or(""), rest.unwrap_or(""))
        }
        _ => v.to_string(),
    }
}

fn norm_info(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for line in text.split_terminator('\n') {
        let (cmd, v) = line.split_once('\t').unwrap_or((line, "<no tab>"));
        let v = port_free(v);
        out.push(format!("{cmd}\t{}", info_value(cmd, &v)));
    }
    if !text.is_empty() && !text.ends_with('\n') {
        out.push("<no final newline>".into());
    }
    out
}

/// A recorded `sindex-list` that lacks indexes ours lists and is otherwise the same: index
/// definitions reach a real server's list asynchronously, so a list taken right after another
/// connection's `sindex-create` was answered `ok` may not show it yet (asrestore creates from
/// several threads at once); as-testd lists an index as soon as it is created.
fn sindex_list_behind(recorded: &str, ours: &str) -> bool {
    let items = |l: &str| -> Option<(String, Vec<String>)> {
        let (cmd, v) = l.split_once('\t')?;
        cmd.starts_with("sindex-list")
            .then(|| (cmd.to_string(), v.split(';').map(str::to_string).collect()))
    };
    match (items(recorded), items(ours)) {
        (Some((a, r)), Some((b, o))) => a == b && r.iter().all(|i| i.is_empty() || o.contains(i)),
        _ => false,
    }
}

/// Addresses name the server's port, which is ours to choose.
fn port_free(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + 10]);
        rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("<port>");
    }
    out + rest
}

/// When each recorded request was sent: the time of the proxy's read that brought its first
/// byte (`proxy-log.jsonl`).
fn request_times(scenario: &str, conn: usize) -> Vec<(u64, u64)> {
    let log = std::fs::read_to_string(wire_dir().join(scenario).join("proxy-log.jsonl")).unwrap();
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
            let (r, o) = (norm_info(&x.replies[0].body), norm_info(&ours[0].body));
            r.iter()
                .zip(o.iter().chain(std::iter::repeat(&String::new())))
                .filter(|(a, b)| a != b && !sindex_list_behind(a, b))
                .map(|(a, b)| format!("recorded {a:?}\n      ours {b:?}"))
                .chain(
                    (o.len() > r.len())
                        .then(|| format!("ours has more lines: {:?}", &o[r.len()..])),
                )
                .collect()
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

/// The record messages of recorded replies, as write requests that store each as it was read
/// (never expiring; only for data whose void time is 0).
pub fn writes_of(scenario: &str, conn: usize, keep: impl Fn(&[u8; 20]) -> bool) -> Vec<Proto> {
    let path = wire_dir()
        .join(scenario)
        .join(format!("conn-{conn:02}.s2c"));
    let mut out = Vec::new();
    for p in split_protos(&std::fs::read(Path::new(&path)).unwrap()) {
        if p.ptype != TYPE_MSG {
            continue;
        }
        for m in p.msgs() {
            let Some(d) = m
                .field(field::DIGEST)
                .and_then(|d| <[u8; 20]>::try_from(d).ok())
            else {
                continue;
            };
            if m.header.info3 != 0 || !keep(&d) {
                continue;
            }
            assert_eq!(
                m.header.ttl, 0,
                "writes_of keeps only records that never expire"
            );
            let fields: Vec<_> = m.fields.iter().map(|f| (f.ftype, f.data)).collect();
            let ops: Vec<_> = m.ops.iter().map(|o| (o.name, o.ptype, o.value)).collect();
            out.push(write(&fields, &ops));
        }
    }
    out
}

/// A write of one record that never expires, with a single bin.
pub fn write_of(
    ns: &[u8],
    set: &[u8],
    digest: &[u8; 20],
    bin: &[u8],
    ptype: u8,
    value: &[u8],
) -> Proto {
    write(
        &[
            (field::NAMESPACE, ns),
            (field::SET, set),
            (field::DIGEST, digest),
        ],
        &[(bin, ptype, value)],
    )
}

fn write(fields: &[(u8, &[u8])], ops: &[(&[u8], u8, &[u8])]) -> Proto {
    let mut w = as_common::wire::MsgWriter::new();
    w.begin_proto();
    w.message(&as_common::wire::MsgHeader {
        info2: flags::INFO2_WRITE,
        ttl: u32::MAX,
        ..Default::default()
    });
    for (t, d) in fields {
        w.field(*t, d);
    }
    for (name, ptype, value) in ops {
        w.op(as_common::wire::op::WRITE, *ptype, name, value);
    }
    Proto {
        ptype: TYPE_MSG,
        body: w.finish()[8..].to_vec(),
    }
}

/// A loopback proxy in front of `upstream` that keeps the bytes clients send, to compare our
/// requests with the recorded clients'.
pub struct Recorder {
    pub port: u16,
    sent: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    pub fn start(upstream: u16) -> Recorder {
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let keep = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let slot = {
                    let mut s = keep.lock().unwrap();
                    s.push(Vec::new());
                    s.len() - 1
                };
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let keep = keep.clone();
                std::thread::spawn(move || {
                    let mut b = [0u8; 65536];
                    while let Ok(n) = c_in.read(&mut b) {
                        if n == 0 || s_out.write_all(&b[..n]).is_err() {
                            break;
                        }
                        keep.lock().unwrap()[slot].extend_from_slice(&b[..n]);
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Recorder { port, sent }
    }

    /// The msg requests sent so far, connection by connection.
    pub fn msg_requests(&self) -> Vec<Proto> {
        let sent = self.sent.lock().unwrap();
        sent.iter()
            .flat_map(|c| split_protos(c))
            .filter(|p| p.ptype == TYPE_MSG)
            .collect()
    }
}

/// The msg requests of a recorded connection.
pub fn recorded_msg_requests(scenario: &str, conn: usize) -> Vec<Proto> {
    exchanges(scenario, conn)
        .into_iter()
        .map(|x| x.request)
        .filter(|p| p.ptype == TYPE_MSG)
        .collect()
}

/// A scan request reduced to what a server acts on: the header, the fields in order (the
/// transaction id and the socket timeout's value are the client's own) and the ops.
pub fn request_shape(p: &Proto) -> String {
    let (m, _) = Msg::parse(&p.body).expect("a well-formed request");
    let h = m.header;
    let mut out = format!(
        "info={:02x},{:02x},{:02x},{:02x} gen={} ttl={:#x} txn_ttl={}",
        h.info1, h.info2, h.info3, h.info4, h.generation, h.ttl, h.timeout
    );
    for f in &m.fields {
        match f.ftype {
            field::QUERY_ID | field::SOCKET_TIMEOUT => out += &format!(" f{}", f.ftype),
            _ => out += &format!(" f{}={}", f.ftype, hex(f.data)),
        }
    }
    for o in &m.ops {
        out += &format!(
            " op{}/{}:{:?}={}",
            o.op,
            o.ptype,
            String::from_utf8_lossy(o.name),
            hex(o.value)
        );
    }
    out
}
