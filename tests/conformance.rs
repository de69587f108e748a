//! The test server against the captures of a real Aerospike CE 8.1.2.0 server
//! (`tests/data/wire`): recorded requests replayed, replies compared message by message.
//!
//! The `test` namespace is loaded by replaying asrestore's single writes, sindex and UDF commands
//! (`asrestore-batch/no-batch-writes`, whose replies are compared too); `bar` holds records taken
//! from recorded scan replies (partitions 7 and 8), since its bulk data is in no capture.

use as_test_support as support;

use as_common::wire::TYPE_MSG;
use std::net::TcpStream;
use support::replay::{self, Normalizer, Proto};
use support::TestServer;

/// Records that the scans of `test` saw at generation 2 or 5 (edge/ordered, edge/hll,
/// edge/gen5): they ran before the restore, which writes generation 1
/// (docs/server-behaviours.md#recordings).
const GEN_BEFORE_RESTORE: [&str; 3] = [
    "kJBX/K1xuK6hhJCA6X0syFtcRgo=",
    "8QLH6Kg55YT+lMkkSvQdrWgZJdU=",
    "4HO8xUyX6eBeUsMxLQRuCsBOvo0=",
];

/// Each recorded asbackup run and its scope options (tests/data/README.md). The after-digest run
/// comes last: it needs the partition-7 records that were there for it only ([`load_p7`]).
const SCOPES: &[(&str, &[&str])] = &[
    ("asbackup-ns", &[]),
    (
        "asbackup-scopes/set-edge-bins-s-i-d",
        &["-s", "edge", "-B", "s,i,d"],
    ),
    (
        "asbackup-scopes/partitions-100-200-3000x96",
        &["-X", "100,200,3000-96"],
    ),
    ("asbackup-scopes/no-bins", &["-x"]),
    ("asbackup-scopes/no-records", &["-R"]),
    ("asbackup-scopes/max-records-10", &["-M", "10"]),
    ("asbackup-scopes/no-ttl-only", &["--no-ttl-only"]),
    (
        "asbackup-scopes/modified-after-2099",
        &["-a", "2099-01-01_00:00:00"],
    ),
    (AFTER_DIGEST, &["-D", "B1Du3/hjBkYdOS2t377pP3t2YBA="]),
];
const AFTER_DIGEST: &str = "asbackup-scopes/after-digest-p7";

fn connect(s: &TestServer) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.ports[0])).unwrap();
    c.set_nodelay(true).unwrap();
    c
}

/// Replays every request of these connections of each scenario.
fn replay_all(s: &TestServer, runs: &[(&str, &[usize])], norm: &mut Normalizer) -> Vec<String> {
    let mut diffs = Vec::new();
    for &(scenario, conns) in runs {
        diffs.extend(replay::replay(scenario, conns, s.ports[0], norm, |_| true));
    }
    diffs
}

fn assert_none(diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "{} difference(s) from the real server:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Comparing with captures made after asrestore's restore (which writes generation 1).
fn after_restore() -> Normalizer {
    let b64 = |x: &str| {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, x)
            .unwrap()
            .try_into()
            .unwrap()
    };
    Normalizer {
        generation_before_load: GEN_BEFORE_RESTORE.iter().map(|d| b64(d)).collect(),
        ..Default::default()
    }
}

/// A one-node server holding the edge corpus as asrestore restored it, and what loading it
/// found different from the recorded restore.
fn corpus() -> (TestServer, Normalizer, Vec<String>) {
    let s = TestServer::start(1, &[]);
    let mut norm = after_restore();
    // One connection each, as asrestore --disable-batch-writes made them.
    let conns: Vec<usize> = (0..=84).collect();
    let diffs = replay_all(
        &s,
        &[("asrestore-batch/no-batch-writes", &conns)],
        &mut norm,
    );
    (s, norm, diffs)
}

