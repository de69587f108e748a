//! scripts/asbackup: asbackup's options over the pipeline, against the bundled test server.

use as_test_support as support;

use std::process::Output;
use support::TestServer;

fn asbackup(args: &[&str]) -> Output {
    support::asbackup_command(args).output().unwrap()
}

/// The summary line, in asbackup's words, and its numbers.
fn summary(o: &Output) -> (u64, u64, u64, u64) {
    let err = support::stderr(o);
    let line = err.lines().last().unwrap_or_default();
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[0..2], ["Backed", "up"], "{err}");
    assert!(
        line.ends_with(" B/rec)") && line.contains(" byte(s) in total (~"),
        "{line}"
    );
    let n = |i: usize| words[i].parse::<u64>().unwrap();
    (n(2), n(4), n(7), n(10))
}

fn decode(args: &[&str], input: &[u8]) -> String {
    let (code, out, err) = support::run(support::tool("as-decode"), args, input);
    assert_eq!(code, 0, "{err}");
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn every_local_output_mode() {
    let s = TestServer::start(2, &["--sample", "4000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("b.asb");
    let f = file.to_str().unwrap();

    let o = asbackup(&["-h", &host, "-n", "test", "-o", f]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let (records, indexes, udfs, bytes) = summary(&o);
    assert_eq!((indexes, udfs), (3, 1));
    assert!(records > 3900);
    assert_eq!(bytes, std::fs::metadata(&file).unwrap().len());
    assert!(decode(&["--validate", f], b"").starts_with(&format!("valid: {records} record(s)")));

    // An existing file is refused without -r, kept as it was.
    let o = asbackup(&["-h", &host, "-n", "test", "-o", f]);
    assert_eq!(o.status.code(), Some(2));
    assert!(support::stderr(&o).contains("already exists; use -r"));
    let o = asbackup(&[
        "-h",
        &host,
        "-n",
        "test",
        "-o",
        f,
        "-r",
        "-z",
        "zstd",
        "--compression-level",
        "7",
        "-C",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(decode(&["--validate", "-z", "zstd", f], b"")
        .starts_with(&format!("valid: {records} record(s)")));

    // Standard output.
    let o = asbackup(&["-h", &host, "-n", "test", "-o", "-", "-z", "zstd"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert_eq!(summary(&o).3, o.stdout.len() as u64);
    assert!(decode(&["--validate", "-z", "zstd"], &o.stdout)
        .starts_with(&format!("valid: {records} record(s)")));
    // Plain and encrypted: the last stage counts what went out (as-encode's and as-crypt's
    // --summary).
    let key = support::samples().join("encrypted/key.pem");
    let key = key.to_str().unwrap();
    for extra in [&[][..], &["-y", "aes128", "--encryption-key-file", key]] {
        let o = asbackup(&[&["-h", &host, "-n", "test", "-o", "-"][..], extra].concat());
        assert!(o.status.success(), "{}", support::stderr(&o));
        assert_eq!(summary(&o).3, o.stdout.len() as u64, "{extra:?}");
        assert_eq!(summary(&o).0, records);
    }

    // Directory mode with a file limit and parallel workers.
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    let o = asbackup(&[
        "-h", &host, "-n", "test", "-d", d, "-F", "1", "-w", "2", "-z", "zstd", "-q", "nightly",
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let (n, _, _, bytes) = summary(&o);
    assert_eq!(n, records);
    let sizes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "asb"))
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert_eq!(bytes, sizes);
    assert!(dir.join("nightly_00000.asb").exists());
    assert!(dir.join("nightly.manifest").exists());
    assert!(
        decode(&["--validate", "-z", "zstd", d], b"").contains(&format!(
            "valid: {records} record(s), 3 secondary index(es)"
        ))
    );
    let o = asbackup(&["-d", d, "--remove-artifacts"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(!dir.exists());
}

#[test]
fn machine_lines() {
    let s = TestServer::start(1, &["--sample", "3000"]);
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("progress");
    let f = tmp.path().join("b.asb");
    // Throttled so that the scan takes a few seconds and reports progress.
    let o = asbackup(&[
        "-h",
        &s.host(),
        "-n",
        "test",
        "-o",
        f.to_str().unwrap(),
        "-L",
        "1000",
        "-N",
        "50",
        "-m",
        m.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let (records, indexes, udfs, bytes) = summary(&o);
    let lines = std::fs::read_to_string(&m).unwrap();
    assert!(lines.lines().any(|l| l.starts_with("PROGRESS:")), "{lines}");
    assert!(
        lines
            .lines()
            .any(|l| l.starts_with("REMAINING:") && l.ends_with('s')),
        "{lines}"
    );
    let last = lines.lines().last().unwrap();
    assert_eq!(
        last,
        format!(
            "SUMMARY:{records}:{indexes}:{udfs}:{bytes}:{}",
            bytes / records
        )
    );
}

/// The estimate's total backup file size.
fn total_of(err: &str) -> u64 {
    err.lines()
        .find_map(|l| {
            l.strip_prefix(
                "Estimated total backup file size (for backup-to-file, 99.9% confidence): ",
            )?
            .strip_suffix(" byte(s)")?
            .parse()
            .ok()
        })
        .unwrap_or_else(|| panic!("{err}"))
}

#[test]
fn estimate_mode() {
    let s = TestServer::start(2, &["--sample", "3000"]);
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("machine");
    let o = asbackup(&[
        "-h",
        &s.host(),
        "-n",
        "test",
        "-e",
        "--estimate-samples",
        "400",
        "-m",
        m.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let err = support::stderr(&o);
    let size: u64 = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("Estimated overall record size is ")?
                .strip_suffix(" byte(s)")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{err}"));
    let total = total_of(&err);
    // The bounds hold for the real backup of the same data.
    let f = tmp.path().join("real.asb");
    let o = asbackup(&["-h", &s.host(), "-n", "test", "-o", f.to_str().unwrap()]);
    let (count, _, _, bytes) = summary(&o);
    assert!(
        size as f64 >= bytes as f64 / count as f64,
        "{size} < {bytes}/{count}"
    );
    assert!(total >= bytes, "{total} < {bytes}");
    assert_eq!(
        std::fs::read_to_string(&m).unwrap().trim(),
        format!("ESTIMATE:{count}:{size}")
    );
    let o = asbackup(&["-h", &s.host(), "-n", "test", "-e", "-z", "zstd"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    assert!(
        support::stderr(&o).contains("Approximate compression ratio is "),
        "{}",
        support::stderr(&o)
    );
    assert!(support::stderr(&o).contains("Estimated overall record size before compression is "));
    // Encrypted: the IV block counts, so the bound holds for the encrypted file, and on the
    // same samples the estimate is larger than without (as-encode --estimate on one stream).
    let pem = support::samples().join("encrypted/key.pem");
    let k = [
        "-y",
        "aes256",
        "--encryption-key-file",
        pem.to_str().unwrap(),
    ];
    let o = asbackup(&[&["-h", &s.host(), "-n", "test", "-e"][..], &k].concat());
    let total_enc = total_of(&support::stderr(&o));
    let f = tmp.path().join("enc.asb");
    let o = asbackup(
        &[
            &["-h", &s.host(), "-n", "test", "-o", f.to_str().unwrap()][..],
            &k,
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", support::stderr(&o));
    let enc_bytes = std::fs::metadata(&f).unwrap().len();
    assert!(total_enc >= enc_bytes, "{total_enc} < {enc_bytes}");
    let (code, stream, err) = support::run(
        support::tool("as-scan"),
        &["-h", &s.host(), "-n", "test", "-M", "400", "-w", "1"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let est = |extra: &[&str]| {
        let args = [&["--estimate", "3000"][..], extra].concat();
        let (code, out, err) = support::run(support::tool("as-encode"), &args, &stream);
        assert_eq!(code, 0, "{err}");
        total_of(&String::from_utf8_lossy(&out))
    };
    assert!(est(&["--estimate-encrypted"]) > est(&[]));
    let o = asbackup(&["-h", &s.host(), "-n", "test", "-e", "-y", "aes256"]);
    assert_eq!(o.status.code(), Some(2), "{}", support::stderr(&o));

    let o = asbackup(&["-h", &s.host(), "-n", "test", "-e", "-o", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        support::stderr(&o).contains("--estimate cannot be used with --directory or --output-file")
    );
}

#[test]
fn failures_name_the_stage_and_leave_no_output() {
    let s = TestServer::start(1, &[]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("x.asb");
    let f = file.to_str().unwrap();
    let o = asbackup(&["-h", &host, "-n", "nosuch", "-o", f]);
    assert_eq!(o.status.code(), Some(6), "{}", support::stderr(&o));
    assert!(support::stderr(&o)
        .lines()
        .last()
        .unwrap()
        .contains("the backup failed: as-scan exited with status 6"));
    assert!(!file.exists() && !tmp.path().join("x.asb.partial").exists());
    for (args, why) in [
        (
            vec!["-n", "test"],
            "please specify a directory (-d) or an output file (-o)",
        ),
        (vec!["-n", "test", "-o", f, "-d", "x"], "use only one of"),
        (
            vec!["-n", "test", "-o", f, "--compression-level", "3"],
            "needs --compress",
        ),
        (
            vec!["-n", "test", "-o", f, "-z", "lz4"],
            "invalid compression type",
        ),
        (
            vec!["-n", "test", "-d", "x", "-F", "0"],
            "invalid file limit",
        ),
        (vec!["-o", f], "namespace is required"),
        (
            vec!["-n", "test", "-o", f, "-y", "aes128"],
            "--encrypt needs --encryption-key-file or --encryption-key-env",
        ),
    ] {
        let o = asbackup(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            support::stderr(&o)
        );
        assert!(
            support::stderr(&o).contains(why),
            "{args:?}: {}",
            support::stderr(&o)
        );
    }
}

/// Every process's command line, for looking for a secret in them.
fn all_command_lines() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .collect()
}

/// A password given to asbackup in any form never shows in a process listing, in what the
/// tools print, or in the state file; the backup logs in with it.
#[test]
fn passwords_stay_out_of_argv_logs_and_state() {
    const PW: &str = "pw-7f3a-secret";
    let s = TestServer::start_with_env(
        1,
        &["--sample", "6000", "--user", "admin"],
        &[("AS_TESTD_PASSWORD", PW)],
    );
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let pwfile = tmp.path().join("pw");
    std::fs::write(&pwfile, format!("{PW}\n")).unwrap();
    let from_file = format!("--password=file:{}", pwfile.display());
    for (i, form) in [format!("--password={PW}"), format!("-P{PW}"), from_file]
        .iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("bk{i}"));
        let d = dir.to_str().unwrap();
        let args = [
            "-h", &host, "-n", "test", "-U", "admin", form, "-d", d, "-v",
        ];
        let mut child = support::asbackup_command(&[&args[..], &["-L", "3000"]].concat())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let state = dir.join("test.asb.state");
        let mut seen = Vec::new();
        // Up to 10 s for the first state (a loaded 2-core machine runs the debug build slowly).
        for _ in 0..500 {
            seen.extend(
                all_command_lines()
                    .into_iter()
                    .filter(|c| c.contains("as-")),
            );
            if state.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        seen.extend(all_command_lines());
        assert!(
            seen.iter().any(|c| c.contains("as-scan")),
            "the scan was seen running"
        );
        // The user's own command line (the wrapper, and its forks) has what the user typed;
        // no process the wrapper starts may.
        seen.retain(|c| !c.contains("scripts/asbackup"));
        if i < 2 {
            assert!(
                seen.iter().all(|c| !c.contains(PW)),
                "{form}: {:?}",
                seen.iter().find(|c| c.contains(PW))
            );
        }
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let mut err = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(143), "{err}");
        assert!(!err.contains(PW), "{err}");
        let state_text = std::fs::read(&state).unwrap_or_else(|e| panic!("{e}: {err}"));
        assert!(
            !String::from_utf8_lossy(&state_text).contains(PW),
            "the state holds no password"
        );
        let o = support::asbackup_command(
            &[&args[..], &["--continue", state.to_str().unwrap()]].concat(),
        )
        .output()
        .unwrap();
        assert!(o.status.success(), "{}", support::stderr(&o));
        assert!(!support::stderr(&o).contains(PW));
    }
    // A wrong password fails with as-scan's login status, and is not echoed.
    let o = asbackup(&[
        "-h",
        &host,
        "-n",
        "test",
        "-U",
        "admin",
        "--password=nope-123",
        "-o",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", support::stderr(&o));
    assert!(!support::stderr(&o).contains("nope-123"));
}

/// asbackup's validation: wrong types, ranges and combinations are refused before anything is
/// created or connected to, with one line naming the problem.
#[test]
fn options_are_checked_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("never");
    let d = dir.to_str().unwrap();
    // No server: a check that connected would fail differently (exit 4).
    let host = "127.0.0.1:1";
    for (extra, why) in [
        (vec!["-X", "4000-200"], "goes past partition 4095"),
        (vec!["-X", "4096"], "out of range"),
        (vec!["-X", "1,1"], "overlap"),
        (vec!["-D", "notbase64"], "invalid digest"),
        (
            vec!["-X", "1", "-D", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="],
            "cannot be used together",
        ),
        (vec!["-a", "2020-13-45"], "invalid time"),
        (
            vec!["-a", "2021-01-02", "-b", "2021-01-01"],
            "must be later",
        ),
        (vec!["-M", "-5"], "invalid value '-5' for '--max-records"),
        (
            vec!["-L", "-1"],
            "invalid value '-1' for '--records-per-second",
        ),
        (vec!["-N", "-1"], "invalid value '-1'"),
        (
            vec!["--socket-timeout=-1"],
            "invalid value '-1' for '--socket-timeout",
        ),
        (vec!["-w", "0"], "invalid parallelism"),
        (vec!["-F", "0"], "invalid file limit"),
        (vec!["-B", ""], "invalid bin name"),
        (
            vec!["-z", "zstd", "--compression-level", "30"],
            "invalid compression level",
        ),
        (
            vec!["--s3-min-part-size", "1"],
            "invalid --s3-min-part-size",
        ),
        (vec!["-q", "a/b"], "invalid --output-file-prefix"),
        (
            vec!["--filter-exp", "AAAA", "--no-ttl-only"],
            "cannot be combined",
        ),
        (vec!["--nosuchoption"], "unexpected argument"),
    ] {
        let mut args = vec!["-h", host, "-n", "test", "-d", d];
        args.extend(extra.iter());
        let o = asbackup(&args);
        let err = support::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(why), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert!(err.starts_with("asbackup: error: "), "{err}");
        assert!(!dir.exists(), "{extra:?}: nothing is created");
    }
}
