//! as-restore against the test server: round trips of every particle type (batch and single
//! writes, our streams and the official asbackup samples), asrestore's policies against records
//! already there, filters and remaps, and faults: overload, connection resets, a node killed,
//! record errors with and without -K, retries used up, SIGINT; the bin values a server refuses.

use as_test_support as support;

use aerospike::{as_key, Bin, Value, WritePolicy};
use as_cli::summary::Summary;
use as_common::record::{Bin as SBin, Record, SIndex, Udf, Value as SValue};
use as_common::stream::{Frame, Header, StreamReader, StreamWriter};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::cluster::{self, Backup};
use support::{run, tool, TestServer};

const EPOCH_2010: u64 = 1_262_304_000;

fn now_cl() -> u32 {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - EPOCH_2010) as u32
}

/// Runs as-restore on `stream` with `args` against `s`; returns the exit status, stderr and the
/// --summary it wrote.
fn restore(s: &TestServer, args: &[&str], stream: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let sum = dir.path().join("summary");
    let host = s.host();
    let mut all = vec!["-h", &host[..], "--summary", sum.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, _, err) = run(tool("as-restore"), &all, stream);
    (code, err, std::fs::read_to_string(&sum).unwrap_or_default())
}

fn count(summary: &str, key: &str) -> u64 {
    Summary::get(summary, key)
        .unwrap_or_else(|| panic!("no {key} in {summary:?}"))
        .parse()
        .unwrap()
}

/// Everything a stream holds.
struct Contents {
    records: BTreeMap<[u8; 20], Record<'static>>,
    sindexes: Vec<SIndex>,
    udfs: Vec<Udf<'static>>,
}

fn contents(stream: &[u8]) -> Contents {
    let mut r = StreamReader::new(stream).unwrap();
    let mut c = Contents {
        records: BTreeMap::new(),
        sindexes: Vec::new(),
        udfs: Vec::new(),
    };
    while let Some(f) = r.next_frame().unwrap() {
        match f {
            Frame::Record(x) => {
                c.records.insert(x.digest, x.into_owned());
            }
            Frame::SIndex(s) => c.sindexes.push(s),
            Frame::Udf(u) => c.udfs.push(u.into_owned()),
            Frame::PartitionDone(_) => {}
        }
    }
    c
}

fn scan_stream(s: &TestServer, ns: &str) -> Vec<u8> {
    let host = s.host();
    let (code, out, err) = run(tool("as-scan"), &["-h", &host, "-n", ns], b"");
    assert_eq!(code, 0, "{err}");
    out
}

