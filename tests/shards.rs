//! Sharded backups: shards run by GNU parallel (as users run them) against a 3-node test server,
//! into one directory or one S3 prefix, make one backup: their union is the server's records
//! exactly once, the validator names a missing or overlapping shard, a killed shard resumes,
//! and asrestore restores them as one.

use as_test_support as support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::moto::{env, Moto};
use support::{dir_digests, lost_and_doubled, server_digests, tool, TestServer};

/// `parallel ... scripts/asbackup ARGS --shard {}/N ::: 1..N`, in a directory of its own (where
/// shards into a cloud keep their state).
fn parallel_shards(n: u32, args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let shards: Vec<String> = (1..=n).map(|k| k.to_string()).collect();
    let mut c = Command::new("parallel");
    c.args(["--will-cite", "--halt", "never", "-j", &n.to_string()])
        .arg(support::asbackup_path())
        .args(args)
        .args(["--shard", &format!("{{}}/{n}"), ":::"])
        .args(&shards)
        .env("AS_TOOLS_BIN", support::tools_bin())
        .current_dir(cwd.path());
    env(&mut c);
    c.output().expect("GNU parallel (scripts/test installs it)")
}

fn validate(dir: &Path) -> Output {
    Command::new(tool("as-decode"))
        .args(["--validate", dir.to_str().unwrap()])
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", support::stderr(&o));
    support::stderr(&o)
}

