//! scripts/asrestore: the backups scripts/asbackup writes (directories, compressed, several
//! directories, S3) restored into another cluster hold what the source holds; failures name the
//! file; the machine-readable lines; a download from S3 broken mid-stream resumes.

use as_test_support as support;

use std::process::{Command, Output};
use support::clouds::FaultProxy;
use support::moto::{env, Moto};
use support::{run, tool, TestServer};

use support::{assert_same, server_records as records};

fn ok(o: &Output) -> String {
    let err = support::stderr(o);
    assert!(o.status.success(), "{err}");
    err
}

fn asbackup(args: &[&str]) -> Output {
    support::asbackup_command(args).output().unwrap()
}

fn asrestore(args: &[&str]) -> Output {
    support::asrestore_command(args).output().unwrap()
}

#[test]
fn directory_backups_restore_whole() {
    let src = TestServer::start(2, &["--sample", "4000"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("b");
    let (h, ds) = (src.host(), d.to_str().unwrap());
    ok(&asbackup(&[
        "-h", &h, "-n", "test", "-d", ds, "-F", "1", "-w", "2", "-z", "zstd",
    ]));
    let files = std::fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "asb")
        })
        .count();
    assert!(files >= 2, "{files} files");

    let dst = TestServer::start(3, &[]);
    let m = dir.path().join("machine");
    let (dh, ms) = (dst.host(), m.to_str().unwrap());
    let err = ok(&asrestore(&[
        "-h", &dh, "-d", ds, "-z", "zstd", "-t", "4", "-m", ms,
    ]));
    assert_same(&src, &dst);
    // asrestore's last lines, the totals of every file.
    let n = records(&src, "test").len();
    assert!(err.contains(&format!("inserted {n}: failed 0")), "{err}");
    assert!(err.contains("3 secondary index(es)"), "{err}");
    let machine = std::fs::read_to_string(&m).unwrap();
    assert!(machine.lines().any(|l| l == "PROGRESS:100"), "{machine}");
    let summary = machine.lines().last().unwrap();
    assert!(summary.starts_with("SUMMARY:1:3:"), "{summary}");
    // The indexes and the module came along.
    assert_eq!(
        dst.info(0, "sindex-list:ns=test")
            .matches("ns=test:")
            .count(),
        3
    );
    assert!(dst.info(0, "udf-list").contains("filename="));

    // Validation alone touches no cluster.
    let err = ok(&asrestore(&["--validate", "-d", ds, "-z", "zstd"]));
    assert!(err.contains(&format!("{files} file(s) valid")), "{err}");

    // Restored again with --unique: every record exists already.
    let err = ok(&asrestore(&["-h", &dh, "-d", ds, "-z", "zstd", "-u"]));
    assert!(
        err.contains(&format!("inserted 0: failed {n} (existed {n} ,")),
        "{err}"
    );
}

#[test]
fn several_directories_and_the_parent_directory() {
    let src = TestServer::start(1, &["--sample", "2000"]);
    let dir = tempfile::tempdir().unwrap();
    let h = src.host();
    for (name, range) in [("low", "0-2048"), ("high", "2048-2048")] {
        let d = dir.path().join(name);
        ok(&asbackup(&[
            "-h",
            &h,
            "-n",
            "test",
            "-d",
            d.to_str().unwrap(),
            "-X",
            range,
        ]));
    }
    let dst = TestServer::start(2, &[]);
    let dh = dst.host();
    let parent = dir.path().to_str().unwrap();
    ok(&asrestore(&[
        "-h",
        &dh,
        "--directory-list",
        "low,high",
        "--parent-directory",
        parent,
    ]));
    assert_same(&src, &dst);
}

