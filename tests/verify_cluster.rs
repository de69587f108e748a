//! `as-verify --cluster` against the bundled test server: a backup compared, record by record,
//! with what the cluster holds after updates, inserts, deletes and expiries made while the
//! backup ran and after it; a backup that lost a file; a bin changed behind the generation's
//! back (--deep, through as-testd's test-only `alter-bin` knob).
//!
//! Every test gives `--margin 0`: the backup and the test server share this host's clock, and
//! the records are written moments before the backup starts.

use as_test_support as support;

use aerospike::{as_key, Bin, Client, Value, WritePolicy};
use as_common::manifest::{Manifest, PartitionCounts};
use as_common::record::Value as Particle;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use support::cluster::{client, load, rt};
use support::{asbackup_command, run, tool, TestServer};

/// `as-verify --cluster -h HOST --margin 0 DIR EXTRA...`.
fn verify(s: &TestServer, dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let host = s.host();
    let mut args = vec!["--cluster", "-h", &host, "--margin", "0"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    let (code, out, err) = run(tool("as-verify"), &args, b"");
    (code, String::from_utf8_lossy(&out).into_owned(), err)
}

/// A directory backup of namespace test.
fn backup(s: &TestServer, dir: &Path, extra: &[&str]) {
    let host = s.host();
    let mut args = vec!["-h", &host, "-n", "test", "-d", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = asbackup_command(&args).output().unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
}

/// The line of `class` in the report.
fn line<'a>(out: &'a str, class: &str) -> Option<&'a str> {
    out.lines().find(|l| l.starts_with(&format!("{class}: ")))
}

/// Asserts the report's line of `class`: `n` records, and these per-set counts.
fn assert_class(out: &str, class: &str, n: u64, sets: &str) {
    let l = line(out, class).unwrap_or_else(|| panic!("no {class} line in:\n{out}"));
    assert!(l.starts_with(&format!("{class}: {n} record(s) ")), "{l}");
    assert!(l.ends_with(&format!("({sets})")), "{l}");
}

/// The base64 digests of a --list file.
fn listed(dir: &Path, class: &str) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join(format!("{class}.digests")))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn digest_b64(set: &str, key: i64) -> String {
    base64_simd::STANDARD
        .encode_to_string(as_common::wire::digest(set.as_bytes(), &Particle::int(key)))
}

async fn put(c: &Client, set: &str, key: i64, v: i64) {
    let wp = WritePolicy {
        send_key: true,
        ..Default::default()
    };
    c.put(
        &wp,
        &as_key!("test", set, key),
        &[Bin::new("i", Value::Int(v))],
    )
    .await
    .unwrap();
}

