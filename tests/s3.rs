//! as-s3put against a real S3-compatible server (moto, from PyPI), started and stopped here:
//! multipart uploads, producers that fail, a server that dies, directory mode into a prefix.

use as_test_support as support;

use std::process::{Command, Stdio};
use support::moto::{env, Moto};
use support::run;

/// A record stream from as-gen, which must succeed.
fn generated(args: &[&str]) -> Vec<u8> {
    let (code, stream, err) = run(support::tool("as-gen"), args, b"");
    assert_eq!(code, 0, "as-gen {args:?}: {err}");
    stream
}

fn asb(records: u64) -> Vec<u8> {
    let stream = generated(&["-n", &records.to_string()]);
    let (code, out, err) = run(support::tool("as-encode"), &[], &stream);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn multipart_uploads_and_the_completion_handshake() {
    let m = Moto::start();
    let data = asb(30000); // about 14 MB: three parts of 5 MiB
    assert!(data.len() > 11 << 20);

    let o = m.put(
        &[
            "s3://bkt/big.asb",
            "--eof-completes",
            "--s3-max-async-uploads",
            "2",
        ],
        &data,
    );
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert_eq!(m.util(&["get", "bkt", "big.asb"]), data);

    // A small object goes in one request, still only once whole.
    let o = m.put(&["s3://bkt/small.asb", "--eof-completes"], &data[..1000]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert_eq!(m.util(&["get", "bkt", "small.asb"]), &data[..1000]);

    // Framed input: complete with the commit frame, abort without it.
    let mut framed = Vec::new();
    for chunk in data.chunks(1 << 20) {
        framed.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        framed.extend_from_slice(chunk);
    }
    let o = m.put(&["s3://bkt/cut.asb", "--framed"], &framed);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        support::stderr(&o).contains("without its commit frame"),
        "{}",
        support::stderr(&o)
    );
    framed.extend_from_slice(&[0, 0, 0, 0]);
    let o = m.put(&["s3://bkt/framed.asb", "--framed"], &framed);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert_eq!(m.util(&["get", "bkt", "framed.asb"]), data);

    // A producer that fails after 14 MB: no object, no pending multipart upload.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("data.asb");
    std::fs::write(&f, &data).unwrap();
    let from = format!("cat {} ; exit 3", f.display());
    let o = m.put(&["s3://bkt/failed.asb", "--from", &from], b"");
    assert_ne!(o.status.code(), Some(0));
    assert!(
        support::stderr(&o).contains("the producer failed"),
        "{}",
        support::stderr(&o)
    );
    assert_eq!(
        support::stderr(&o).lines().count(),
        1,
        "{}",
        support::stderr(&o)
    );
    let from_ok = format!("cat {}", f.display());
    let o = m.put(&["s3://bkt/from.asb", "--from", &from_ok], b"");
    assert!(o.status.success(), "{}", support::stderr(&o));

    let keys = m.keys("");
    assert!(
        keys.contains(&"big.asb".to_string())
            && keys.contains(&"framed.asb".to_string())
            && keys.contains(&"from.asb".to_string())
    );
    assert!(
        !keys.contains(&"cut.asb".to_string()) && !keys.contains(&"failed.asb".to_string()),
        "{keys:?}"
    );
    assert_eq!(m.pending_uploads(), 0, "every failed upload was aborted");

    let o = m.put(&["s3://bkt/x"], b"");
    assert_eq!(o.status.code(), Some(2), "a completion mode is required");
}

#[test]
fn a_server_that_dies_mid_upload_is_an_error() {
    let mut m = Moto::start();
    let data = asb(30000);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("data.asb");
    std::fs::write(&f, &data).unwrap();
    // The producer pauses after the first parts; the server is gone by then.
    let from = format!("cat {0}; sleep 2; cat {0}", f.display());
    let mut c = Command::new(support::tool("as-s3put"));
    c.args([
        "s3://bkt/dies.asb",
        "--from",
        &from,
        "--s3-endpoint-override",
        &m.endpoint,
        "--s3-region",
        "us-east-1",
        "--s3-connect-timeout",
        "300",
    ]);
    env(&mut c);
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    m.kill();
    let o = child.wait_with_output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(
        support::stderr(&o).lines().count(),
        1,
        "{}",
        support::stderr(&o)
    );
}

#[test]
fn directory_mode_into_a_prefix() {
    let m = Moto::start();
    let stream = generated(&["-n", "20000"]);
    let sink = format!(
        "as-s3put --framed --s3-endpoint-override {} --s3-region us-east-1 s3://bkt/nightly/$FILE",
        m.endpoint
    );
    let mut c = Command::new(support::tool("as-split"));
    c.args(["--sink", &sink, "--framed-sink", "-F", "1", "-w", "2"]);
    env(&mut c);
    let o = support::run_command(&mut c, &stream);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let mut keys = m.keys("nightly/");
    // The manifest, uploaded last, beside the files.
    assert_eq!(keys.remove(0), "nightly/test.manifest");
    assert!(keys.len() > 2, "{keys:?}");
    assert_eq!(keys[0], "nightly/test_00000.asb");
    let mut total = 0;
    for k in &keys {
        let body = m.util(&["get", "bkt", k]);
        let (code, out, err) = run(support::tool("as-decode"), &["--validate"], &body);
        assert_eq!(code, 0, "{k}: {err}");
        let s = String::from_utf8_lossy(&out);
        total += s.split(' ').nth(1).unwrap().parse::<u64>().unwrap();
    }
    assert_eq!(total, 20000);

    // A stream cut short: no file of the cut part completes.
    let mut c = Command::new(support::tool("as-split"));
    c.args([
        "--sink",
        &sink.replace("nightly", "cut"),
        "--framed-sink",
        "-w",
        "1",
    ]);
    env(&mut c);
    let o = support::run_command(&mut c, &stream[..stream.len() / 2]);
    assert_ne!(o.status.code(), Some(0));
    assert!(m.keys("cut/").is_empty(), "{:?}", m.keys("cut/"));
    assert_eq!(m.pending_uploads(), 0);
}

#[test]
fn the_wrapper_backs_up_into_s3() {
    let m = Moto::start();
    let s = support::TestServer::start(2, &["--sample", "6000"]);
    let asbackup = |args: &[&str]| {
        let mut c = support::asbackup_command(args);
        c.args([
            "--s3-endpoint-override",
            &m.endpoint,
            "--s3-region",
            "us-east-1",
        ]);
        env(&mut c);
        c.output().unwrap()
    };
    let host = s.host();
    let o = asbackup(&[
        "-h",
        &host,
        "-n",
        "test",
        "-o",
        "s3://bkt/one/test.asb",
        "-z",
        "zstd",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let summary = support::stderr(&o);
    let body = m.util(&["get", "bkt", "one/test.asb"]);
    assert!(
        summary.contains(&format!(", {} byte(s) in total", body.len())),
        "{summary}"
    );
    let (code, out, err) = run(
        support::tool("as-decode"),
        &["--validate", "-z", "zstd"],
        &body,
    );
    assert_eq!(code, 0, "{err}");
    assert!(String::from_utf8_lossy(&out).contains("3 secondary index(es), 1 UDF file(s)"));

    let o = asbackup(&[
        "-h",
        &host,
        "-n",
        "test",
        "-d",
        "s3://bkt/dir",
        "-F",
        "1",
        "-w",
        "2",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let keys = m.keys("dir/");
    assert!(
        keys.len() >= 3 && keys[0] == "dir/test.manifest" && keys[1] == "dir/test_00000.asb",
        "{keys:?}"
    );

    // A failed scan completes nothing.
    let o = asbackup(&["-h", &host, "-n", "nosuch", "-o", "s3://bkt/fail.asb"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(m.keys("fail").is_empty());
    assert_eq!(m.pending_uploads(), 0);
}

/// A directory backup into S3 stopped twice (SIGTERM, then SIGKILL of as-split while resuming)
/// and resumed: the prefix holds the server's records exactly once, no upload left pending.
#[test]
fn an_interrupted_backup_into_s3_resumes() {
    let m = Moto::start();
    let s = support::TestServer::start(2, &["--sample", "10000"]);
    let host = s.host();
    let cwd = tempfile::tempdir().unwrap();
    let state = cwd.path().join("test.asb.state");
    let asbackup = |extra: &[&str]| {
        let mut c = support::asbackup_command(&[
            "-h",
            &host,
            "-n",
            "test",
            "-d",
            "s3://bkt/resumed",
            "-F",
            "1",
            "-w",
            "2",
            "-z",
            "zstd",
            "--s3-endpoint-override",
            &m.endpoint,
            "--s3-region",
            "us-east-1",
        ]);
        c.args(extra).current_dir(cwd.path());
        env(&mut c);
        c
    };
    let wait_for_state = || support::wait_for_file(&state, std::time::Duration::from_millis(800));
    let mut c = asbackup(&["--records-per-second", "2500"]);
    let child = c.stderr(Stdio::piped()).spawn().unwrap();
    wait_for_state();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", support::stderr(&o));
    assert!(
        state.exists(),
        "the state of an S3 backup is in the current directory"
    );
    // The prefix says it holds no backup to restore, and why.
    let marker = "resumed/test.asb.incomplete";
    assert!(
        m.keys("resumed/").contains(&marker.to_string()),
        "{:?}",
        m.keys("resumed/")
    );
    let why = String::from_utf8(m.util(&["get", "bkt", marker])).unwrap();
    assert_eq!(why.lines().count(), 1, "{why}");
    assert_ne!(why, "backup in progress\n", "the reason");
    let s3_args: Vec<String> = [
        "--s3-endpoint-override",
        &m.endpoint,
        "--s3-region",
        "us-east-1",
    ]
    .map(String::from)
    .to_vec();
    support::assert_refused(
        "s3://bkt/resumed",
        &s3_args,
        &|c: &mut Command| env(c),
        "s3://bkt/resumed holds an unfinished backup (test.asb.incomplete: ",
    );
    let st = state.to_str().unwrap().to_string();

    let mut c = asbackup(&["--continue", &st, "--records-per-second", "2500"]);
    let child = c.stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    if let Some(pid) = support::child_named(child.id(), "as-split") {
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.code() == Some(137) || o.status.success(),
        "{}",
        support::stderr(&o)
    );
    // A resume killed before it completed leaves the marker it wrote again at its start.
    assert_eq!(
        m.keys("resumed/").contains(&marker.to_string()),
        !o.status.success(),
        "{:?}",
        m.keys("resumed/")
    );

    let o = asbackup(&["--continue", &st]).output().unwrap();
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(!state.exists());
    assert!(
        !m.keys("resumed/").contains(&marker.to_string()),
        "complete: the marker is gone"
    );
    let mut got = std::collections::BTreeMap::new();
    for k in m.keys("resumed/").iter().filter(|k| k.ends_with(".asb")) {
        support::count_digests(&m.util(&["get", "bkt", k]), &mut got);
    }
    let want = support::server_digests(&host, &["-n", "test"]);
    assert_eq!(support::lost_and_doubled(&want, &got), (0, 0));
    assert_eq!(m.pending_uploads(), 0);
}

/// A sink that completed a file whose commit never reached the state (as-split killed in
/// between): the resume writes the same name again, so nothing is left twice.
#[test]
fn a_resume_overwrites_files_a_killed_run_left_uncommitted() {
    use as_common::state::BackupState;
    let stream = generated(&["-n", "500", "--seed", "3"]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let state = tmp.path().join("s.state");
    // The header of the generated stream gives the scope the state must match.
    let header = as_common::stream::StreamReader::new(&stream[..])
        .unwrap()
        .header()
        .clone();
    let mut st = BackupState::new("test", "test", &header.scope);
    st.kind = as_common::state::Kind::Sink;
    st.open = vec![0, 1];
    st.next_number = 2;
    st.save(&state).unwrap();
    // What the killed run's sinks completed: file 1 holds every record already.
    let (_, asb, _) = run(support::tool("as-encode"), &[], &stream);
    std::fs::write(out.join("test_00001.asb"), &asb).unwrap();
    let sink = format!("cat > {}/$FILE", out.display());
    let mut c = Command::new(support::tool("as-split"));
    c.args(["--sink", &sink, "--continue", state.to_str().unwrap()]);
    let o = support::run_command(&mut c, &stream);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let mut got = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "asb") {
            support::count_digests(&std::fs::read(p).unwrap(), &mut got);
        }
    }
    assert_eq!(got.len(), 500);
    assert!(got.values().all(|&n| n == 1), "no record twice");
    assert!(!state.exists());
}

/// SIGTERM (or SIGINT) while a multipart upload is under way: the upload is aborted, nothing
/// appears at the key, and the exit status says which signal.
#[test]
fn a_stopped_upload_is_aborted() {
    use std::io::Write;
    let m = Moto::start();
    for (sig, code) in [("-TERM", 143), ("-INT", 130)] {
        let key = format!("s3://bkt/stopped{code}.asb");
        let mut c = Command::new(support::tool("as-s3put"));
        c.args([
            key.as_str(),
            "--eof-completes",
            "--s3-endpoint-override",
            &m.endpoint,
            "--s3-region",
            "us-east-1",
        ]);
        env(&mut c);
        let mut child = c
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(&vec![b'x'; 6 << 20]).unwrap();
        // Wait for the upload to be under way, the input still open.
        for _ in 0..200 {
            if m.pending_uploads() == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(m.pending_uploads(), 1, "the upload started");
        Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap();
        let o = child.wait_with_output().unwrap();
        drop(input);
        let err = support::stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert!(err.contains("interrupted by SIG"), "{err}");
        assert!(m.keys(&format!("stopped{code}")).is_empty());
        assert_eq!(m.pending_uploads(), 0, "the upload was aborted");
    }
}

/// A new backup into a prefix that holds one is refused, as into a directory; -r deletes what
/// belongs to the old backup first (as-get --list --backup says what), so no file of it is
/// restored with the new one.
#[test]
fn a_prefix_with_a_backup_is_not_written_over_without_r() {
    let m = Moto::start();
    let s = support::TestServer::start(1, &["--sample", "3000"]);
    let host = s.host();
    let cwd = tempfile::tempdir().unwrap();
    let s3 = [
        "--s3-endpoint-override",
        &m.endpoint,
        "--s3-region",
        "us-east-1",
    ];
    let backup = |extra: &[&str]| {
        let base = ["-h", &host[..], "-n", "test", "-d", "s3://bkt/again"];
        let mut c = support::asbackup_command(&[&base[..], extra, &s3].concat());
        c.current_dir(cwd.path());
        env(&mut c);
        c.output().unwrap()
    };
    let o = backup(&["-F", "1"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let first = m.keys("again/");
    assert!(first.len() >= 2, "{first:?}");

    let mut list = Command::new(support::tool("as-get"));
    list.args(["--list", "--backup", "s3://bkt/again"]).args(s3);
    env(&mut list);
    let o = list.output().unwrap();
    let listed = String::from_utf8(o.stdout).unwrap();
    assert_eq!(listed.lines().count(), first.len(), "{listed}");

    let o = backup(&["-F", "100"]);
    let err = support::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("s3://bkt/again seems to contain an existing backup; use -r"),
        "{err}"
    );
    assert_eq!(m.keys("again/"), first, "nothing touched");

    let o = backup(&["-F", "100", "-r"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let now = m.keys("again/");
    assert_eq!(
        now,
        ["again/test.manifest", "again/test_00000.asb"],
        "the old backup's files are gone"
    );
    let mut v = Command::new(support::tool("as-decode"));
    v.args(["--validate", "s3://bkt/again"]).args(s3);
    env(&mut v);
    let o = v.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let want = support::server_digests(&host, &["-n", "test"]).len();
    assert!(out.contains(&format!("valid: {want} record(s)")), "{out}");
}