fn write_all(s: &TestServer, writes: &[Proto]) {
    let mut c = connect(s);
    for w in writes {
        let r = replay::send(&mut c, w).unwrap();
        let (m, _) = as_common::wire::Msg::parse(&r[0].body).unwrap();
        assert_eq!(m.header.result, 0, "loading a record");
    }
}

/// -D: five records in partition 7 were there for the after-digest run only
/// (docs/server-behaviours.md#recordings). The
/// two the scan returned come from its replies; the boundary and the two larger digests, which
/// it must not return, get a bin of their own.
fn load_p7(s: &TestServer) {
    let mut p7 = replay::writes_of("asbackup-scopes/after-digest-p7", 1, |d| {
        u16::from_le_bytes([d[0], d[1]]) & 0xfff == 7
    });
    assert_eq!(p7.len(), 2);
    for prefix in [
        &[
            0x07, 0x50, 0xee, 0xdf, 0xf8, 0x63, 0x06, 0x46, 0x1d, 0x39, 0x2d, 0xad, 0xdf, 0xbe,
            0xe9, 0x3f, 0x7b, 0x76, 0x60, 0x10,
        ][..],
        &[0x07, 0x70, 0x98, 0x0f],
        &[0x07, 0xb0, 0xac, 0x52],
    ] {
        let mut d = [0u8; 20];
        d[..prefix.len()].copy_from_slice(prefix);
        p7.push(replay::write_of(b"test", b"p7", &d, b"x", 1, &[1]));
    }
    write_all(s, &p7);
}

#[test]
fn restore_replies_as_recorded() {
    let (_s, _norm, diffs) = corpus();
    assert_none(&diffs);
}

/// asrestore's default run: its build and get-config questions, the sindex and UDF commands, and
/// the one batch of 70 rows, whose answer (a message per row with its index, then LAST alone)
/// must be the recorded one; then the scans of the records it wrote match the recorded scans.
#[test]
fn batch_restore_replies_as_recorded() {
    let s = TestServer::start(1, &[]);
    let mut norm = after_restore();
    let conns: Vec<usize> = (0..=15).collect();
    let mut diffs = replay_all(&s, &[("asrestore-batch/batch-writes", &conns)], &mut norm);
    // asrestore created the indexes from several connections at once, so a list taken on one
    // (conns 03-14) may already show indexes that connections replayed after it create: the
    // lists are compared at the end instead, with the scans.
    diffs.retain(|d| !d.contains("(info \"sindex-list"));
    diffs.extend(replay_all(&s, &[("asbackup-ns", &[0, 1, 2, 3])], &mut norm));
    assert_none(&diffs);
}

#[test]
fn scans_of_test_as_recorded() {
    let (s, mut norm, _) = corpus();
    let mut diffs = Vec::new();
    for &(scenario, _) in SCOPES {
        if scenario == AFTER_DIGEST {
            load_p7(&s);
        }
        diffs.extend(replay_all(&s, &[(scenario, &[0, 1, 2, 3])], &mut norm));
    }
    assert_none(&diffs);
}

/// Bin values the server refuses (server-behaviours S19), as asrestore met them: one batch of five
/// rows (a 6-byte HLL: 4; an ordered list [2, 1], a key-ordered map {b, a}, a map {a, a}: 1; a
/// valid HLL and ordered list: written), then the same five as single writes, one connection
/// each; each into an empty server.
#[test]
fn refused_bin_values_as_recorded() {
    for (scenario, conns) in [
        ("asrestore-refused/batch-writes", &[3][..]),
        ("asrestore-refused/no-batch-writes", &[3, 4, 5, 6, 7][..]),
    ] {
        let s = TestServer::start(1, &[]);
        let diffs = replay_all(&s, &[(scenario, conns)], &mut Normalizer::default());
        assert_none(&diffs);
    }
}

/// Emptying the namespace and dropping its indexes and modules, as `prep-truncate` did.
#[test]
fn truncate_and_drops_as_recorded() {
    let (s, mut norm, _) = corpus();
    let diffs = replay_all(&s, &[("prep-truncate", &[0, 1])], &mut norm);
    assert_none(&diffs);
}

