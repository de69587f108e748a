//! Catalogs against the bundled test server: a chain of a full and three incrementals with
//! inserts, updates, deletes and expiries between them and writes during one of them, restored
//! to each point (into an empty namespace and over a non-empty one, with and without
//! inventories) and compared with what a scan of the server held at that point; a backup
//! killed in the middle of an incremental; prune and remove on a real catalog; the same chain
//! in each cloud.
//!
//! A point is a backup's name, its start to the second: the changes before it are made more
//! than a second earlier, so that the scan taken for comparison is the state at that second.

use as_test_support as support;

use aerospike::{as_key, Bin, Client, Value, WritePolicy};
use as_common::record::Record;
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::clouds::{Cloud, Kind};
use support::cluster::{client, load, rt};
use support::{asbackup_command, asrestore_command, run, server_records, tool, TestServer};

type Records = BTreeMap<[u8; 20], Record<'static>>;

async fn put(c: &Client, set: &str, key: i64, v: i64) {
    let wp = WritePolicy {
        send_key: true,
        ..Default::default()
    };
    let bins = [
        Bin::new("i", Value::Int(v)),
        Bin::new("s", Value::String(format!("u{v}"))),
    ];
    c.put(&wp, &as_key!("test", set, key), &bins).await.unwrap();
}

async fn delete(c: &Client, set: &str, key: i64) {
    let wp = WritePolicy::default();
    assert!(c.delete(&wp, &as_key!("test", set, key)).await.unwrap());
}

/// One second and a little: the next backup's name (its start, to the second) is after every
/// change made before.
fn tick() {
    std::thread::sleep(Duration::from_millis(1100));
}

/// The newest backup of a catalog, from `as-catalog list --json`.
fn newest(cat: &str, cloud: Option<&Cloud>) -> String {
    let o = match cloud {
        Some(c) => c.command(tool("as-catalog"), &["list", cat, "--json"]),
        None => {
            let mut c = Command::new(tool("as-catalog"));
            c.args(["list", cat, "--json"]);
            c
        }
    }
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    let last = String::from_utf8(o.stdout).unwrap();
    let last = last.lines().last().expect("a backup").to_string();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    v["name"].as_str().unwrap().to_string()
}

fn ok(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    support::stderr(&o)
}

/// scripts/asbackup of namespace test into the catalog `cat`, with `extra`.
fn backup_command(s: &TestServer, cat: &str, extra: &[&str]) -> Command {
    let mut c = asbackup_command(&["-h", &s.host(), "-n", "test", "--catalog", cat]);
    c.args(extra);
    c
}

/// scripts/asrestore of the catalog `cat` to `until` into the server at `host`, with `extra`.
fn restore_command(host: &str, cat: &str, until: &str, extra: &[&str]) -> Command {
    let mut c = asrestore_command(&["-h", host, "--catalog", cat, "--until", until]);
    c.args(extra);
    c
}

/// A catalog backup of namespace test; its name.
fn backup(s: &TestServer, cat: &str, extra: &[&str]) -> String {
    ok(&mut backup_command(s, cat, extra));
    newest(cat, None)
}

/// Restores the chain to `until` into a new server (or `into`); what it then holds.
fn restore(cat: &str, until: &str, into: Option<&TestServer>, extra: &[&str]) -> (Records, String) {
    let fresh;
    let dst = match into {
        Some(d) => d,
        None => {
            fresh = TestServer::start(1, &[]);
            &fresh
        }
    };
    let err = ok(&mut restore_command(&dst.host(), cat, until, extra));
    (server_records(dst, "test"), err)
}

/// The records as compared: set, key and bins by digest.
fn assert_holds(got: &Records, want: &Records, what: &str) {
    let missing: Vec<_> = want.keys().filter(|d| !got.contains_key(*d)).collect();
    let extra: Vec<_> = got.keys().filter(|d| !want.contains_key(*d)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} missing, {} not expected",
        missing.len(),
        extra.len()
    );
    for (d, w) in want {
        let g = &got[d];
        assert_eq!(
            (&g.set, &g.key, &g.bins),
            (&w.set, &w.key, &w.bins),
            "{what}: a record differs"
        );
    }
}

