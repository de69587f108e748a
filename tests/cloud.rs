//! as-put and as-get against each cloud's real server (moto, fake-gcs-server, Azurite), started
//! and stopped here, and the wrappers backing up into and restoring from GCS and Azure. What
//! the tools wrote is read back with each cloud's own SDK.

use as_test_support as support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::clouds::{Cloud, FaultProxy, Kind, ALL};
use support::{tool, TestServer};

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Small parts, so that a test-sized object takes many of them.
fn small_parts(c: &Cloud) -> Vec<&'static str> {
    match c.kind {
        Kind::S3 => vec!["--s3-min-part-size", "5"],
        Kind::Gcs => vec!["--gcp-chunk-size", "1"],
        Kind::Azure => vec!["--azure-block-size", "1"],
    }
}

fn put(c: &Cloud, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = c.command(tool("as-put"), args);
    cmd.args(small_parts(c));
    support::run_command(&mut cmd, stdin)
}

fn one_line(o: &Output) -> String {
    let err = support::stderr(o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn uploads_complete_only_when_whole() {
    let big = data(12 << 20);
    for kind in ALL {
        let c = Cloud::start(kind);
        let o = put(&c, &[&c.url("big.asb"), "--eof-completes", "-v"], &big);
        assert!(o.status.success(), "{kind:?}: {}", support::stderr(&o));
        assert!(c.get("big.asb") == big, "{kind:?}: the object, exactly");
        let o = put(&c, &[&c.url("small.asb"), "--eof-completes"], &big[..1000]);
        assert!(o.status.success(), "{}", support::stderr(&o));
        assert_eq!(c.get("small.asb"), &big[..1000]);

        // A producer that fails after 12 MB: no object.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("data");
        std::fs::write(&f, &big).unwrap();
        let from = format!("cat {}; exit 3", f.display());
        let o = put(&c, &[&c.url("failed.asb"), "--from", &from], b"");
        assert_ne!(o.status.code(), Some(0));
        assert!(one_line(&o).contains("the producer failed"), "{kind:?}");

        // Framed input: complete with the commit frame only.
        let mut framed = Vec::new();
        for chunk in big.chunks(3 << 20) {
            framed.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            framed.extend_from_slice(chunk);
        }
        let o = put(&c, &[&c.url("cut.asb"), "--framed"], &framed);
        assert!(
            one_line(&o).contains("without its commit frame"),
            "{kind:?}"
        );
        framed.extend_from_slice(&[0, 0, 0, 0]);
        let o = put(&c, &[&c.url("framed.asb"), "--framed"], &framed);
        assert!(o.status.success(), "{}", support::stderr(&o));
        assert!(c.get("framed.asb") == big);
        assert_eq!(
            c.keys(""),
            ["big.asb", "framed.asb", "small.asb"],
            "{kind:?}: nothing of the failed uploads"
        );
        assert_eq!(c.pending_uploads(), 0);
        // The access tier asked for. (GCS's storage class is in the resumable upload's metadata,
        // which fake-gcs-server ignores: Google's own Python client gets STANDARD there too.)
        let class = match kind {
            Kind::S3 | Kind::Gcs => continue,
            Kind::Azure => ["--azure-access-tier", "cool"],
        };
        let o = put(
            &c,
            &[&[&c.url("cold.asb")[..], "--eof-completes"][..], &class].concat(),
            &big[..1000],
        );
        assert!(o.status.success(), "{}", support::stderr(&o));
        assert_eq!(c.class("cold.asb").to_lowercase(), class[1], "{kind:?}");
    }
}

/// as-put --delete: the object goes, and one that is not there is no error (as-split
/// --sink-remove deletes a backup's marker so); a server that is gone is one line.
#[test]
fn deletes_remove_the_object_and_a_missing_one_is_no_error() {
    for kind in ALL {
        let mut c = Cloud::start(kind);
        c.put("dir/test.asb.incomplete", b"backup in progress\n");
        c.put("dir/test_00000.asb", b"kept");
        let delete = |c: &Cloud| {
            c.command(
                tool("as-put"),
                &["--delete", &c.url("dir/test.asb.incomplete")],
            )
            .output()
            .unwrap()
        };
        for _ in 0..2 {
            let o = delete(&c);
            assert!(o.status.success(), "{kind:?}: {}", support::stderr(&o));
            assert_eq!(support::stderr(&o), "", "{kind:?}");
        }
        assert_eq!(c.keys("dir/"), ["dir/test_00000.asb"], "{kind:?}");
        c.kill();
        let o = delete(&c);
        assert_ne!(o.status.code(), Some(0), "{kind:?}");
        assert!(one_line(&o).contains("deleting"), "{kind:?}");
    }
}

/// A command with the cloud's options, but pointed at `endpoint` (a proxy) instead.
fn through(c: &Cloud, endpoint: &str, program: &str, args: &[&str]) -> Command {
    let mut opts = c.args();
    opts[1] = endpoint.to_string();
    let mut cmd = Command::new(program);
    cmd.args(args).args(&opts);
    c.env(&mut cmd);
    cmd
}

#[test]
fn a_server_that_fails_or_dies_mid_upload_leaves_no_object() {
    let big = data(6 << 20);
    for kind in [Kind::Gcs, Kind::Azure] {
        let c = Cloud::start(kind);
        // Parts failing twice are retried, and the object is whole.
        let p = FaultProxy::start(&c.endpoint, &["--fail", "2"]);
        let mut cmd = through(
            &c,
            &p.url,
            tool("as-put"),
            &[&c.url("retried.asb"), "--eof-completes"],
        );
        cmd.args(small_parts(&c));
        let o = support::run_command(&mut cmd, &big);
        assert!(o.status.success(), "{kind:?}: {}", support::stderr(&o));
        assert!(c.get("retried.asb") == big, "{kind:?}");
        drop(p);
        // The server goes away on the third upload request: one line, and no object.
        let p = FaultProxy::start(&c.endpoint, &["--die-after", "3"]);
        let mut cmd = through(
            &c,
            &p.url,
            tool("as-put"),
            &[&c.url("died.asb"), "--eof-completes"],
        );
        cmd.args(small_parts(&c));
        let o = support::run_command(&mut cmd, &big);
        assert_ne!(o.status.code(), Some(0), "{kind:?}");
        one_line(&o);
        assert_eq!(c.keys(""), ["retried.asb"], "{kind:?}");
    }
    // The emulator itself killed while an upload waits on a slow producer.
    for kind in [Kind::Gcs, Kind::Azure] {
        let mut c = Cloud::start(kind);
        let from = "head -c 3000000 /dev/zero; sleep 2; head -c 3000000 /dev/zero";
        let mut cmd = c.command(tool("as-put"), &[&c.url("k.asb"), "--from", from]);
        cmd.args(small_parts(&c)).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        c.kill();
        let o = child.wait_with_output().unwrap();
        assert_ne!(o.status.code(), Some(0), "{kind:?}");
        one_line(&o);
    }
}

#[test]
fn a_stopped_upload_stores_nothing() {
    for kind in [Kind::Gcs, Kind::Azure] {
        let c = Cloud::start(kind);
        let from = "head -c 3000000 /dev/zero; sleep 30";
        for (sig, code) in [("-TERM", 143), ("-INT", 130)] {
            let mut cmd = c.command(tool("as-put"), &[&c.url("k.asb"), "--from", from]);
            cmd.args(small_parts(&c)).stderr(Stdio::piped());
            let child = cmd.spawn().unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            assert!(Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .unwrap()
                .success());
            let o = child.wait_with_output().unwrap();
            assert_eq!(
                o.status.code(),
                Some(code),
                "{kind:?}: {}",
                support::stderr(&o)
            );
            assert!(one_line(&o).contains("nothing was stored"));
            assert!(c.keys("").is_empty(), "{kind:?}");
        }
    }
}

#[test]
fn downloads_list_and_resume_where_they_broke() {
    let big = data(3 << 20);
    for kind in [Kind::Gcs, Kind::Azure] {
        let c = Cloud::start(kind);
        // Written by the cloud's own SDK, read by as-get.
        c.put("dir/test_00000.asb", &big);
        c.put("dir/test_00001.asb", &big[..100]);
        c.put("dir/notes.txt", b"not a backup file");
        let o = c
            .command(tool("as-get"), &[&c.url("dir/test_00000.asb")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{kind:?}: {}", support::stderr(&o));
        assert!(o.stdout == big, "{kind:?}");
        let o = c
            .command(tool("as-get"), &["--list", &c.url("dir")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", support::stderr(&o));
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            format!(
                "{}\n{}\n",
                c.url("dir/test_00000.asb"),
                c.url("dir/test_00001.asb")
            )
        );
        // Not backups: as-decode --validate of the prefix says which and why, one line each.
        let o = c
            .command(tool("as-decode"), &["--validate", &c.url("dir")])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{kind:?}");
        let err = support::stderr(&o);
        assert!(
            err.contains(&format!("{}: line 1", c.url("dir/test_00000.asb")))
                && err.contains("not an ASB backup"),
            "{kind:?}: {err}"
        );
        // The first ten reads break, each a tenth in: object_store resumes a broken body a few
        // times itself, then as-get does, each time asking for the rest only.
        let cut = (big.len() / 10).to_string();
        let p = FaultProxy::start(&c.endpoint, &["--cut-gets", "10", "--cut-at", &cut]);
        let o = through(
            &c,
            &p.url,
            tool("as-get"),
            &[&c.url("dir/test_00000.asb"), "-v"],
        )
        .output()
        .unwrap();
        let err = support::stderr(&o);
        assert!(o.status.success(), "{kind:?}: {err}");
        assert!(err.contains("resuming there"), "{kind:?}: {err}");
        assert!(o.stdout == big, "{kind:?}: the object exactly");
        // A missing object: one line.
        let o = c
            .command(tool("as-get"), &[&c.url("nothing.asb")])
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(0));
        one_line(&o);
    }
}

/// The wrapper's command with the cloud's options, run in `cwd` (where a cloud backup keeps
/// its state).
fn wrapper(c: &Cloud, script: Command, cwd: &std::path::Path) -> Command {
    let mut cmd = script;
    cmd.args(c.args()).current_dir(cwd);
    c.env(&mut cmd);
    cmd
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", support::stderr(&o));
    support::stderr(&o)
}

/// asbackup into GCS and Azure (one object; a directory of files), asrestore from there.
#[test]
fn the_wrappers_back_up_into_and_restore_from_each_cloud() {
    let src = TestServer::start(2, &["--sample", "4000"]);
    let h = src.host();
    let cwd = tempfile::tempdir().unwrap();
    for kind in [Kind::Gcs, Kind::Azure] {
        let c = Cloud::start(kind);
        let one = c.url("one/test.asb");
        let dir = c.url("dir");
        let backup = |args: &[&str]| {
            let base = [&["-h", &h[..], "-n", "test"][..], args].concat();
            wrapper(&c, support::asbackup_command(&base), cwd.path())
                .output()
                .unwrap()
        };
        let err = ok(backup(&["-o", &one, "-z", "zstd"]));
        let body = c.get("one/test.asb");
        assert!(
            err.contains(&format!(", {} byte(s) in total", body.len())),
            "{err}"
        );
        // The object's manifest beside it, checked against the object by as-verify.
        assert!(c
            .keys("one/")
            .contains(&"one/test.asb.manifest".to_string()));
        let o = c.command(tool("as-verify"), &[&one]).output().unwrap();
        assert!(o.status.success(), "{kind:?}: {}", support::stderr(&o));
        let err = ok(backup(&["-d", &dir, "-F", "1", "-w", "2", "--verify"]));
        assert!(err.contains("verified: "), "{err}");
        let keys = c.keys("dir/");
        assert!(
            keys.len() >= 3 && keys[0] == "dir/test.manifest" && keys[1] == "dir/test_00000.asb",
            "{kind:?}: {keys:?}"
        );
        assert!(
            keys.iter()
                .all(|k| k.ends_with(".asb") || k == "dir/test.manifest"),
            "{kind:?}: no marker left: {keys:?}"
        );
        // A failed scan completes nothing.
        let o = backup(&["-n", "nosuch", "-o", &c.url("fail.asb")]);
        assert_ne!(o.status.code(), Some(0));
        assert!(c.keys("fail").is_empty(), "{kind:?}");

        for input in [&["-i", &one, "-z", "zstd"][..], &["-d", &dir]] {
            let dst = TestServer::start(1, &[]);
            let dh = dst.host();
            let args = [&["-h", &dh[..]][..], input].concat();
            let err = ok(wrapper(&c, support::asrestore_command(&args), cwd.path())
                .output()
                .unwrap());
            assert!(
                err.contains("inserted 4000: failed 0"),
                "{kind:?} {input:?}: {err}"
            );
            support::assert_same(&src, &dst);
        }
        // as-decode --validate reads a prefix of each cloud itself.
        let o = c
            .command(tool("as-decode"), &["--validate", &dir])
            .output()
            .unwrap();
        assert!(o.status.success(), "{kind:?}: {}", support::stderr(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("valid: 4000 record(s)"),
            "{kind:?}"
        );
        let args = ["--validate", "-d", &dir];
        ok(wrapper(&c, support::asrestore_command(&args), cwd.path())
            .output()
            .unwrap());
    }
    // A mistake in a cloud option is one line before anything starts.
    let o = support::asbackup_command(&[
        "-h",
        &h,
        "-n",
        "test",
        "-d",
        "gs://b/p",
        "--gcp-chunk-size",
        "0",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(one_line(&o).contains("--gcp-chunk-size"));
}

/// A directory backup into GCS or Azure stopped by SIGTERM, then resumed: the prefix holds the
/// server's records exactly once.
#[test]
fn an_interrupted_backup_into_each_cloud_resumes() {
    let s = TestServer::start(2, &["--sample", "10000"]);
    let host = s.host();
    for kind in [Kind::Gcs, Kind::Azure] {
        let c = Cloud::start(kind);
        let cwd = tempfile::tempdir().unwrap();
        let state = cwd.path().join("test.asb.state");
        let dir = c.url("resumed");
        let backup = |extra: &[&str]| {
            let args = [
                &[
                    "-h",
                    &host[..],
                    "-n",
                    "test",
                    "-d",
                    &dir,
                    "-F",
                    "1",
                    "-w",
                    "2",
                    "-z",
                    "zstd",
                ][..],
                extra,
            ]
            .concat();
            wrapper(&c, support::asbackup_command(&args), cwd.path())
        };
        let child = backup(&["--records-per-second", "2500"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        support::wait_for_file(&state, Duration::from_millis(1000));
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(143),
            "{kind:?}: {}",
            support::stderr(&o)
        );
        assert!(state.exists());
        // The prefix says it holds no backup to restore, and why.
        let marker = "resumed/test.asb.incomplete";
        assert!(
            c.keys("resumed/").contains(&marker.to_string()),
            "{kind:?}: {:?}",
            c.keys("resumed/")
        );
        let why = String::from_utf8(c.get(marker)).unwrap();
        assert_eq!(why.lines().count(), 1, "{kind:?}: {why}");
        assert_ne!(why, "backup in progress\n", "{kind:?}: the reason");
        support::assert_refused(
            &dir,
            &c.args(),
            &|cmd: &mut Command| c.env(cmd),
            &format!("{dir} holds an unfinished backup (test.asb.incomplete: "),
        );
        ok(backup(&["--continue", state.to_str().unwrap()])
            .output()
            .unwrap());
        assert!(!state.exists());
        assert!(
            !c.keys("resumed/").contains(&marker.to_string()),
            "{kind:?}: complete, the marker is gone"
        );
        let mut got = std::collections::BTreeMap::new();
        for k in c.keys("resumed/").iter().filter(|k| k.ends_with(".asb")) {
            support::count_digests(&c.get(k), &mut got);
        }
        let want = support::server_digests(&host, &["-n", "test"]);
        assert_eq!(support::lost_and_doubled(&want, &got), (0, 0), "{kind:?}");
    }
}