#[test]
fn info_as_recorded() {
    let (s, mut norm, _) = corpus();
    let diffs = replay_all(&s, &[("info", &[0]), ("info", &[1])], &mut norm);
    assert_none(&diffs);
}

/// `bar` partitions 7 (47 records) and 8 (50), as the recorded scans returned them.
fn bar() -> TestServer {
    let s = TestServer::start(1, &[]);
    let pid = |d: &[u8; 20]| u16::from_le_bytes([d[0], d[1]]) & 0xfff;
    let mut w = replay::writes_of("partition-order/asbackup-X-7", 1, |d| pid(d) == 7);
    assert_eq!(w.len(), 47);
    let p8 = replay::writes_of("raw-scan-cases", 3, |d| pid(d) == 8);
    assert_eq!(p8.len(), 50);
    w.extend(p8);
    write_all(&s, &w);
    s
}

#[test]
fn scans_of_bar_as_recorded() {
    let s = bar();
    let mut norm = Normalizer::default();
    // Hand-built requests (one connection each): max-records, no PARTITION_DONE bit, a resume
    // digest not in the tree, both arrays, the same pid twice, an empty partition, an unknown
    // namespace, an old-style whole-namespace scan.
    let mut diffs = replay_all(
        &s,
        &[("raw-scan-cases", &[0, 1, 2, 3, 4, 5, 6, 7])],
        &mut norm,
    );
    // Partition order and digest resume, from asbackup and the Python client. Their info
    // requests ask about the 200,000 records of `bar` that no capture holds; only the scans are
    // compared.
    for (scenario, conn) in [
        ("partition-order/asbackup-X-7", 1),
        ("partition-order/asbackup-X-digest10", 1),
        ("partition-order/python-query", 1),
    ] {
        diffs.extend(replay::replay(
            scenario,
            &[conn],
            s.ports[0],
            &mut norm,
            |x| x.request.ptype == TYPE_MSG,
        ));
    }
    assert_none(&diffs);
}

/// The three-node recording (server-behaviours S5): one node asked for two partitions it masters,
/// two it holds a replica of and two it has no copy of returns every record of the four it holds,
/// in pid order in one proto with a partition-done (result 11, pid in the generation) at the
/// place of each partition it has no copy of, then LAST alone.
#[test]
fn unavailable_partitions_as_recorded() {
    use as_common::wire::{field, flags, Msg};
    let s = TestServer::start(3, &["--replication-factor", "2", "--sample", "20000"]);
    let v = s.info(0, "replicas");
    let test = v.split(';').find(|x| x.starts_with("test:")).unwrap();
    let maps: Vec<Vec<u8>> = test
        .split(',')
        .skip(2)
        .map(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).unwrap())
        .collect();
    let has = |m: &[u8], p: usize| m[p / 8] & (0x80 >> (p % 8)) != 0;
    let pick = |f: &dyn Fn(usize) -> bool| (0..4096).filter(|&p| f(p)).take(2).collect::<Vec<_>>();
    let masters = pick(&|p| has(&maps[0], p));
    let replicas = pick(&|p| has(&maps[1], p));
    let none = pick(&|p| !has(&maps[0], p) && !has(&maps[1], p));
    let asked: Vec<usize> = [&masters[..], &replicas, &none].concat();
    let req = replay::scan_of(b"test", asked.iter().map(|&p| p as u16));
    let replies = replay::send(&mut connect(&s), &req).unwrap();
    assert_eq!(
        replies.len(),
        2,
        "records and partition-done in one proto, then LAST"
    );
    let mut seen = Vec::new();
    let body = &replies[0].body;
    let mut at = 0;
    while at < body.len() {
        let (m, used) = Msg::parse(&body[at..]).unwrap();
        at += used;
        let p = match m.field(field::DIGEST) {
            Some(d) => (u16::from_le_bytes([d[0], d[1]]) & 0xfff) as usize,
            None => {
                assert_eq!(
                    (m.header.info3, m.header.result),
                    (flags::INFO3_PARTITION_DONE, 11)
                );
                m.header.generation as usize
            }
        };
        if seen.last() != Some(&p) {
            seen.push(p);
        }
    }
    let mut want = asked.clone();
    want.sort();
    assert_eq!(seen, want, "every asked partition in pid order");
    let (last, _) = Msg::parse(&replies[1].body).unwrap();
    assert_eq!(
        (last.header.info3, last.header.result, replies[1].body.len()),
        (flags::INFO3_LAST, 0, 22)
    );
}