fn without_set(r: &Records, set: &str) -> Records {
    r.iter()
        .filter(|(_, x)| x.set.as_deref() != Some(set.as_bytes()))
        .map(|(d, x)| (*d, x.clone()))
        .collect()
}

/// Waits (up to 30 s) for `file` in a backup of `cat` newer than `after`; that backup's
/// directory.
fn appears(cat: &str, after: &str, file: &str) -> std::path::PathBuf {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_dir(cat).unwrap().find_map(|e| {
            let p = e.unwrap().path();
            let newer = p.file_name().unwrap().to_str().unwrap() > after;
            (newer && p.join(file).exists()).then_some(p)
        });
        if let Some(p) = found {
            return p;
        }
        assert!(
            Instant::now() < until,
            "no {file} in a backup after {after}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn digest(set: &str, key: i64) -> [u8; 20] {
    as_common::wire::digest(set.as_bytes(), &as_common::record::Value::int(key))
}

#[test]
fn a_chain_restores_each_point_exactly() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat").to_str().unwrap().to_string();
    // The same schedule without inventories.
    let plain = tmp.path().join("plain").to_str().unwrap().to_string();

    rt.block_on(load(&c, "a", 0..200, None));
    // Set b expires between the first incremental and the second.
    rt.block_on(load(&c, "b", 0..20, Some(6)));
    let expires = Instant::now() + Duration::from_secs(6);
    tick();
    let p0 = server_records(&s, "test");
    let full = backup(&s, &cat, &["--inventory"]);
    backup(&s, &plain, &[]);

    // Inserts, updates, deletes.
    rt.block_on(async {
        for k in 300..320 {
            put(&c, "a", k, k).await;
        }
        for k in 0..10 {
            put(&c, "a", k, -k).await;
        }
        for k in 10..20 {
            delete(&c, "a", k).await;
        }
        // A new version that expires before any restore: the older one must not come back.
        let wp = WritePolicy {
            send_key: true,
            expiration: aerospike::Expiration::Seconds(4),
            ..Default::default()
        };
        let bins = [Bin::new("i", Value::Int(-50))];
        c.put(&wp, &as_key!("test", "a", 50), &bins).await.unwrap();
    });
    tick();
    let p1 = server_records(&s, "test");
    assert!(p1.contains_key(&digest("a", 50)));
    let i1 = backup(&s, &cat, &["--incremental", "--inventory"]);
    backup(&s, &plain, &["--incremental"]);

    // Expiries, and more of each.
    std::thread::sleep(expires.saturating_duration_since(Instant::now()));
    rt.block_on(async {
        for k in 20..25 {
            delete(&c, "a", k).await;
        }
        for k in 30..35 {
            put(&c, "a", k, -k).await;
        }
        for k in 400..410 {
            put(&c, "a", k, k).await;
        }
    });
    tick();
    let p2 = server_records(&s, "test");
    let in_b = |r: &Records| {
        r.values()
            .filter(|x| x.set.as_deref() == Some(b"b"))
            .count()
    };
    assert_eq!(
        (in_b(&p1), in_b(&p2)),
        (20, 0),
        "set b expired between the two"
    );

    // The second incremental, slowed to 50 records a second; once its scan runs (its files
    // are being written: the inventory is delivered first), updates, deletes and inserts.
    let child = backup_command(&s, &cat, &["--incremental", "--inventory", "-L", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let running = appears(&cat, &i1, "test.inventory");
    // Updates (of records older than its parent, and of records inserted since), deletes,
    // inserts.
    let during: Vec<i64> = (40..45).chain(400..403).collect();
    rt.block_on(async {
        for k in &during {
            put(&c, "a", *k, -k).await;
        }
        for k in 45..48 {
            delete(&c, "a", k).await;
        }
        for k in 500..505 {
            put(&c, "a", k, k).await;
        }
    });
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(!support::stderr(&o).contains("no change"));
    let i2 = running.file_name().unwrap().to_str().unwrap().to_string();
    tick();
    let p3 = server_records(&s, "test");
    let i3 = backup(&s, &cat, &["--incremental", "--inventory"]);
    backup(&s, &plain, &["--incremental"]);
    tick();
    backup(&s, &plain, &["--incremental"]);

    // Each point, into an empty namespace.
    let (got, err) = restore(&cat, &full, None, &[]);
    assert!(err.contains("newest first, each record once"), "{err}");
    assert_holds(
        &got,
        &without_set(&p0, "b"),
        "the full (set b expired since)",
    );
    let (got, _) = restore(&cat, &i1, None, &[]);
    let mut want = without_set(&p1, "b");
    want.remove(&digest("a", 50));
    assert_holds(&got, &want, "the first incremental (a 50 expired since)");
    // A record changed while a backup runs is in it as its scan found it (before or after
    // the change): never lost. What was inserted while it ran is not in its inventory.
    let (got, _) = restore(&cat, &i2, None, &[]);
    let mut want = p2.clone();
    for k in &during {
        let d = digest("a", *k);
        if got.get(&d).map(|r| &r.bins) == p3.get(&d).map(|r| &r.bins) {
            want.insert(d, p3[&d].clone());
        }
    }
    assert_holds(&got, &want, "the second incremental");
    let (got, err) = restore(&cat, &i3, None, &[]);
    assert_holds(&got, &p3, "the third incremental");
    assert!(err.contains("4 backup(s)"), "{err}");
    // Newest first: each record sent once (the older backups' copies are superseded, not
    // refused by the server), and written once.
    assert!(
        err.contains(&format!(": {} written, 0 existed,", p3.len())),
        "{err}"
    );
    // A time between two backups is the earlier one.
    let between = as_common::catalog::name_of(
        as_common::catalog::parse_name(&i3).unwrap() - chrono::Duration::seconds(1),
    );
    let (got, _) = restore(&cat, &between, None, &[]);
    assert_holds(&got, &p2, "just before the third");

    // Without inventories the deleted records come back: the newest of each that was backed
    // up (all of them deleted after the full).
    let (got, _) = restore(&plain, &newest(&plain, None), None, &[]);
    let mut want = p3.clone();
    let deleted: Vec<i64> = (10..25).chain(45..48).collect();
    for k in &deleted {
        let d = digest("a", *k);
        want.insert(d, p0[&d].clone());
    }
    assert_holds(
        &got,
        &want,
        "the chain without inventories (deletes come back)",
    );

    // Over a namespace that holds records: newest first with the generation policy. Records
    // of another set stay; older copies of records the chain updated are replaced.
    let dst = TestServer::start(1, &[]);
    let dc = rt.block_on(client(&dst));
    rt.block_on(async {
        for k in 0..5 {
            put(&dc, "a", k, 1000 + k).await;
        }
    });
    rt.block_on(load(&dc, "z", 0..10, None));
    let before = server_records(&dst, "test");
    let (got, err) = restore(&cat, &i3, Some(&dst), &[]);
    assert!(err.contains("newest first"), "{err}");
    let mut want = p3.clone();
    for (d, r) in &before {
        if r.set.as_deref() == Some(b"z") {
            want.insert(*d, r.clone());
        }
    }
    assert_holds(&got, &want, "over a non-empty namespace");
    // --delete-absent: what the namespace holds besides is deleted, the deleted records that
    // were there too: it holds what it held then.
    let dst = TestServer::start(1, &[]);
    let dc = rt.block_on(client(&dst));
    rt.block_on(async {
        for k in 10..13 {
            put(&dc, "a", k, 1000 + k).await;
        }
    });
    rt.block_on(load(&dc, "z", 0..10, None));
    let (got, err) = restore(&cat, &i3, Some(&dst), &["--delete-absent"]);
    assert!(err.contains("13 deleted"), "{err}");
    assert_holds(&got, &p3, "over a non-empty namespace, --delete-absent");

    // The catalog tells the backups apart.
    let (code, out, err) = run(tool("as-catalog"), &["diff", &cat, &full, &i3], b"");
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8(out).unwrap();
    // Inserted: a 300-320, 400-410, 500-505; updated: a 0-10, 30-35, 40-45; deleted: a 10-25,
    // 45-48, set b and a 50 (expired).
    assert!(
        out.contains("inserted 35\nupdated 20\ndeleted 39\n"),
        "{out}"
    );
    // --dry-run names the backups in the order they would be applied.
    let empty = TestServer::start(1, &[]);
    let h = empty.host();
    let o = restore_command(&h, &cat, &i1, &["--dry-run"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("2 backup(s), newest first"), "{out}");
    assert!(lines[1].starts_with(&format!("{i1} incremental")), "{out}");
    assert!(lines[2].starts_with(&format!("{full} full")), "{out}");
    assert!(
        server_records(&empty, "test").is_empty(),
        "a dry run writes nothing"
    );
}

/// as-catalog's stdout lines.
fn catalog(args: &[&str]) -> (i32, String, String) {
    let (code, out, err) = run(tool("as-catalog"), args, b"");
    (code, String::from_utf8(out).unwrap(), err)
}

#[test]
fn a_killed_incremental_is_never_taken_for_complete_and_continue_finishes_it() {
    let s = TestServer::start(1, &["--sample", "2000"]);
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat").to_str().unwrap().to_string();
    let full = backup(&s, &cat, &[]);
    tick();
    // An incremental of every record (all changed within the overlap), slowed down; killed
    // (SIGKILL, the whole process group) once its state is written.
    let mut child = backup_command(&s, &cat, &["--incremental", "-L", "500", "-F", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let state = appears(&cat, &full, "test.asb.state").join("test.asb.state");
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    child.wait().unwrap();
    let name = state
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let (code, out, _) = catalog(&["list", &cat]);
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.starts_with(&name)).unwrap();
    assert!(line.contains("incomplete"), "{out}");
    let (code, out, _) = catalog(&["latest", &cat]);
    assert_eq!((code, out.trim()), (0, format!("{cat}/{full}").as_str()));
    // A restore to now takes the full alone, and says why.
    let (code, out, err) = catalog(&["chain", &cat]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("backup {full} full")) && !out.contains(&name),
        "{out}"
    );
    assert!(
        err.contains(&format!("{name} is not taken (incomplete")),
        "{err}"
    );
    // Verification does not take it either.
    let (code, out, _) = catalog(&["verify", &cat]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{name} incomplete")), "{out}");

    // --continue finishes it, with its window.
    let st = state.to_str().unwrap();
    let err = ok(&mut backup_command(
        &s,
        &cat,
        &["--incremental", "--continue", st],
    ));
    assert!(
        err.contains(&format!("catalog backup {name}: incremental after {full}")),
        "{err}"
    );
    let (_, out, _) = catalog(&["list", &cat, "--json"]);
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["name"], name.as_str());
    assert_eq!(last["status"], "complete");
    assert_eq!(last["records"], 2000);
    let (code, out, _) = catalog(&["latest", &cat, "--max-age", "1h"]);
    assert_eq!((code, out.trim()), (0, format!("{cat}/{name}").as_str()));
    let (code, _, err) = catalog(&["latest", &cat, "--max-age", "0s"]);
    assert_eq!(code, 3, "too old for monitoring: {err}");

    // Prune: keep the newest; its full stays, as it needs it; nothing is removed.
    tick();
    let (code, out, err) = catalog(&["prune", &cat, "--keep-last", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("keep   {full} (needed by {name})")),
        "{out}"
    );
    // A new full: the old chain goes, the directories with it.
    let full2 = backup(&s, &cat, &[]);
    let (code, out, err) = catalog(&["prune", &cat, "--keep-last", "1", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("remove {full} ")) && out.contains(&format!("remove {name} ")),
        "{out}"
    );
    assert!(
        Path::new(&cat).join(&full).exists(),
        "a dry run removes nothing"
    );
    let (code, _, err) = catalog(&["remove", &cat, &full]);
    assert_eq!(
        code, 2,
        "the parent of a backup is not removed alone: {err}"
    );
    let (code, _, err) = catalog(&["prune", &cat, "--keep-last", "1"]);
    assert_eq!(code, 0, "{err}");
    let left: Vec<String> = std::fs::read_dir(&cat)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, [full2]);
}

#[test]
fn an_incremental_with_no_change_is_dropped() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..50, None));
    tick();
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat").to_str().unwrap().to_string();
    let full = backup(&s, &cat, &["--inventory"]);
    tick();
    let incremental = ["--incremental", "--inventory", "--overlap", "0s"];
    let err = ok(&mut backup_command(&s, &cat, &incremental));
    assert!(err.contains("holds no change"), "{err}");
    assert_eq!(newest(&cat, None), full);
    // An option refused leaves nothing in the catalog (its plan is written once all are good).
    let o = backup_command(&s, &cat, &incremental)
        .args(["-z", "gzip"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", support::stderr(&o));
    assert_eq!(std::fs::read_dir(&cat).unwrap().count(), 1, "only the full");
    // An incremental into a catalog that is not there (an unmounted volume?) is refused.
    let missing = tmp.path().join("missing").to_str().unwrap().to_string();
    let o = backup_command(&s, &missing, &incremental).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", support::stderr(&o));
    assert!(!Path::new(&missing).exists());
    // A delete is a change an inventory sees.
    rt.block_on(delete(&c, "a", 7));
    tick();
    let err = ok(&mut backup_command(&s, &cat, &incremental));
    assert!(!err.contains("holds no change"), "{err}");
    let kept = newest(&cat, None);
    assert_ne!(kept, full);
    let (code, out, _) = catalog(&["diff", &cat, &full, &kept, "--list"]);
    assert_eq!(code, 0);
    let gone = base64_simd::STANDARD.encode_to_string(digest("a", 7));
    assert!(
        out.contains(&format!(
            "inserted 0\nupdated 0\ndeleted 1\ndeleted {gone}\n"
        )),
        "{out}"
    );
}

/// A full and an incremental with deletes in each cloud: listed, restored to each point,
/// pruned (its objects deleted).
#[test]
fn the_same_chain_in_each_cloud() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..100, None));
    let cwd = tempfile::tempdir().unwrap();
    for (i, kind) in [Kind::S3, Kind::Gcs, Kind::Azure].into_iter().enumerate() {
        let k0 = 10 * i as i64;
        let cloud = Cloud::start(kind);
        let cat = cloud.url(&format!("cat-{kind:?}"));
        let args = cloud.args();
        let wrap = |mut cmd: Command| {
            cmd.args(&args).current_dir(cwd.path());
            cloud.env(&mut cmd);
            cmd
        };
        tick();
        let p0 = server_records(&s, "test");
        let base = ["-z", "zstd", "--inventory"];
        ok(&mut wrap(backup_command(&s, &cat, &base)));
        let full = newest(&cat, Some(&cloud));
        rt.block_on(async {
            for k in k0..k0 + 5 {
                delete(&c, "a", k).await;
            }
            for k in k0 + 5..k0 + 10 {
                put(&c, "a", k, -k).await;
            }
        });
        tick();
        let p1 = server_records(&s, "test");
        let mut inc = base.to_vec();
        inc.extend(["--incremental", "--verify"]);
        let err = ok(&mut wrap(backup_command(&s, &cat, &inc)));
        assert!(err.contains("verified"), "{kind:?}: {err}");
        let i1 = newest(&cat, Some(&cloud));
        assert_ne!(i1, full);

        for (until, want) in [(&full, &p0), (&i1, &p1)] {
            let dst = TestServer::start(1, &[]);
            let h = dst.host();
            ok(&mut wrap(restore_command(&h, &cat, until, &[])));
            assert_holds(
                &server_records(&dst, "test"),
                want,
                &format!("{kind:?} {until}"),
            );
        }
        let mut cmd = cloud.command(tool("as-catalog"), &["list", &cat]);
        let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
        assert!(
            out.contains(&format!("{i1}  incremental  {full}")),
            "{kind:?}: {out}"
        );
        // Deleting the full breaks the chain: refused unless forced; forced, the
        // incremental can no longer be restored, and says which link is missing.
        let o = cloud
            .command(tool("as-catalog"), &["remove", &cat, &full, "--force"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{kind:?}: {}", support::stderr(&o));
        assert!(
            cloud.keys(&format!("cat-{kind:?}/{full}/")).is_empty(),
            "{kind:?}"
        );
        let o = cloud
            .command(tool("as-catalog"), &["chain", &cat])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{kind:?}");
        let err = support::stderr(&o);
        assert!(
            err.contains(&full) && err.contains("missing"),
            "{kind:?}: {err}"
        );
    }
}

/// Shards (two hosts' backups of one, named by --catalog-time) and encryption inside a
/// catalog: a full and an incremental, each in two shards, encrypted; verified with the key;
/// restored to each point.
#[test]
fn shards_and_encryption_inside_a_catalog() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..100, None));
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat").to_str().unwrap().to_string();
    let pem = support::samples().join("encrypted/key.pem");
    let pem = pem.to_str().unwrap();
    let sharded = |time: &str, extra: &[&str]| {
        for k in ["1/2", "2/2"] {
            let mut args = vec!["--shard", k, "--catalog-time", time, "-y", "aes256"];
            args.extend(["--encryption-key-file", pem, "--inventory"]);
            args.extend_from_slice(extra);
            ok(&mut backup_command(&s, &cat, &args));
            // One shard of two: not a backup yet, and not a damaged one.
            if k == "1/2" {
                let (_, out, _) = catalog(&["list", &cat, "--json"]);
                let last: serde_json::Value =
                    serde_json::from_str(out.lines().last().unwrap()).unwrap();
                assert_eq!(
                    (&last["name"], &last["status"]),
                    (&time.into(), &"incomplete".into())
                );
            }
        }
    };
    tick();
    let p0 = server_records(&s, "test");
    let t0 = as_common::catalog::name_of(chrono::Utc::now());
    sharded(&t0, &[]);
    rt.block_on(async {
        for k in 0..10 {
            delete(&c, "a", k).await;
        }
        for k in 200..210 {
            put(&c, "a", k, k).await;
        }
    });
    tick();
    let p1 = server_records(&s, "test");
    let t1 = as_common::catalog::name_of(chrono::Utc::now());
    sharded(&t1, &["--incremental"]);

    let (code, out, _) = catalog(&["list", &cat]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("{t1}  incremental  {t0}")), "{out}");
    let (code, out, err) = catalog(&["verify", &cat, "--encryption-key-file", pem]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(" verified").count(), 2, "{out}");
    for (until, want) in [(&t0, &p0), (&t1, &p1)] {
        let dst = TestServer::start(1, &[]);
        let h = dst.host();
        ok(&mut restore_command(
            &h,
            &cat,
            until,
            &["--encryption-key-file", pem],
        ));
        assert_holds(&server_records(&dst, "test"), want, until);
    }
}