#[test]
fn shards_by_gnu_parallel_make_one_backup() {
    let s = TestServer::start(3, &["--sample", "8000"]);
    let h = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    ok(parallel_shards(
        4,
        &["-h", &h, "-n", "test", "-d", d, "-F", "1"],
    ));
    let want = server_digests(&h, &["-n", "test"]);
    assert_eq!(lost_and_doubled(&want, &dir_digests(&dir)), (0, 0));
    let o = validate(&dir);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("4 manifest(s): every file listed present at its size, 4 shard(s) with every partition in exactly one"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let m = std::fs::read_to_string(dir.join("test-shard-3-of-4.manifest")).unwrap();
    assert!(
        m.contains("\"shard\": \"3/4\"") && m.contains("2048"),
        "{m}"
    );

    // The shards' manifests prove the backup whole, file by file and partition by partition.
    let o = std::process::Command::new(tool("as-verify"))
        .args([d, "-t", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("{} record(s)", want.len())),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // Restored as one.
    let dst = TestServer::start(1, &[]);
    let err = ok(support::asrestore_command(&["-h", &dst.host(), "-d", d])
        .output()
        .unwrap());
    assert!(
        err.contains(&format!("inserted {}: failed 0", want.len())),
        "{err}"
    );
    // Every shard's first file carries the indexes and the module: restored (and counted) once.
    assert!(
        err.starts_with("1 UDF file(s), 3 secondary index(es),")
            || err.contains("\n1 UDF file(s), 3 secondary index(es),"),
        "{err}"
    );
    support::assert_same(&s, &dst);

    // A missing shard, then an overlapping one: one line each, and a non-zero exit.
    let gone = tmp.path().join("gone");
    std::fs::create_dir(&gone).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, gone.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(gone.join("test-shard-3-of-4.manifest")).unwrap();
    // Not restored: a backup missing a shard is not the backup.
    let o = support::asrestore_command(&["-h", &dst.host(), "-d", gone.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", support::stderr(&o));
    assert!(support::stderr(&o).contains("shard 3/4 is missing"));
    assert!(support::stderr(&o).contains("nothing was restored"));
    let o = validate(&gone);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        support::stderr(&o).contains("shard 3/4 is missing (partitions 2048-3071)"),
        "{}",
        support::stderr(&o)
    );
    std::fs::copy(
        dir.join("test-shard-2-of-4.manifest"),
        gone.join("again.manifest"),
    )
    .unwrap();
    let o = validate(&gone);
    let err = support::stderr(&o);
    assert_eq!(o.status.code(), Some(3));
    assert!(err.contains("overlap at partitions 1024-2047"), "{err}");
    assert!(err.contains("shard 3/4 is missing"), "{err}");
    // A file a manifest lists, gone.
    std::fs::remove_file(gone.join("again.manifest")).unwrap();
    std::fs::copy(
        dir.join("test-shard-3-of-4.manifest"),
        gone.join("test-shard-3-of-4.manifest"),
    )
    .unwrap();
    std::fs::remove_file(gone.join("test-shard-1-of-4_00000.asb")).unwrap();
    let o = validate(&gone);
    assert_eq!(o.status.code(), Some(3));
    assert!(support::stderr(&o)
        .contains("test-shard-1-of-4_00000.asb is missing (listed in test-shard-1-of-4.manifest)"));
}

/// A shard stopped by SIGTERM: the backup does not validate until that shard is resumed, and
/// then holds every record once.
#[test]
fn a_killed_shard_resumes() {
    let s = TestServer::start(3, &["--sample", "12000"]);
    let h = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    let base = ["-h", &h[..], "-n", "test", "-d", d, "-F", "1"];
    ok(parallel_shards(3, &base));
    // The same backup again, shard by shard, shard 2 stopped and resumed.
    let dir2 = tmp.path().join("bk2");
    let d2 = dir2.to_str().unwrap();
    let base2 = ["-h", &h[..], "-n", "test", "-d", d2, "-F", "1"];
    for k in [1, 3] {
        let sh = format!("{k}/3");
        ok(
            support::asbackup_command(&[&base2[..], &["--shard", &sh]].concat())
                .output()
                .unwrap(),
        );
    }
    let child =
        support::asbackup_command(&[&base2[..], &["--shard", "2/3", "-L", "2000"]].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let state = dir2.join("test-shard-2-of-3.asb.state");
    support::wait_for_file(&state, Duration::from_millis(800));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", support::stderr(&o));
    let o = validate(&dir2);
    assert_ne!(
        o.status.code(),
        Some(0),
        "an unfinished shard: not a whole backup"
    );
    let st = state.to_str().unwrap();
    ok(
        support::asbackup_command(&[&base2[..], &["--shard", "2/3", "--continue", st]].concat())
            .output()
            .unwrap(),
    );
    ok(validate(&dir2));
    let want = server_digests(&h, &["-n", "test"]);
    assert_eq!(lost_and_doubled(&want, &dir_digests(&dir2)), (0, 0));
    assert_eq!(
        dir_digests(&dir2),
        dir_digests(&dir),
        "the same records as the run in one go"
    );
}

/// Four shards into one S3 prefix (moto): the manifests beside the files, the union is the
/// server's records once, and the prefix restores as one.
#[test]
fn shards_into_one_s3_prefix() {
    let m = Moto::start();
    let s = TestServer::start(3, &["--sample", "6000"]);
    let h = s.host();
    let s3 = [
        "--s3-endpoint-override",
        &m.endpoint,
        "--s3-region",
        "us-east-1",
    ];
    let args = [
        &[
            "-h",
            &h[..],
            "-n",
            "test",
            "-d",
            "s3://bkt/sharded",
            "-F",
            "1",
        ][..],
        &s3,
    ]
    .concat();
    ok(parallel_shards(4, &args));
    let keys = m.keys("sharded/");
    let manifests: Vec<_> = keys.iter().filter(|k| k.ends_with(".manifest")).collect();
    assert_eq!(manifests.len(), 4, "{keys:?}");
    let mut got = std::collections::BTreeMap::new();
    for k in keys.iter().filter(|k| k.ends_with(".asb")) {
        support::count_digests(&m.util(&["get", "bkt", k]), &mut got);
    }
    let want = server_digests(&h, &["-n", "test"]);
    assert_eq!(lost_and_doubled(&want, &got), (0, 0));
    // as-decode --validate reads the prefix itself: the manifests, then every file.
    let validate_prefix = || {
        let mut c = Command::new(tool("as-decode"));
        c.args(["--validate", "s3://bkt/sharded"]).args(s3);
        env(&mut c);
        c.output().unwrap()
    };
    let o = validate_prefix();
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 shard(s) with every partition"));
    let dst = TestServer::start(1, &[]);
    let mut r = support::asrestore_command(
        &[&["-h", &dst.host()[..], "-d", "s3://bkt/sharded"][..], &s3].concat(),
    );
    env(&mut r);
    let err = ok(r.output().unwrap());
    assert!(
        err.contains(&format!("inserted {}: failed 0", want.len())),
        "{err}"
    );
    support::assert_same(&s, &dst);
    // Without one shard's manifest, the prefix is refused, naming the shard.
    m.util(&["delete", "bkt", "sharded/test-shard-4-of-4.manifest"]);
    let mut r = support::asrestore_command(
        &[&["-h", &dst.host()[..], "-d", "s3://bkt/sharded"][..], &s3].concat(),
    );
    env(&mut r);
    let o = r.output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", support::stderr(&o));
    let v = validate_prefix();
    assert_eq!(v.status.code(), Some(3), "{}", support::stderr(&v));
    assert!(support::stderr(&v).contains("shard 4/4 is missing (partitions 3072-4095)"));
    assert!(
        support::stderr(&o).contains("shard 4/4 is missing (partitions 3072-4095)"),
        "{}",
        support::stderr(&o)
    );
}

#[test]
fn shard_mistakes_are_refused() {
    let s = TestServer::start(1, &[]);
    let h = s.host();
    for (args, says) in [
        (&["--shard", "0/4", "-d", "x"][..], "invalid shard"),
        (&["--shard", "5/4", "-d", "x"], "invalid shard"),
        (
            &["--shard", "1/4", "-d", "x", "-X", "0-10"],
            "--shard cannot be used with",
        ),
        (
            &["--shard", "1/4", "-o", "x.asb"],
            "--shard needs --directory",
        ),
        (&["--shard", "1/4", "-d", "x", "-r"], "--remove-files"),
    ] {
        let o = support::asbackup_command(&[&["-h", &h[..], "-n", "test"][..], args].concat())
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            support::stderr(&o)
        );
        assert!(
            support::stderr(&o).contains(says),
            "{args:?}: {}",
            support::stderr(&o)
        );
    }
}