/// Updates while the backup runs and after, inserts, deletes and expiries: each class has
/// exactly the records made so, counted per set, and none is a defect.
#[test]
fn changes_during_and_since_the_backup_are_counted_exactly() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..200, None));
    let loaded = Instant::now();
    rt.block_on(load(&c, "b", 200..210, Some(6)));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");

    // About 2 s at 100 records a second: keys 0-4 are updated while it runs.
    let host = s.host();
    let child = asbackup_command(&[
        "-h",
        &host,
        "-n",
        "test",
        "-d",
        dir.to_str().unwrap(),
        "-L",
        "100",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Once the server has sent records, the scan (and the backup's start) is past.
    let until = Instant::now() + Duration::from_secs(20);
    while s.info(0, "testd-stats") == "scanned=0" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    for k in 0..5 {
        rt.block_on(put(&c, "a", k, -1));
    }
    let o: Output = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(
        loaded.elapsed() < Duration::from_secs(5),
        "the backup took too long to hold set b, whose records expire after 6 s"
    );

    for k in 10..13 {
        rt.block_on(put(&c, "a", k, -2)); // updated since
    }
    for k in 1000..1004 {
        rt.block_on(put(&c, "c", k, k)); // created since
    }
    let wp = WritePolicy::default();
    for k in 20..22 {
        assert!(rt
            .block_on(c.delete(&wp, &as_key!("test", "a", k)))
            .unwrap());
    }
    // Set b expires.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(loaded.elapsed()));

    let list = tmp.path().join("list");
    let (code, out, err) = verify(&s, &dir, &["--list", list.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("margin 0 s"), "{out}");
    assert_class(&out, "matched", 190, "set a: 190");
    assert_class(&out, "during", 5, "set a: 5");
    assert_class(&out, "updated", 3, "set a: 3");
    assert_class(&out, "created", 4, "set c: 4");
    assert_class(&out, "gone", 12, "set a: 2, set b: 10");
    for class in ["missing", "generation", "bins", "duplicate", "outside"] {
        assert!(line(&out, class).is_none(), "{out}");
        assert!(listed(&list, class).is_empty());
    }
    let keys = |set: &str, r: std::ops::Range<i64>| -> BTreeSet<String> {
        r.map(|k| digest_b64(set, k)).collect()
    };
    assert_eq!(listed(&list, "during"), keys("a", 0..5));
    assert_eq!(listed(&list, "updated"), keys("a", 10..13));
    assert_eq!(listed(&list, "created"), keys("c", 1000..1004));
    let gone: BTreeSet<String> = keys("a", 20..22)
        .union(&keys("b", 200..210))
        .cloned()
        .collect();
    assert_eq!(listed(&list, "gone"), gone);

    // In partition groups of some 40 records, one after the other: the same classes.
    let (code, grouped, err) = verify(&s, &dir, &["--group-records", "40", "-w", "2"]);
    assert_eq!(code, 0, "{grouped}{err}");
    // 210 in the backup and 202 on the cluster: 11 groups.
    assert!(grouped.contains(" in 11 group(s)"), "{grouped}");
    let classes = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !l.starts_with("cluster: "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(classes(&grouped), classes(&out));
}

/// A record last updated before the backup at another generation in it than on the cluster
/// (its file edited, the manifest's SHA-256 made to match): a defect, exit 3.
#[test]
fn another_generation_is_a_defect() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..20, None));
    rt.block_on(put(&c, "a", 7, 7)); // generation 2
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    backup(&s, &dir, &[]);

    let path = dir.join("test.manifest");
    let mut m = Manifest::parse(&std::fs::read(&path).unwrap()).unwrap();
    let file = dir.join(&m.files[0].name);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text.matches("\n+ g 2\n").count(),
        1,
        "one record at generation 2"
    );
    let text = text.replace("\n+ g 2\n", "\n+ g 5\n");
    std::fs::write(&file, &text).unwrap();
    use sha2::Digest;
    m.files[0].sha256 = format!("{:x}", sha2::Sha256::digest(text.as_bytes()));
    std::fs::write(&path, m.to_json()).unwrap();

    let list = tmp.path().join("list");
    let (code, out, err) = verify(&s, &dir, &["--list", list.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}{err}");
    assert_class(&out, "generation", 1, "set a: 1");
    assert_class(&out, "matched", 19, "set a: 19");
    assert!(err.contains("1 generation"), "{err}");
    assert_eq!(
        listed(&list, "generation"),
        BTreeSet::from([digest_b64("a", 7)])
    );
}

/// A file lost from the backup, its manifest made to match what is left (so the offline check
/// passes: a manifest written for a backup that had already lost a file): the cluster check
/// finds exactly that file's records missing, and fails.
#[test]
fn a_lost_file_is_exactly_its_records_missing() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..1000, None));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    backup(&s, &dir, &["-w", "2"]);

    let path = dir.join("test.manifest");
    let mut m = Manifest::parse(&std::fs::read(&path).unwrap()).unwrap();
    assert!(m.files.len() >= 2, "two workers, two files");
    let lost = m.files.pop().unwrap();
    let asb = std::fs::read(dir.join(&lost.name)).unwrap();
    std::fs::remove_file(dir.join(&lost.name)).unwrap();
    let mut digests = std::collections::BTreeMap::new();
    support::count_digests(&asb, &mut digests);
    assert!(!digests.is_empty());
    let mut parts = m.partitions.as_slice().to_vec();
    for d in digests.keys() {
        parts[as_common::record::partition_of(d) as usize] -= 1;
    }
    m.partitions = PartitionCounts::from_vec(parts).unwrap();
    m.totals.files -= 1;
    m.totals.bytes -= lost.size;
    m.totals.records -= lost.records;
    std::fs::write(&path, m.to_json()).unwrap();

    let list = tmp.path().join("list");
    let (code, out, err) = verify(&s, &dir, &["--list", list.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}{err}");
    let n = digests.len();
    assert_class(&out, "missing", n as u64, &format!("set a: {n}"));
    assert_class(
        &out,
        "matched",
        1000 - n as u64,
        &format!("set a: {}", 1000 - n),
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("{n} missing")), "{err}");
    let want: BTreeSet<String> = digests
        .keys()
        .map(|d| base64_simd::STANDARD.encode_to_string(d))
        .collect();
    assert_eq!(listed(&list, "missing"), want);
}

