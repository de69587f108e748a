//! The test server against the captures of a real Aerospike CE 8.1.2.0 server
//! (`../shared/wire`): recorded requests replayed, replies compared message by message.
//!
//! The `test` namespace is loaded by replaying asrestore's single writes, sindex and UDF commands
//! (`asrestore-batch/no-batch-writes`, whose replies are compared too); `bar` holds records taken
//! from recorded scan replies (partitions 7 and 8), since its bulk data is in no capture.

mod support;

use as_common::wire::TYPE_MSG;
use std::net::TcpStream;
use support::replay::{self, Normalizer, Proto};
use support::TestServer;

/// Records that the scans of `test` saw at generation 2 or 5 (edge/ordered, edge/hll,
/// edge/gen5): they ran before the restore, which writes generation 1 (wire README).
const GEN_BEFORE_RESTORE: [&str; 3] = [
    "kJBX/K1xuK6hhJCA6X0syFtcRgo=",
    "8QLH6Kg55YT+lMkkSvQdrWgZJdU=",
    "4HO8xUyX6eBeUsMxLQRuCsBOvo0=",
];

fn connect(s: &TestServer) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.ports[0])).unwrap();
    c.set_nodelay(true).unwrap();
    c
}

fn replay_all(s: &TestServer, runs: &[(&str, usize)], norm: &mut Normalizer) -> Vec<String> {
    let mut diffs = Vec::new();
    for &(scenario, conn) in runs {
        diffs.extend(replay::replay(scenario, conn, &mut connect(s), norm, |_| true));
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

/// A one-node server holding the edge corpus as asrestore restored it, and what loading it
/// found different from the recorded restore.
fn corpus() -> (TestServer, Normalizer, Vec<String>) {
    let s = TestServer::start(1, &[]);
    let b64 = |x: &str| {
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, x)
            .unwrap()
            .try_into()
            .unwrap()
    };
    let mut norm = Normalizer {
        generation_before_load: GEN_BEFORE_RESTORE.iter().map(|d| b64(d)).collect(),
        ..Default::default()
    };
    // One connection each, as asrestore --disable-batch-writes made them.
    let runs: Vec<_> = (0..=84)
        .map(|c| ("asrestore-batch/no-batch-writes", c))
        .collect();
    let diffs = replay_all(&s, &runs, &mut norm);
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

#[test]
fn restore_replies_as_recorded() {
    let (_s, _norm, diffs) = corpus();
    assert_none(&diffs);
}

#[test]
fn scans_of_test_as_recorded() {
    let (s, mut norm, _) = corpus();
    let mut runs = vec![];
    for scenario in [
        "asbackup-ns",
        "asbackup-scopes/set-edge-bins-s-i-d",
        "asbackup-scopes/partitions-100-200-3000x96",
        "asbackup-scopes/no-bins",
        "asbackup-scopes/no-records",
        "asbackup-scopes/max-records-10",
        "asbackup-scopes/no-ttl-only",
        "asbackup-scopes/modified-after-2099",
    ] {
        runs.extend((0..4).map(|c| (scenario, c)));
    }
    let mut diffs = replay_all(&s, &runs, &mut norm);
    // -D: five records in partition 7 were there for this run only (wire README). The two the
    // scan returned come from its replies; the boundary and the two larger digests, which it
    // must not return, get a bin of their own.
    let mut p7 = replay::writes_of("asbackup-scopes/after-digest-p7", 1, |d| {
        u16::from_le_bytes([d[0], d[1]]) & 0xfff == 7
    });
    assert_eq!(p7.len(), 2);
    for prefix in [
        &[0x07, 0x50, 0xee, 0xdf, 0xf8, 0x63, 0x06, 0x46, 0x1d, 0x39][..],
        &[0x07, 0x70, 0x98, 0x0f],
        &[0x07, 0xb0, 0xac, 0x52],
    ] {
        let mut d = [0u8; 20];
        d[..prefix.len()].copy_from_slice(prefix);
        p7.push(replay::write_of(b"test", b"p7", &d, b"x", 1, &[1]));
    }
    write_all(&s, &p7);
    let runs: Vec<_> = (0..4)
        .map(|c| ("asbackup-scopes/after-digest-p7", c))
        .collect();
    diffs.extend(replay_all(&s, &runs, &mut norm));
    assert_none(&diffs);
}

#[test]
fn info_as_recorded() {
    let (s, mut norm, _) = corpus();
    let diffs = replay_all(&s, &[("info", 0), ("info", 1)], &mut norm);
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
    let mut diffs = Vec::new();
    for c in 0..8 {
        diffs.extend(replay::replay(
            "raw-scan-cases",
            c,
            &mut connect(&s),
            &mut norm,
            |_| true,
        ));
    }
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
            conn,
            &mut connect(&s),
            &mut norm,
            |x| x.request.ptype == TYPE_MSG,
        ));
    }
    assert_none(&diffs);
}