/// as-scan asks what asbackup asked for each scope (`asbackup-scopes/*/conn-01.c2s`): the same
/// header, fields in the same order with the same values (but the transaction id and the socket
/// timeout's value), the same ops, one scan per partition filter.
#[test]
fn scan_requests_as_asbackup_sends_them() {
    let (s, _, _) = corpus();
    for &(scenario, args) in SCOPES {
        let rec = replay::Recorder::start(s.ports[0]);
        let host = format!("127.0.0.1:{}", rec.port);
        let mut all = vec!["-h", &host[..], "-n", "test"];
        all.extend_from_slice(args);
        let o = std::process::Command::new(support::tool("as-scan"))
            .args(&all)
            .env("TZ", "UTC") // the captures' clock: -a is local time, as asbackup's
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{scenario}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let shapes = |v: Vec<Proto>| v.iter().map(replay::request_shape).collect::<Vec<_>>();
        assert_eq!(
            shapes(rec.msg_requests()),
            shapes(replay::recorded_msg_requests(scenario, 1)),
            "{scenario}: ours, then asbackup's"
        );
    }
}

/// The records of each partition a scan reply holds, in the order sent.
fn by_partition(replies: &[Proto]) -> std::collections::BTreeMap<u16, Vec<[u8; 20]>> {
    use as_common::wire::{field, flags, Msg};
    let mut m: std::collections::BTreeMap<u16, Vec<[u8; 20]>> = Default::default();
    for p in replies {
        let mut at = 0;
        while at < p.body.len() {
            let (msg, used) = Msg::parse(&p.body[at..]).unwrap();
            at += used;
            assert_eq!(
                msg.header.info3 & flags::INFO3_PARTITION_DONE,
                0,
                "no partition-done"
            );
            if let Some(d) = msg.field(field::DIGEST) {
                let d: [u8; 20] = d.try_into().unwrap();
                m.entry(u16::from_le_bytes([d[0], d[1]]) & 0xfff)
                    .or_default()
                    .push(d);
            }
        }
    }
    m
}

/// `max-records`: the recorded requests of asbackup -M 1000 and the Python client's
/// max_records=1000, replayed on data of our own in `bar` (its records are in no capture),
/// return exactly 1000 records from the lowest partitions up, with no gap, each partition a
/// prefix of its whole descending order, and a LAST alone; no partition-done
/// (server-behaviours S9).
#[test]
fn max_records_as_recorded() {
    let s = TestServer::start(1, &["-n", "bar", "-n", "test", "--sample", "40000"]);
    // The whole of partitions 0-255, for reference.
    let all = replay::scan_of(b"bar", 0..256);
    let whole = by_partition(&replay::send(&mut connect(&s), &all).unwrap());
    for (scenario, conn) in [
        ("max-records/asbackup-M1000", 1),
        ("max-records/python-scan-max1000", 1),
    ] {
        let req = replay::recorded_msg_requests(scenario, conn).remove(0);
        let replies = replay::send(&mut connect(&s), &req).unwrap();
        let last = replies.last().unwrap();
        assert_eq!(last.body.len(), 22, "{scenario}: LAST alone");
        let got = by_partition(&replies);
        assert_eq!(
            got.values().map(Vec::len).sum::<usize>(),
            1000,
            "{scenario}"
        );
        let pids: Vec<u16> = got.keys().copied().collect();
        assert_eq!(
            pids,
            (0..pids.len() as u16).collect::<Vec<_>>(),
            "{scenario}: no gap from 0"
        );
        let mut partial = 0;
        for (p, ds) in &got {
            let full = &whole[p];
            assert_eq!(
                &full[..ds.len()],
                &ds[..],
                "{scenario}: partition {p} is a prefix"
            );
            partial += usize::from(ds.len() < full.len());
        }
        assert!(
            partial <= 1,
            "{scenario}: one partition cut short, at the end"
        );
    }
}