fn gen(n: u64, seed: u64) -> Vec<u8> {
    let (code, out, err) = run(
        tool("as-gen"),
        &["-n", &n.to_string(), "--seed", &seed.to_string()],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    out
}

/// Every record of `src` that had not expired is in `back` with the same set, key, bins (names,
/// types, raw bytes, order) and expiry; nothing else is; the generation is the server's own.
fn assert_restored(src: &Contents, back: &Contents, now: u32) -> u64 {
    let mut live = 0;
    for (d, r) in &src.records {
        let expired = r.expiry != 0 && r.expiry <= now;
        let Some(b) = back.records.get(d) else {
            assert!(expired, "record {d:02x?} lost");
            continue;
        };
        assert!(!expired, "an expired record was restored");
        live += 1;
        assert_eq!(b.set, r.set);
        assert_eq!(b.key, r.key, "key of {d:02x?}");
        assert_eq!(b.bins, r.bins, "bins of {d:02x?}");
        if r.expiry == 0 {
            assert_eq!(b.expiry, 0);
        } else {
            assert!(
                b.expiry.abs_diff(r.expiry) <= 2,
                "{} vs {}",
                b.expiry,
                r.expiry
            );
        }
    }
    assert_eq!(
        back.records.len() as u64,
        live,
        "records that were not backed up"
    );
    live
}

fn same_metadata(src: &Contents, back: &Contents) {
    let key = |s: &SIndex| {
        (
            s.name.clone(),
            s.set.clone(),
            s.bin.clone(),
            s.context.clone(),
        )
    };
    let mut a: Vec<_> = src.sindexes.iter().map(key).collect();
    let mut b: Vec<_> = back.sindexes.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "secondary indexes");
    let u = |c: &Contents| {
        let mut v: Vec<_> = c
            .udfs
            .iter()
            .map(|u| (u.name.to_vec(), u.content.to_vec()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(u(src), u(back), "UDF modules");
}

#[test]
fn round_trip_of_every_particle_type_batch_and_single() {
    let s = TestServer::start(3, &[]);
    let stream = gen(3000, 7);
    let src = contents(&stream);
    let now = now_cl();
    let (code, err, sum) = restore(&s, &[], &stream);
    assert_eq!(code, 0, "{err}");
    let back = contents(&scan_stream(&s, "test"));
    let live = assert_restored(&src, &back, now);
    same_metadata(&src, &back);
    assert_eq!(count(&sum, "inserted"), live);
    assert_eq!(count(&sum, "expired"), 3000 - live);
    assert_eq!(count(&sum, "records"), 3000);
    assert!(back.records.values().all(|r| r.generation == 1));
    assert!(err.contains(&format!("inserted {live}: failed 0")), "{err}");

    // Single writes, pipelined, into another namespace.
    let (code, err, sum) = restore(&s, &["--disable-batch-writes", "-n", "test,bar"], &stream);
    assert_eq!(code, 0, "{err}");
    let back = contents(&scan_stream(&s, "bar"));
    assert_restored(&src, &back, now);
    assert_eq!(count(&sum, "inserted"), live);
    // The indexes went to bar, without a set where they had none (not a set named "null").
    let list = s.info(0, "sindex-list:ns=bar");
    assert_eq!(
        list.matches("ns=bar:").count(),
        src.sindexes.len(),
        "{list}"
    );
    let setless = src.sindexes.iter().filter(|i| i.set.is_none()).count();
    assert!(setless > 0, "the generated stream has a set-less index");

    // Restored again: every record is as fresh as the backup's, the indexes match.
    let (code, err, sum) = restore(&s, &["-g", "-n", "test"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&sum, "inserted"), live, "-g writes over them");
    assert_eq!(count(&sum, "indexes_matched"), src.sindexes.len() as u64);
}

#[test]
fn official_asbackup_samples_restore_exactly() {
    let s = TestServer::start(2, &[]);
    let samples = support::samples();
    for (file, z) in [
        ("sample.asb", None),
        ("sample-compact.asb", None),
        ("sample-zstd.asb", Some("zstd")),
    ] {
        let path = samples.join(file);
        let mut args = vec![path.to_str().unwrap()];
        if let Some(z) = z {
            args.extend(["-z", z]);
        }
        let (code, stream, err) = run(tool("as-decode"), &args, b"");
        assert_eq!(code, 0, "{file}: {err}");
        let src = contents(&stream);
        let (code, err, _) = restore(&s, &["-n", "bar,test", "-g"], &stream);
        assert_eq!(code, 0, "{file}: {err}");
        let back = contents(&scan_stream(&s, "test"));
        assert_restored(&src, &back, now_cl());
        same_metadata(&src, &back);
    }
    // A directory backup: each file restored in turn, the records of both together.
    let mut all = BTreeMap::new();
    for f in ["bar_00000.asb", "bar_00001.asb"] {
        let path = samples.join("sample-dir").join(f);
        let (code, stream, err) = run(tool("as-decode"), &[path.to_str().unwrap()], b"");
        assert_eq!(code, 0, "{err}");
        all.extend(contents(&stream).records);
        let (code, err, _) = restore(&s, &[], &stream);
        assert_eq!(code, 0, "{err}");
    }
    let back = contents(&scan_stream(&s, "bar"));
    assert_eq!(back.records.len(), all.len());
    for (d, r) in &all {
        assert_eq!(back.records[d].bins, r.bins);
    }
}

fn header(ns: &str) -> Header {
    Header {
        namespace: Some(ns.as_bytes().to_vec()),
        first_file: true,
        producer: "restore test".into(),
        scope: "test".into(),
        append: false,
        origin: None,
    }
}

fn int(v: i64) -> SValue<'static> {
    SValue::int(v)
}

fn record(
    set: &str,
    k: i64,
    generation: u16,
    expiry: u32,
    bins: &[(&str, SValue<'static>)],
) -> Record<'static> {
    let key = SValue::new(1, k.to_be_bytes().to_vec());
    Record {
        namespace: b"test".to_vec().into(),
        set: Some(set.as_bytes().to_vec().into()),
        digest: as_common::wire::digest(set.as_bytes(), &key),
        key: Some(key),
        generation,
        expiry,
        bins: bins
            .iter()
            .map(|(n, v)| SBin {
                name: n.as_bytes().to_vec().into(),
                value: v.clone(),
            })
            .collect(),
    }
}

fn stream_of(records: &[Record]) -> Vec<u8> {
    let mut w = StreamWriter::new(Vec::new(), &header("test")).unwrap();
    for r in records {
        w.record(r).unwrap();
    }
    w.finish().unwrap().0
}

/// Generation and bins (name, raw value) of records, by integer key.
type ByKey = BTreeMap<i64, (u16, Vec<(String, Vec<u8>)>)>;

/// Bins and generation of each record of set `p` in the cluster, by key.
fn by_key(s: &TestServer) -> ByKey {
    let b: Backup = cluster::scan(s, &["-n", "test", "-s", "p"]);
    b.records
        .values()
        .map(|r| {
            let k = i64::from_be_bytes(r.key.as_ref().unwrap().data[..].try_into().unwrap());
            let bins = r
                .bins
                .iter()
                .map(|b| {
                    (
                        String::from_utf8_lossy(&b.name).into_owned(),
                        b.value.data.to_vec(),
                    )
                })
                .collect();
            (k, (r.generation, bins))
        })
        .collect()
}

/// Records 0-5 already there (bins a=0, old="x"): 0-2 at generation 1, 3-5 at generation 3. The
/// backup has 0-5 at generation 2 with a=1, and 6-7 that are new.
fn policy_case(args: &[&str]) -> (ByKey, String) {
    let s = TestServer::start(1, &[]);
    let rt = cluster::rt();
    let c = rt.block_on(cluster::client(&s));
    let wp = WritePolicy {
        send_key: true,
        ..Default::default()
    };
    rt.block_on(async {
        for k in 0..6i64 {
            let times = if k < 3 { 1 } else { 3 };
            for _ in 0..times {
                let key = as_key!("test", "p", k);
                let bins = [
                    Bin::new("a", Value::Int(0)),
                    Bin::new("old", Value::from("x")),
                ];
                c.put(&wp, &key, &bins).await.unwrap();
            }
        }
    });
    let backup: Vec<Record> = (0..8)
        .map(|k| record("p", k, 2, 0, &[("a", int(1))]))
        .collect();
    let (code, err, sum) = restore(&s, args, &stream_of(&backup));
    assert_eq!(code, 0, "{args:?}: {err}");
    (by_key(&s), sum)
}

#[test]
fn policies_as_asrestore_applies_them() {
    let one = int(1).data.to_vec();
    let zero = int(0).data.to_vec();
    let has = |m: &ByKey, k: i64, bin: &str| {
        m[&k]
            .1
            .iter()
            .find(|(n, _)| n == bin)
            .map(|(_, v)| v.clone())
    };

    // Default: update over an older generation only; bins merge.
    let (m, sum) = policy_case(&[]);
    assert_eq!((count(&sum, "inserted"), count(&sum, "fresher")), (5, 3));
    for k in 0..3 {
        assert_eq!(has(&m, k, "a"), Some(one.clone()));
        assert_eq!(has(&m, k, "old"), Some(b"x".to_vec()), "bins merge");
    }
    for k in 3..6 {
        assert_eq!(has(&m, k, "a"), Some(zero.clone()), "fresher left alone");
    }
    assert_eq!(m.len(), 8);

    // -g: over any generation.
    let (m, sum) = policy_case(&["-g"]);
    assert_eq!(count(&sum, "inserted"), 8);
    assert!((0..8).all(|k| has(&m, k, "a") == Some(one.clone())));

    // -u: only records that do not exist.
    let (m, sum) = policy_case(&["-u"]);
    assert_eq!((count(&sum, "inserted"), count(&sum, "existed")), (2, 6));
    assert!((0..6).all(|k| has(&m, k, "a") == Some(zero.clone())));
    assert!(err_free(&sum));

    // -r: replace (the old bin goes), still only over an older generation.
    let (m, sum) = policy_case(&["-r"]);
    assert_eq!((count(&sum, "inserted"), count(&sum, "fresher")), (5, 3));
    assert_eq!(has(&m, 0, "old"), None, "replaced");
    assert_eq!(has(&m, 4, "old"), Some(b"x".to_vec()));

    // -r -g: every record replaced.
    let (m, _) = policy_case(&["-r", "-g"]);
    assert!((0..6).all(|k| has(&m, k, "old").is_none()));

    // asrestore's exclusions.
    let s = TestServer::start(1, &[]);
    let (code, err, _) = restore(&s, &["-u", "-r"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--unique is mutually exclusive"), "{err}");
}

fn err_free(sum: &str) -> bool {
    count(sum, "ignored") == 0 && Summary::get(sum, "complete") == Some("true")
}

#[test]
fn ttls_filters_and_remaps() {
    let s = TestServer::start(1, &[]);
    let now = now_cl();
    let recs = vec![
        record("p", 1, 1, 0, &[("a", int(1)), ("b", int(2))]),
        record("p", 2, 1, now + 1000, &[("a", int(1))]),
        record("p", 3, 1, now - 10, &[("a", int(1))]),
        record("q", 4, 1, 0, &[("b", int(1))]),
    ];
    let stream = stream_of(&recs);

    let (code, err, sum) = restore(&s, &[], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!((count(&sum, "inserted"), count(&sum, "expired")), (3, 1));
    let m = contents(&scan_stream(&s, "test"));
    assert_eq!(m.records[&recs[0].digest].expiry, 0, "never expires");
    assert!(!m.records.contains_key(&recs[2].digest), "expired: skipped");

    // --extra-ttl is added before the expiry is checked: it revives a record that expired less
    // than it ago, and never stays never.
    let (code, _, sum) = restore(&s, &["-n", "test,bar", "-l", "500"], &stream);
    assert_eq!(code, 0);
    assert_eq!((count(&sum, "inserted"), count(&sum, "expired")), (4, 0));
    let m = contents(&scan_stream(&s, "bar"));
    assert_eq!(m.records[&recs[0].digest].expiry, 0, "never stays never");
    let e = m.records[&recs[1].digest].expiry;
    assert!(
        e.abs_diff(now + 1500) <= 2,
        "--extra-ttl: {e} vs {}",
        now + 1500
    );
    let e = m.records[&recs[2].digest].expiry;
    assert!(e.abs_diff(now + 490) <= 2, "revived: {e} vs {}", now + 490);
    let s = TestServer::start(1, &[]);

    // Sets and bins: a record left without bins is skipped.
    let (code, err, sum) = restore(&s, &["-n", "test,bar", "-s", "q", "-B", "a"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!((count(&sum, "skipped"), count(&sum, "inserted")), (3, 0));
    let s2 = TestServer::start(1, &[]);
    let (code, _, sum) = restore(&s2, &["-s", "p", "-B", "a"], &stream);
    assert_eq!(code, 0);
    assert_eq!((count(&sum, "inserted"), count(&sum, "skipped")), (2, 1));
    let m = contents(&scan_stream(&s2, "test"));
    assert!(m
        .records
        .values()
        .all(|r| r.bins.len() == 1 && &*r.bins[0].name == b"a"));

    // A remap whose source is not the backup's namespace is refused before anything is written.
    let (code, err, _) = restore(&s2, &["-n", "other,bar"], &stream);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the backup is of namespace \"test\""), "{err}");
}

#[test]
fn overload_resets_and_retries_used_up() {
    let stream = gen(2000, 3);
    let src = contents(&stream);
    for (fault, single) in [
        ("write-error=18;times=40", false),
        ("write-error=9;times=40", true),
        ("cut-batches=3", false),
    ] {
        let s = TestServer::start(2, &[]);
        assert_eq!(s.info(0, &format!("testd-fault:{fault}")), "ok");
        let mut args = vec!["--retry-scale-factor", "1000"];
        if single {
            args.push("--disable-batch-writes");
        }
        let (code, err, sum) = restore(&s, &args, &stream);
        assert_eq!(code, 0, "{fault}: {err}");
        assert!(count(&sum, "retries") > 0, "{fault}");
        let back = contents(&scan_stream(&s, "test"));
        assert_restored(&src, &back, now_cl());
    }
    // Retries used up: a clear failure, never a success.
    let s = TestServer::start(1, &[]);
    s.info(0, "testd-fault:write-error=9;times=100000");
    let (code, err, sum) = restore(
        &s,
        &["--max-retries", "2", "--retry-scale-factor", "1000"],
        &stream,
    );
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("not written within the retries"), "{err}");
    assert_eq!(Summary::get(&sum, "complete"), Some("false"));
}

#[test]
fn record_errors_stop_the_restore_unless_ignored() {
    let recs = vec![
        record("p", 1, 1, 0, &[("a", int(1))]),
        record("p", 2, 1, 0, &[("a_bin_name_too_long", int(1))]),
        record("p", 3, 1, 0, &[("a", int(1))]),
    ];
    let stream = stream_of(&recs);
    let s = TestServer::start(1, &[]);
    let (code, err, sum) = restore(&s, &[], &stream);
    assert_ne!(code, 0);
    assert!(
        err.contains("bin name too long") && err.contains("--ignore-record-error"),
        "{err}"
    );
    assert_eq!(Summary::get(&sum, "complete"), Some("false"));
    let s = TestServer::start(1, &[]);
    let (code, err, sum) = restore(&s, &["-K"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!((count(&sum, "ignored"), count(&sum, "inserted")), (1, 2));
}

/// as-restore started on `args`, its input fed `stream` from a thread (joined by [`finish`]).
fn start_restore(
    args: &[&str],
    stream: Vec<u8>,
) -> (std::process::Child, std::thread::JoinHandle<()>) {
    let mut child = Command::new(tool("as-restore"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&stream);
    });
    (child, feeder)
}

/// Waits for a restore from [`start_restore`]: its exit status and stderr.
fn finish(run: (std::process::Child, std::thread::JoinHandle<()>)) -> (Option<i32>, String) {
    let out = run.0.wait_with_output().unwrap();
    run.1.join().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A node taken away mid-restore: its partitions move, the writes follow them, nothing is lost.
#[test]
fn a_node_killed_mid_restore_loses_nothing() {
    let s = TestServer::start(3, &[]);
    let stream = gen(20000, 11);
    let src = contents(&stream);
    let host = s.host();
    let run = start_restore(
        &[
            "-h",
            &host,
            "--nice",
            "100,10000",
            "--retry-scale-factor",
            "20000",
        ],
        stream,
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(s.info(0, "testd-kill:node=2"), "ok");
    let (code, err) = finish(run);
    assert_eq!(code, Some(0), "{err}");
    let back = contents(&scan_stream(&s, "test"));
    assert_restored(&src, &back, now_cl());
}

/// SIGINT: the writes in flight finish, the counts say what was restored, and the exit status
/// says it was stopped; the cluster holds exactly what the counts say.
#[test]
fn sigint_stops_cleanly_and_counts_what_was_written() {
    let s = TestServer::start(2, &[]);
    let stream = gen(20000, 5);
    let dir = tempfile::tempdir().unwrap();
    let sum = dir.path().join("summary");
    let host = s.host();
    let run = start_restore(
        &[
            "-h",
            &host,
            "--nice",
            "100,4000",
            "--summary",
            sum.to_str().unwrap(),
        ],
        stream,
    );
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(run.0.id() as i32, libc::SIGINT) };
    let (code, err) = finish(run);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    let sum = std::fs::read_to_string(sum).unwrap();
    assert_eq!(Summary::get(&sum, "complete"), Some("false"));
    let inserted = count(&sum, "inserted");
    assert!(inserted > 0 && inserted < 20000, "{inserted}");
    let back = contents(&scan_stream(&s, "test"));
    assert_eq!(back.records.len() as u64, inserted);
}

/// An index of the backup's name but another definition is replaced; the same one is left (and
/// counted as matched); with -s, an index of another set is skipped.
#[test]
fn indexes_compared_replaced_and_filtered() {
    let s = TestServer::start(1, &[]);
    let stream = gen(50, 1);
    let src = contents(&stream);
    let ctx = src.sindexes.iter().find(|i| i.context.is_some()).unwrap();
    let name = String::from_utf8_lossy(&ctx.name).into_owned();
    assert_eq!(
        s.info(0, &format!("sindex-create:namespace=test;set=other;indexname={name};indextype=DEFAULT;bin=zz;type=STRING")),
        "ok"
    );
    let (code, err, sum) = restore(&s, &["-R"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&sum, "indexes_matched"), 0);
    let list = s.info(0, "sindex-list:ns=test;b64=true");
    let item = list
        .split(';')
        .find(|i| i.contains(&format!("indexname={name}:")))
        .unwrap();
    assert!(
        item.contains("bin=tags") && item.contains("context=khAA"),
        "{item}"
    );
    assert_eq!(
        list.matches("ns=test:").count(),
        src.sindexes.len(),
        "{list}"
    );

    let (code, _, sum) = restore(&s, &["-R"], &stream);
    assert_eq!(code, 0);
    assert_eq!(count(&sum, "indexes_matched"), src.sindexes.len() as u64);

    let s2 = TestServer::start(1, &[]);
    let (code, err, _) = restore(&s2, &["-R", "-s", "users"], &stream);
    assert_eq!(code, 0);
    assert!(err.contains("with unwanted set(s)"), "{err}");
    let list = s2.info(0, "sindex-list:ns=test");
    assert_eq!(list.matches("ns=test:").count(), 1, "{list}");
}

/// `entries` of index `name` in namespace `test`, as `sindex-stat` reports it.
fn index_entries(s: &TestServer, name: &str) -> u64 {
    let stat = s.info(0, &format!("sindex-stat:namespace=test;indexname={name}"));
    stat.split(';')
        .find_map(|kv| kv.strip_prefix("entries="))
        .unwrap_or_else(|| panic!("no entries in {stat:?}"))
        .parse()
        .unwrap()
}

/// The official asbackup 4.5.8 writes a set-less index of an 8.x server as `* i test null
/// idx_noset ...` (the server lists it as set=null), and `sindex-create` with `set=null` makes an
/// index on a set named "null" (server-behaviours S17: 0 entries, 13 when made without a set).
/// as-restore creates it without a set, says so, and matches it when restored again;
/// --keep-null-set passes the set on literally, as asrestore does; -s keeps it only when `null`
/// is listed.
#[test]
fn a_null_set_index_is_restored_without_a_set() {
    let asb = support::fixture(&support::data().join("wire/asbackup-ns/backup.asb"));
    let (code, stream, err) = run(tool("as-decode"), &[], &asb);
    assert_eq!(code, 0, "{err}");
    let src = contents(&stream);
    let noset = src
        .sindexes
        .iter()
        .find(|i| i.name == b"idx_noset")
        .expect("the backup has idx_noset");
    assert_eq!(
        noset.set.as_deref(),
        Some(&b"null"[..]),
        "as-decode keeps the word"
    );
    let line = "as-restore: index idx_noset: set \"null\" read as no set (the server lists \
                set-less indexes as set=null); --keep-null-set keeps it literal";
    let null_set = |s: &TestServer| {
        s.info(0, "sets/test")
            .split(';')
            .find(|i| i.contains(":set=null:"))
            .map(str::to_string)
    };

    // The records restored (not expired) holding `bin`, in any set (None) or in `set`.
    let now = now_cl();
    let holding = |bin: &[u8], set: Option<&[u8]>| {
        src.records
            .values()
            .filter(|r| r.expiry == 0 || r.expiry > now)
            .filter(|r| set.is_none_or(|x| r.set.as_deref() == Some(x)))
            .filter(|r| r.bins.iter().any(|b| &b.name[..] == bin))
            .count() as u64
    };
    // 13 on the recorded server, when none of them had expired.
    let v = holding(b"v", None);
    assert!(
        v > holding(b"v", Some(b"edge")),
        "bin v is in other sets too"
    );

    // Set-less: it covers the records of every set that hold bin v.
    let s = TestServer::start(1, &[]);
    let (code, err, _) = restore(&s, &[], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches(line).count(), 1, "{err}");
    assert_eq!(index_entries(&s, "idx_noset"), v);
    assert_eq!(index_entries(&s, "idx_int"), holding(b"i", Some(b"edge")));
    assert_eq!(null_set(&s), None, "no set named null");
    let list = s.info(0, "sindex-list:ns=test");
    assert!(
        list.contains("indexname=idx_noset:set=null:bin=v:"),
        "{list}"
    );
    // Restored again, it matches the set-less index (listed as set=null).
    let (code, err, sum) = restore(&s, &["-R"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&sum, "indexes_matched"), src.sindexes.len() as u64);
    assert_eq!(index_entries(&s, "idx_noset"), v);

    // On a cluster asrestore restored (idx_noset on the set "null", listed as set=null), the
    // index is recreated without a set rather than matched.
    let s = TestServer::start(1, &[]);
    assert_eq!(
        s.info(0, "sindex-create:namespace=test;set=null;indexname=idx_noset;indextype=DEFAULT;bin=v;type=NUMERIC"),
        "ok"
    );
    assert_eq!(index_entries(&s, "idx_noset"), 0);
    let (code, err, sum) = restore(&s, &[], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&sum, "indexes_matched"), 0);
    assert_eq!(index_entries(&s, "idx_noset"), v);
    assert_eq!(null_set(&s), None, "no index left on the set null");

    // --keep-null-set: an index on the set "null", which holds no record.
    let s = TestServer::start(1, &[]);
    let (code, err, _) = restore(&s, &["--keep-null-set"], &stream);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("read as no set"), "{err}");
    assert_eq!(index_entries(&s, "idx_noset"), 0);
    let set = null_set(&s).expect("sets/test lists the set null");
    assert!(
        set.contains(":objects=0:") && set.contains(":sindexes=1:"),
        "{set}"
    );
    // Listed as set=null like a set-less one: matched, as asrestore matches it.
    let (code, err, sum) = restore(&s, &["-R", "--keep-null-set"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&sum, "indexes_matched"), src.sindexes.len() as u64);

    // -s: the index of the set `null` is kept only when `null` is listed.
    let s = TestServer::start(1, &[]);
    let (code, err, _) = restore(&s, &["-R", "-s", "edge"], &stream);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("idx_noset"), "{err}");
    let list = s.info(0, "sindex-list:ns=test");
    assert!(!list.contains("idx_noset"), "{list}");
    let (code, err, _) = restore(&s, &["-R", "-s", "edge,null"], &stream);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches(line).count(), 1, "{err}");
    let list = s.info(0, "sindex-list:ns=test");
    assert!(list.contains("indexname=idx_noset:set=null:"), "{list}");
    assert_eq!(null_set(&s), None, "created without a set");
}

/// The bin values a real server refuses, the test server refuses with the same result code, in
/// batch and in single writes, and stores nothing of their records (server-behaviours S19): a
/// HyperLogLog whose size is not the one its bits make (code 4), an ordered list out of order, a
/// key-ordered map out of key order, a map with a key twice (code 1). The same kinds of value,
/// made right, are written as they are.
#[test]
fn bin_values_a_server_refuses_are_refused_with_its_codes() {
    use as_common::record::particle::{HLL, LIST, MAP};
    // 4 index bits, no minhash bits: 11 bytes of header and (6 * 16 + 7) / 8 = 12 of registers.
    let mut hll = vec![0u8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    hll.extend(1..=12);
    let mut hll_long = hll.clone();
    hll_long.push(0);
    let v = |t: u8, b: &[u8]| SValue::new(t, b.to_vec());
    let cases: Vec<(&str, SValue<'static>, Option<u8>)> = vec![
        ("an HLL", v(HLL, &hll), None),
        ("an HLL of 6 bytes", v(HLL, &[0, 8, 0, 1, 2, 3]), Some(4)),
        ("an HLL a byte too long", v(HLL, &hll_long), Some(4)),
        (
            "an ordered [1, 2]",
            v(LIST, &[0x93, 0xc7, 0, 1, 1, 2]),
            None,
        ),
        (
            "an ordered [2, 1]",
            v(LIST, &[0x93, 0xc7, 0, 1, 2, 1]),
            Some(1),
        ),
        (
            "an ordered [-1, 1]",
            v(LIST, &[0x93, 0xc7, 0, 1, 0xff, 1]),
            None,
        ),
        (
            "an ordered [\"a\", 1]",
            v(LIST, &[0x93, 0xc7, 0, 1, 0xa2, 3, b'a', 1]),
            Some(1),
        ),
        (
            "a key-ordered {a, b}",
            v(
                MAP,
                &[0x83, 0xc7, 0, 1, 0xc0, 0xa2, 3, b'a', 1, 0xa2, 3, b'b', 2],
            ),
            None,
        ),
        (
            "a key-ordered {b, a}",
            v(
                MAP,
                &[0x83, 0xc7, 0, 1, 0xc0, 0xa2, 3, b'b', 1, 0xa2, 3, b'a', 2],
            ),
            Some(1),
        ),
        (
            "a map {a, a}",
            v(MAP, &[0x82, 0xa2, 3, b'a', 1, 0xa2, 3, b'a', 2]),
            Some(1),
        ),
    ];
    let s = TestServer::start(1, &[]);
    let mut want = ByKey::new();
    for (first, single) in [(0, false), (100, true)] {
        for (i, (what, value, refused)) in cases.iter().enumerate() {
            let key = first + i as i64;
            let stream = stream_of(&[record("p", key, 1, 0, &[("v", value.clone())])]);
            let mut args = vec!["--retry-scale-factor", "1000"];
            if single {
                args.push("--disable-batch-writes");
            }
            let (code, err, sum) = restore(&s, &args, &stream);
            let how = if single { "single" } else { "batch" };
            match refused {
                None => {
                    assert_eq!(code, 0, "{what} ({how}): {err}");
                    assert_eq!(count(&sum, "inserted"), 1, "{what} ({how})");
                    want.insert(key, (1, vec![("v".to_string(), value.data.to_vec())]));
                }
                Some(c) => {
                    assert_ne!(code, 0, "{what} ({how}) was written: {err}");
                    assert!(
                        err.contains(&format!("(code {c})")),
                        "{what} ({how}): {err}"
                    );
                }
            }
        }
    }
    assert_eq!(by_key(&s), want);
}

/// A batch the server answers with a refusal for one row and success for others: the restore
/// stops, without retrying the refused rows, and counts what was written (asrestore's
/// `_batch_status_submit` does both), so it never reads as a restore that wrote nothing.
#[test]
fn a_stopped_batch_counts_the_rows_it_wrote() {
    use as_common::record::particle::{HLL, LIST};
    let v = |t: u8, b: &[u8]| SValue::new(t, b.to_vec());
    let s = TestServer::start(1, &[]);
    let stream = stream_of(&[
        record("p", 1, 1, 0, &[("v", v(HLL, &[0, 8, 0, 1, 2, 3]))]),
        record("p", 2, 1, 0, &[("v", v(LIST, &[0x93, 0xc7, 0, 1, 2, 1]))]),
        record("p", 3, 1, 0, &[("v", v(LIST, &[0x93, 0xc7, 0, 1, 1, 2]))]),
    ]);
    let (code, err, sum) = restore(&s, &["--batch-size", "8"], &stream);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("(code 4)"), "{err}");
    assert!(!err.contains("nothing was restored"), "{err}");
    assert_eq!(count(&sum, "inserted"), 1, "{sum}");
    assert_eq!(count(&sum, "retries"), 0, "{sum}");
    assert_eq!(by_key(&s).len(), 1);
}