#[test]
fn a_bad_file_fails_the_restore_and_is_named() {
    let src = TestServer::start(1, &["--sample", "500"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("b");
    let ds = d.to_str().unwrap();
    ok(&asbackup(&[
        "-h",
        &src.host(),
        "-n",
        "test",
        "-d",
        ds,
        "-F",
        "1",
    ]));
    let mut names: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "asb"))
        .collect();
    names.sort();
    let victim = names.last().unwrap();
    let text = std::fs::read(victim).unwrap();
    std::fs::write(victim, &text[..text.len() / 2]).unwrap();
    let dst = TestServer::start(1, &[]);
    // The manifest tells it is cut before anything is restored.
    let o = asrestore(&["-h", &dst.host(), "-d", ds]);
    let err = support::stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    let name = victim.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(&format!("{name} is ")) && err.contains("(truncated or replaced)"),
        "{err}"
    );
    // Without a manifest (as asbackup's), the file fails as it is read, named.
    std::fs::remove_file(d.join("test.manifest")).unwrap();
    let o = asrestore(&["-h", &dst.host(), "-d", ds]);
    let err = support::stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("failed on {}", victim.display())),
        "{err}"
    );
    assert!(
        err.contains("Expired 0 : skipped 0"),
        "the counts are printed: {err}"
    );
    // Nothing, and no option, is taken for granted.
    let o = asrestore(&["-h", &dst.host()]);
    assert_eq!(o.status.code(), Some(2));
    let o = asrestore(&["-h", &dst.host(), "-d", ds, "-u", "-r"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(support::stderr(&o).contains("--unique is mutually exclusive"));
}

/// The fault proxy in front of moto: the first `cuts` object reads stop after `at` bytes.
fn cutting_proxy(m: &Moto, cuts: u32, at: u64) -> (FaultProxy, String) {
    let p = FaultProxy::start(
        &m.endpoint,
        &["--cut-gets", &cuts.to_string(), "--cut-at", &at.to_string()],
    );
    let url = p.url.clone();
    (p, url)
}

#[test]
fn restores_from_s3_and_resumes_a_broken_download() {
    let m = Moto::start();
    let src = TestServer::start(2, &["--sample", "3000"]);
    let h = src.host();
    let s3 = |mut c: Command, endpoint: &str| {
        c.args([
            "--s3-endpoint-override",
            endpoint,
            "--s3-region",
            "us-east-1",
        ]);
        env(&mut c);
        c.output().unwrap()
    };
    ok(&s3(
        support::asbackup_command(&["-h", &h, "-n", "test", "-d", "s3://bkt/dir", "-F", "1"]),
        &m.endpoint,
    ));
    ok(&s3(
        support::asbackup_command(&["-h", &h, "-n", "test", "-o", "s3://bkt/one.asb"]),
        &m.endpoint,
    ));

    let dst = TestServer::start(2, &[]);
    let dh = dst.host();
    ok(&s3(
        support::asrestore_command(&["-h", &dh, "-d", "s3://bkt/dir"]),
        &m.endpoint,
    ));
    assert_same(&src, &dst);

    // The single file through a proxy that breaks the first three reads of it mid-body.
    let size = m.util(&["get", "bkt", "one.asb"]).len() as u64;
    let (proxy, endpoint) = cutting_proxy(&m, 3, size / 4);
    let mut get = Command::new(tool("as-s3get"));
    get.args(["s3://bkt/one.asb", "-v"]);
    let o = s3(get, &endpoint);
    let err = ok(&o);
    assert_eq!(err.matches("resuming there").count(), 3, "{err}");
    assert_eq!(
        o.stdout,
        m.util(&["get", "bkt", "one.asb"]),
        "the object exactly"
    );
    drop(proxy);

    let (proxy, endpoint) = cutting_proxy(&m, 2, size / 2);
    let dst = TestServer::start(1, &[]);
    ok(&s3(
        support::asrestore_command(&["-h", &dst.host(), "-i", "s3://bkt/one.asb"]),
        &endpoint,
    ));
    drop(proxy);
    assert_same(&src, &dst);

    // A missing object is one clear line.
    let mut get = Command::new(tool("as-s3get"));
    get.arg("s3://bkt/nothing.asb");
    let o = s3(get, &m.endpoint);
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(
        support::stderr(&o).lines().count(),
        1,
        "{}",
        support::stderr(&o)
    );
}

/// Encrypted backups into S3, one object (zstd, aes128 from an environment variable) and a
/// prefix of files (aes256 from a key file), restored from there with the same keys.
#[test]
fn encrypted_backups_into_s3_restore() {
    let m = Moto::start();
    let src = TestServer::start(2, &["--sample", "3000"]);
    let h = src.host();
    let pem = support::samples().join("encrypted/key.pem");
    let pem = pem.to_str().unwrap();
    let env_key =
        std::fs::read_to_string(support::samples().join("encrypted/env-key.b64")).unwrap();
    let s3 = |mut c: Command| {
        c.args([
            "--s3-endpoint-override",
            &m.endpoint,
            "--s3-region",
            "us-east-1",
        ]);
        c.env("BACKUP_KEY", env_key.trim());
        env(&mut c);
        c.output().unwrap()
    };
    let by_env = ["-y", "aes128", "--encryption-key-env", "BACKUP_KEY"];
    let by_file = ["-y", "aes256", "--encryption-key-file", pem];
    let one = [
        &["-n", "test", "-o", "s3://bkt/one.asb", "-z", "zstd"][..],
        &by_env,
    ]
    .concat();
    ok(&s3(support::asbackup_command(
        &[&["-h", &h][..], &one].concat(),
    )));
    let dir = [
        &["-n", "test", "-d", "s3://bkt/dir", "-w", "2"][..],
        &by_file,
    ]
    .concat();
    ok(&s3(support::asbackup_command(
        &[&["-h", &h][..], &dir].concat(),
    )));
    // Not readable without the key; each object has its own IV block.
    let body = m.util(&["get", "bkt", "one.asb"]);
    let (code, _, _) = run(tool("as-decode"), &["--validate", "-z", "zstd"], &body);
    assert_ne!(code, 0);
    let (code, _, err) = run(
        tool("as-decode"),
        &[&["--validate", "-z", "zstd"][..], &by_env].concat(),
        &body,
    );
    // The variable is not set for this one: refused, one line.
    assert_ne!(code, 0, "{err}");
    let keys = m.keys("dir/");
    assert!(keys.len() >= 2, "{keys:?}");
    let heads: std::collections::BTreeSet<Vec<u8>> = keys
        .iter()
        .map(|k| m.util(&["get", "bkt", k])[..16].to_vec())
        .collect();
    assert_eq!(heads.len(), keys.len(), "one IV per file");

    let dst = TestServer::start(2, &[]);
    let dh = dst.host();
    let restore = [
        &["-h", &dh[..], "-i", "s3://bkt/one.asb", "-z", "zstd"][..],
        &by_env,
    ]
    .concat();
    ok(&s3(support::asrestore_command(&restore)));
    assert_same(&src, &dst);
    let dst = TestServer::start(1, &[]);
    let dh = dst.host();
    let restore = [&["-h", &dh[..], "-d", "s3://bkt/dir"][..], &by_file].concat();
    ok(&s3(support::asrestore_command(&restore)));
    assert_same(&src, &dst);
}

/// -m with one file: PROGRESS and REMAINING while it runs (from how far as-decode has read the
/// file), then PROGRESS:100 and asrestore's SUMMARY.
#[test]
fn machine_lines_of_a_single_file() {
    let src = TestServer::start(1, &["--sample", "3000"]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("one.asb");
    let fs = f.to_str().unwrap();
    ok(&asbackup(&["-h", &src.host(), "-n", "test", "-o", fs]));
    let dst = TestServer::start(1, &[]);
    let m = dir.path().join("machine");
    // Throttled to about 3 s, so that progress is reported on the way.
    ok(&asrestore(&[
        "-h",
        &dst.host(),
        "-i",
        fs,
        "-N",
        "100,1000",
        "-m",
        m.to_str().unwrap(),
    ]));
    let lines: Vec<String> = std::fs::read_to_string(&m)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let pct: Vec<u32> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("PROGRESS:")?.parse().ok())
        .collect();
    assert!(pct.iter().any(|&p| p < 100), "{lines:?}");
    assert!(pct.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("REMAINING:")),
        "{lines:?}"
    );
    assert_eq!(pct.last(), Some(&100));
    assert!(
        lines.last().unwrap().starts_with("SUMMARY:1:3:"),
        "{lines:?}"
    );
}