/// What an ASB file holds: records by digest, index lines, UDF modules.
type Contents = (
    std::collections::BTreeMap<[u8; 20], as_common::record::Record<'static>>,
    Vec<String>,
    Vec<(Vec<u8>, Vec<u8>)>,
);

fn contents(asb: &[u8]) -> Contents {
    use as_common::asb::{AsbItem, AsbReader};
    let mut r = AsbReader::new(asb).expect("an ASB file");
    let mut out: Contents = Default::default();
    while let Some(item) = r.next_item().expect("a valid ASB file") {
        match item.into_owned() {
            AsbItem::Record(rec) => {
                assert!(out.0.insert(rec.digest, rec).is_none(), "a record twice")
            }
            AsbItem::SIndex(mut i) => {
                // asbackup 4.5.8 writes a set-less index, which an 8.1 server lists as
                // `set=null`, on a set literally named "null"; this toolkit writes it set-less,
                // as the format intends (docs/asb-format.md#set-null).
                if i.set.as_deref() == Some(b"null") {
                    i.set = None;
                }
                out.1.push(format!("{i:?}"))
            }
            AsbItem::Udf(u) => out.2.push((u.name.to_vec(), u.content.to_vec())),
        }
    }
    out.1.sort();
    out.2.sort();
    out
}

/// scripts/asbackup against the corpus writes, for every recorded scope, what the official
/// asbackup 4.5.8 wrote from the real server (`*/backup.asb`): the same records with the same
/// keys, sets and bins, the same index and UDF definitions. Only the expiries (our clock) and
/// the three generations that changed between the captures are normalised.
#[test]
fn backups_hold_what_the_official_asbackup_wrote() {
    let (s, norm, _) = corpus();
    let shift = norm
        .clock_shift
        .expect("the restore capture has records with a TTL");
    let tmp = tempfile::tempdir().unwrap();
    let host = s.host();
    for &(scenario, args) in SCOPES {
        if scenario == AFTER_DIGEST {
            load_p7(&s);
        }
        let file = tmp
            .path()
            .join(format!("{}.asb", scenario.replace('/', "_")));
        let mut all = vec!["-h", &host[..], "-n", "test", "-o", file.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = support::asbackup_command(&all)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{scenario}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let theirs = contents(&support::fixture(
            &replay::wire_dir().join(scenario).join("backup.asb"),
        ));
        let ours = contents(&std::fs::read(&file).unwrap());
        assert_eq!(ours.1, theirs.1, "{scenario}: index definitions");
        assert_eq!(ours.2, theirs.2, "{scenario}: UDF modules");
        assert_eq!(
            ours.0.keys().collect::<Vec<_>>(),
            theirs.0.keys().collect::<Vec<_>>(),
            "{scenario}: the same records"
        );
        for (d, t) in &theirs.0 {
            let mut o = ours.0[d].clone();
            if o.generation == 1 && norm.generation_before_load.contains(d) {
                o.generation = t.generation;
            }
            if o.expiry != 0
                && t.expiry != 0
                && (o.expiry as i64 - t.expiry as i64 - shift).abs() <= 2
            {
                o.expiry = t.expiry;
            }
            assert_eq!(&o, t, "{scenario}: record {}", replay::hex(d));
        }
    }
}