/// The indexes and UDF modules of a restored chain are its newest backup's: a module changed
/// and an index dropped after the full stay so, in either order.
#[test]
fn a_chain_restores_its_newest_indexes_and_udfs() {
    let s = TestServer::start(1, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..20, None));
    let udf = |body: &[u8]| {
        let b64 = base64_simd::STANDARD.encode_to_string(body);
        let r = s.info(
            0,
            &format!(
                "udf-put:filename=f.lua;content={b64};content-len={};udf-type=LUA;",
                body.len()
            ),
        );
        assert!(!r.contains("error"), "{r}");
    };
    let index = |name: &str, bin: &str| {
        let cmd = format!("sindex-create:ns=test;set=a;indexname={name};bin={bin};type=numeric");
        assert_eq!(s.info(0, &cmd), "ok");
    };
    udf(b"function f(r)\n  return 1\nend\n");
    index("old", "i");
    index("kept", "s");
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat").to_str().unwrap().to_string();
    let full = backup(&s, &cat, &[]);
    udf(b"function f(r)\n  return 2\nend\n");
    assert_eq!(s.info(0, "sindex-delete:ns=test;indexname=old"), "ok");
    rt.block_on(put(&c, "a", 1, -1));
    tick();
    let inc = backup(&s, &cat, &["--incremental"]);
    assert_ne!(inc, full);
    let want_udf = s.info(0, "udf-get:filename=f.lua");
    for (extra, order) in [
        (&[][..], "newest first"),
        (&["--oldest-first"][..], "oldest first"),
    ] {
        let dst = TestServer::start(1, &[]);
        let (_, err) = restore(&cat, &inc, Some(&dst), extra);
        assert!(err.contains(order), "{err}");
        assert_eq!(dst.info(0, "udf-get:filename=f.lua"), want_udf, "{order}");
        let indexes = dst.info(0, "sindex-list:ns=test");
        assert!(
            indexes.contains("indexname=kept") && !indexes.contains("indexname=old"),
            "{order}: {indexes}"
        );
    }
}