/// A bin changed behind the generation's back is seen by --deep only; the generated sample's
/// every particle type compares equal first (the backup's particles are the scan's, byte for
/// byte).
#[test]
fn deep_sees_a_bin_changed_behind_the_generation() {
    let s = TestServer::start(2, &["--sample", "500"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    backup(&s, &dir, &["-z", "zstd"]);
    let (code, out, err) = verify(&s, &dir, &["--deep"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        line(&out, "matched")
            .unwrap()
            .starts_with("matched: 500 record(s)"),
        "{out}"
    );
    assert!(out.contains("bins compared (--deep)"), "{out}");

    let records = support::server_records(&s, "test");
    let (digest, rec) = records
        .iter()
        .find(|(_, r)| !r.bins.is_empty())
        .expect("a record with bins");
    let b64 = base64_simd::STANDARD.encode_to_string(digest);
    assert_eq!(s.info(0, &format!("testd-fault:alter-bin={b64}")), "ok");

    let (code, out, err) = verify(&s, &dir, &[]);
    assert_eq!(code, 0, "without --deep the change is not seen: {out}{err}");
    let list = tmp.path().join("list");
    let (code, out, err) = verify(&s, &dir, &["--deep", "--list", list.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}{err}");
    let set = String::from_utf8_lossy(rec.set.as_deref().unwrap_or_default()).into_owned();
    let set = match set.as_str() {
        "" => "no set: 1".to_string(),
        s => format!("set {s}: 1"),
    };
    assert_class(&out, "bins", 1, &set);
    assert!(err.contains("1 bins"), "{err}");
    assert_eq!(listed(&list, "bins"), BTreeSet::from([b64]));
}

/// A backup of --max-records: its own records are checked, the cluster's others are counted
/// apart and are no defect.
#[test]
fn max_records_checks_only_the_backups_records() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..100, None));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    backup(&s, &dir, &["-M", "30"]);
    let (code, out, err) = verify(&s, &dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("max-records 30"), "{out}");
    assert_class(&out, "matched", 30, "set a: 30");
    assert_class(&out, "not-taken", 70, "set a: 70");

    // No cluster there: as-scan's status; the cluster options without --cluster: a usage error.
    let d = dir.to_str().unwrap();
    let (code, _, err) = run(
        tool("as-verify"),
        &["--cluster", "-h", "127.0.0.1:1", d],
        b"",
    );
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = run(tool("as-verify"), &["--deep", d], b"");
    assert_eq!(code, 2, "{err}");
}

/// A backup of two shards taken one after the other: each shard's records are compared with the
/// times of its own manifest, so a record updated between the two is updated since the first
/// shard, and in the second shard as it is now.
#[test]
fn each_shard_has_its_own_window() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..200, None));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    backup(&s, &dir, &["--shard", "1/2"]);
    let shard = |k: i64| {
        let d = as_common::wire::digest(b"a", &Particle::int(k));
        as_common::record::partition_of(&d) / 2048
    };
    let first: Vec<i64> = (0..200).filter(|k| shard(*k) == 0).take(3).collect();
    let second: Vec<i64> = (0..200).filter(|k| shard(*k) == 1).take(3).collect();
    for k in first.iter().chain(&second) {
        rt.block_on(put(&c, "a", *k, -1));
    }
    backup(&s, &dir, &["--shard", "2/2"]);
    let list = tmp.path().join("list");
    let (code, out, err) = verify(&s, &dir, &["--list", list.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the first of 2 shards"), "{out}");
    assert_class(&out, "matched", 197, "set a: 197");
    assert_class(&out, "updated", 3, "set a: 3");
    let want: BTreeSet<String> = first.iter().map(|k| digest_b64("a", *k)).collect();
    assert_eq!(listed(&list, "updated"), want);
}