/// A directory backup stopped half-way (SIGINT) is not a backup: scripts/asrestore -d (and
/// --validate), as-restore -d and as-decode --validate refuse it with the reason and write
/// nothing; --allow-incomplete restores what is there and says it was part of a backup.
#[test]
fn an_unfinished_directory_backup_is_refused() {
    let src = TestServer::start(2, &["--sample", "12000"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("b");
    let ds = d.to_str().unwrap();
    let state = d.join("test.asb.state");
    let child = support::asbackup_command(&[
        "-h",
        &src.host(),
        "-n",
        "test",
        "-d",
        ds,
        "-F",
        "1",
        "--records-per-second",
        "3000",
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    support::wait_for_file(&state, std::time::Duration::from_millis(1500));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", support::stderr(&o));
    assert!(d.join("test.asb.incomplete").exists());
    let asb = std::fs::read_dir(&d)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("asb".as_ref()))
        .count();
    assert!(asb >= 1, "some files were finished");

    // The marker's reason is what stopped as-split (here: its input ended early).
    let why = format!("{ds} holds an unfinished backup (test.asb.incomplete: ");
    support::assert_refused(ds, &[], &|_: &mut Command| {}, &why);
    let o = Command::new(tool("as-decode"))
        .args(["--validate", ds])
        .output()
        .unwrap();
    let hint = format!(
        "): resume it with --continue {}, or restore what is there with --allow-incomplete",
        state.display()
    );
    assert!(
        support::stderr(&o).contains(&hint),
        "{}",
        support::stderr(&o)
    );

    let dst = TestServer::start(1, &[]);
    let dh = dst.host();
    let err = ok(&asrestore(&["-h", &dh, "-d", ds, "--allow-incomplete"]));
    assert!(
        err.contains(&format!("reading part of a backup: {why}")),
        "{err}"
    );
    assert!(err.contains("restored part of a backup"), "{err}");
    let restored = records(&dst, "test").len();
    assert!(restored > 0 && restored < 12000, "{restored}");
    assert!(
        err.contains(&format!("inserted {restored}: failed 0")),
        "{err}"
    );
}

/// Every file of a backup names the namespace the first one does: a directory list that mixes
/// namespaces fails on the file that differs instead of writing its records elsewhere.
#[test]
fn a_file_of_another_namespace_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let sample = support::samples().join("sample-dir");
    std::fs::copy(sample.join("bar_00000.asb"), a.join("bar_00000.asb")).unwrap();
    let other = std::fs::read_to_string(sample.join("bar_00001.asb"))
        .unwrap()
        .replacen("# namespace bar\n", "# namespace other\n", 1);
    std::fs::write(b.join("bar_00001.asb"), other).unwrap();
    let dst = TestServer::start(1, &["-n", "bar"]);
    let list = format!("{},{}", a.display(), b.display());
    let o = asrestore(&["-h", &dst.host(), "--directory-list", &list]);
    let err = support::stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "the restore failed on {}: it is a backup of namespace \"other\", the first file's of \"bar\"",
            b.join("bar_00001.asb").display()
        )),
        "{err}"
    );
}

/// The file that says `# first-file` (with the indexes and UDFs) is restored first, by itself,
/// even when another sorts before it.
#[test]
fn the_first_file_goes_first_whatever_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    std::fs::create_dir_all(&d).unwrap();
    let sample = support::samples().join("sample-dir");
    std::fs::copy(sample.join("bar_00000.asb"), d.join("bar_00001.asb")).unwrap();
    std::fs::copy(sample.join("bar_00001.asb"), d.join("bar_00000.asb")).unwrap();
    let dst = TestServer::start(1, &["-n", "bar"]);
    let ds = d.to_str().unwrap();
    let err = ok(&asrestore(&["-h", &dst.host(), "-d", ds, "-v", "-t", "1"]));
    let read: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("as-restore: ")?.strip_suffix(" read"))
        .collect();
    let first = d.join("bar_00001.asb");
    assert_eq!(read.first(), Some(&first.to_str().unwrap()), "{err}");
    assert!(err.contains("2 secondary index(es)"), "{err}");
}
