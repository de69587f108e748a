//! Interrupted directory backups and `--continue`: whatever stops a backup (SIGTERM, SIGKILL of
//! a stage, a full disk), the state it leaves lets `--continue` finish it with every record of
//! the server exactly once.

use as_test_support as support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use support::{
    asbackup_command, child_named, dir_digests, lost_and_doubled, server_digests, TestServer,
};

fn spawn(args: &[&str]) -> Child {
    asbackup_command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill(pid: i32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, "--", &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

/// Runs the backup again with `extra` and --continue STATE.
fn resume(args: &[&str], extra: &[&str], state: &Path) -> Output {
    let cont = ["--continue", state.to_str().unwrap()];
    asbackup_command(&[args, extra, &cont].concat())
        .output()
        .unwrap()
}

/// Resumes the backup, which must then complete.
fn resume_to_the_end(args: &[&str], extra: &[&str], state: &Path) -> Output {
    let o = resume(args, extra, state);
    assert!(o.status.success(), "{}", support::stderr(&o));
    o
}

/// How a run is stopped: a signal to the wrapper, or SIGKILL to one of its stages.
enum Stop<'a> {
    Wrapper(&'a str),
    KillStage(&'a str),
}

/// Resumes the backup throttled and stops that run too, after a moment. It may have finished
/// first; either way it must end consistently. Then finishes the backup if it is not yet
/// complete, and gives the output of that last run.
fn stop_a_resume_then_finish(args: &[&str], state: &Path, stop: Stop) -> Option<Output> {
    let cont = ["-L", "3000", "--continue", state.to_str().unwrap()];
    let child = spawn(&[args, &cont].concat());
    std::thread::sleep(Duration::from_millis(700));
    let stopped = match stop {
        Stop::Wrapper(signal) => {
            kill(child.id() as i32, signal);
            143
        }
        Stop::KillStage(stage) => {
            if let Some(pid) = child_named(child.id(), stage) {
                kill(pid, "-KILL");
            }
            137
        }
    };
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.code() == Some(stopped) || o.status.success(),
        "{}",
        support::stderr(&o)
    );
    state.exists().then(|| resume_to_the_end(args, &[], state))
}

/// The directory holds every record the server has in the scope, each once.
fn assert_exactly_once(host: &str, dir: &Path, scope: &[&str]) {
    let want = server_digests(host, &[&["-n", "test"], scope].concat());
    assert!(!want.is_empty());
    assert_eq!(
        lost_and_doubled(&want, &dir_digests(dir)),
        (0, 0),
        "lost, doubled"
    );
    // The resumed backup's manifest covers the runs before it: it verifies whole.
    let (code, out, err) = support::run(support::tool("as-verify"), &[dir.to_str().unwrap()], b"");
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains(&format!("{} record(s)", want.len())), "{out}");
}

/// Waits until the backup has been running a little: its state file exists and a moment has
/// passed for records to flow. (A delay, not a timing assertion: the test holds whenever the
/// signal lands.)
fn running(state: &Path) {
    support::wait_for_file(state, Duration::from_millis(700));
}

/// Starts the backup (`args`, throttled), stops it with SIGTERM once it is running, and gives
/// its output: it must have ended with status 143.
fn stopped_by_sigterm(args: &[&str], state: &Path) -> Output {
    let child = spawn(args);
    running(state);
    kill(child.id() as i32, "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", support::stderr(&o));
    o
}

/// The options of one backup: scope and output, throttled so that it can be interrupted.
fn options<'a>(host: &'a str, dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-h", host, "-n", "test", "-d", dir];
    v.extend_from_slice(extra);
    v
}

/// Interrupts a throttled backup with SIGTERM twice (the second time while resuming), then
/// resumes it to the end; the directory must hold the server's records exactly once.
fn interrupt_twice_then_finish(extra: &[&str], scope: &[&str]) {
    let s = TestServer::start(2, &["--sample", "12000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    let state = dir.join("test.asb.state");
    let st = state.to_str().unwrap();
    let mut args = options(&host, d, extra);
    args.extend_from_slice(scope);
    let throttled = [&args[..], &["--records-per-second", "3000"]].concat();

    let o = stopped_by_sigterm(&throttled, &state);
    let err = support::stderr(&o);
    assert!(err.contains("the backup was interrupted (TERM)"), "{err}");
    assert!(
        err.contains(&format!("--continue {st}")),
        "the hint names the state: {err}"
    );
    assert!(state.exists());

    if let Some(o) = stop_a_resume_then_finish(&args, &state, Stop::Wrapper("-TERM")) {
        let err = support::stderr(&o);
        let want = server_digests(&host, &[&["-n", "test"], scope].concat());
        assert!(
            err.contains(&format!("Backed up {} record(s)", want.len())),
            "the summary counts every run's records: {err}"
        );
    }
    assert!(!state.exists(), "a complete backup keeps no state");
    assert!(!dir.join("test.asb.incomplete").exists());
    assert_exactly_once(&host, &dir, scope);
    let mut validate = vec!["--validate", d];
    if extra.contains(&"zstd") {
        validate.extend(["-z", "zstd"]);
    }
    let (code, _, err) = support::run(support::tool("as-decode"), &validate, b"");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn resume_plain_single_worker() {
    interrupt_twice_then_finish(&[], &[]);
}

#[test]
fn resume_parallel_compressed_with_file_limit() {
    interrupt_twice_then_finish(&["-w", "4", "-z", "zstd", "-F", "1"], &[]);
}

#[test]
fn resume_partition_lists() {
    interrupt_twice_then_finish(&["-w", "3"], &["-X", "0-1000,2000-700,4000-96"]);
}

/// SIGKILL of either stage: the wrapper names it, the state written before stays valid, and
/// --continue finishes the backup.
#[test]
fn a_killed_stage_is_named_and_the_backup_resumes() {
    let s = TestServer::start(2, &["--sample", "12000"]);
    let host = s.host();
    for stage in ["as-scan", "as-split"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bk");
        let d = dir.to_str().unwrap();
        let state = dir.join("test.asb.state");
        let args = options(&host, d, &["-w", "2", "-F", "1"]);
        let child = spawn(&[&args[..], &["--records-per-second", "3000"]].concat());
        running(&state);
        let pid = child_named(child.id(), stage).unwrap_or_else(|| panic!("{stage} runs"));
        kill(pid, "-KILL");
        let o = child.wait_with_output().unwrap();
        let err = support::stderr(&o);
        assert_eq!(o.status.code(), Some(137), "{err}");
        assert!(
            err.contains(&format!(
                "the backup failed: {stage} was stopped by signal 9 (KILL)"
            )),
            "{err}"
        );
        assert!(state.exists(), "{err}");
        assert!(err.contains("--continue"), "{err}");
        resume_to_the_end(&args, &[], &state);
        assert_exactly_once(&host, &dir, &[]);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| (n.ends_with(".asb") || n == "test.manifest") && !n.starts_with('.')),
            "nothing half-made is left: {names:?}"
        );
        assert!(names.iter().any(|n| n == "test.manifest"), "{names:?}");
    }
}

/// A file-size limit (the disk "full"): a clear error, only complete files claimed, and the
/// backup finishes once there is room.
#[test]
fn a_full_disk_stops_cleanly_and_resumes() {
    let s = TestServer::start(1, &["--sample", "12000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    let state = dir.join("test.asb.state");
    // Files of up to 1 MiB fit; the 2nd MiB of a file does not.
    let args = options(&host, d, &["-F", "2"]);
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg("ulimit -f 1536; exec \"$0\" \"$@\"")
        .arg(asbackup_command(&[]).get_program())
        .args(&args)
        .envs(
            asbackup_command(&[])
                .get_envs()
                .filter_map(|(k, v)| Some((k, v?))),
        );
    let o = c.output().unwrap();
    let err = support::stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("File too large"), "{err}");
    assert!(err.contains("the backup failed: as-split"), "{err}");
    assert!(state.exists(), "{err}");
    // -F differs from the first run: file sizes are not part of the scope.
    resume_to_the_end(&args, &["-F", "1"], &state);
    assert_exactly_once(&host, &dir, &[]);
}

/// A resume must be of the same backup.
#[test]
fn a_resume_with_another_scope_is_refused() {
    let s = TestServer::start(1, &["--sample", "3000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    let state = dir.join("test.asb.state");
    let args = options(&host, d, &[]);
    stopped_by_sigterm(
        &[&args[..], &["--records-per-second", "1000"]].concat(),
        &state,
    );
    let o = resume(&args, &["-s", "set1"], &state);
    assert_eq!(o.status.code(), Some(2), "{}", support::stderr(&o));
    assert!(
        support::stderr(&o).contains("is the state of another backup"),
        "{}",
        support::stderr(&o)
    );
    for (extra, why) in [
        (vec!["-r"], "cannot be used with --remove-files"),
        (vec!["--continue", "/nonexistent.state"], "does not exist"),
    ] {
        let mut a = args.clone();
        a.extend(extra.iter());
        if !a.contains(&"--continue") {
            a.extend(["--continue", state.to_str().unwrap()]);
        }
        let o = asbackup_command(&a).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", support::stderr(&o));
        assert!(support::stderr(&o).contains(why), "{}", support::stderr(&o));
    }
    let cont = ["--continue", state.to_str().unwrap()];
    let o = asbackup_command(&[&["-h", &host, "-n", "test", "-o", "-"][..], &cont].concat())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        support::stderr(&o).contains("need a directory (-d) or a local file (-o FILE)"),
        "{}",
        support::stderr(&o)
    );
    // A directory backup's state cannot finish a single-file backup.
    let file = tmp.path().join("x.asb");
    let f = file.to_str().unwrap();
    let o = asbackup_command(&[&["-h", &host, "-n", "test", "-o", f][..], &cont].concat())
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        support::stderr(&o).contains("is the state of another backup"),
        "{}",
        support::stderr(&o)
    );
    assert!(!file.exists());
}

/// Sends SIGINT to the wrapper (or to its whole process group): the backup must stop
/// with 130 and asbackup's words, and resume to hold the server's records exactly once.
fn stopped_by_sigint_then_resumed(
    child: Child,
    group: bool,
    args: &[&str],
    host: &str,
    dir: &Path,
) {
    let pid = child.id() as i32;
    kill(if group { -pid } else { pid }, "-INT");
    let o = child.wait_with_output().unwrap();
    let err = support::stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("the backup was interrupted (INT)"), "{err}");
    resume_to_the_end(args, &[], &dir.join("test.asb.state"));
    assert_exactly_once(host, dir, &[]);
}

/// Ctrl-C in a terminal: SIGINT reaches every process of the foreground group at once. The
/// files being finished are not cut (their filters run in a group of their own), the state is
/// saved, and the backup resumes.
#[test]
fn ctrl_c_to_the_whole_group_stops_cleanly() {
    use std::os::unix::process::CommandExt;
    let s = TestServer::start(2, &["--sample", "12000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    let state = dir.join("test.asb.state");
    let args = options(&host, d, &["-w", "2", "-z", "zstd"]);
    let child = asbackup_command(&[&args[..], &["-L", "3000"]].concat())
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    running(&state);
    // The group's id is the wrapper's pid.
    stopped_by_sigint_then_resumed(child, true, &args, &host, &dir);
}

/// A backup started as a background job of a script begins with SIGINT ignored (bash cannot trap
/// it then); the wrapper takes SIGINT all the same, stops cleanly and resumes.
#[test]
fn sigint_stops_a_backup_started_with_sigint_ignored() {
    let s = TestServer::start(2, &["--sample", "12000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    let state = dir.join("test.asb.state");
    let args = options(&host, d, &[]);
    // `trap "" INT` then exec: the ignored disposition survives exec, as for `asbackup ... &`.
    let child = Command::new("bash")
        .arg("-c")
        .arg("trap '' INT; exec \"$0\" \"$@\"")
        .arg(support::asbackup_path())
        .args([&args[..], &["-L", "3000"]].concat())
        .env("AS_TOOLS_BIN", support::tools_bin())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    running(&state);
    stopped_by_sigint_then_resumed(child, false, &args, &host, &dir);
}

/// --state-file-dst: a directory (to hold PREFIX.asb.state) or a file; the state lives there,
/// not in the backup directory, and --continue takes it from there.
#[test]
fn the_state_can_live_elsewhere() {
    let s = TestServer::start(1, &["--sample", "8000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    for (i, dst) in ["states/", "states/mine.state"].iter().enumerate() {
        let dir = tmp.path().join(format!("bk{i}"));
        let d = dir.to_str().unwrap();
        let dst = tmp.path().join(dst);
        let state = if i == 0 {
            dst.join("q.asb.state")
        } else {
            dst.clone()
        };
        let dst = format!("{}{}", dst.display(), if i == 0 { "/" } else { "" });
        let args = options(&host, d, &["-q", "q", "--state-file-dst", &dst]);
        let o = stopped_by_sigterm(&[&args[..], &["-L", "2500"]].concat(), &state);
        assert!(state.exists());
        assert!(!dir.join("q.asb.state").exists());
        // asbackup's words, naming the state file as-split keeps.
        let hint = format!(
            "Backup was interrupted, to resume, run backup with `--continue {}`",
            state.display()
        );
        assert!(
            support::stderr(&o).contains(&hint),
            "{}",
            support::stderr(&o)
        );
        resume_to_the_end(&args, &[], &state);
        assert!(!state.exists());
        assert_exactly_once(&host, &dir, &[]);
    }
}

/// One file (-o FILE) is resumable too: it is written as FILE.partial, checkpointed, cut back
/// to its last checkpoint on resume and appended to (ASB text and zstd frames both concatenate),
/// then renamed. Stopped by SIGTERM, then by SIGKILL of as-split mid-segment, then finished.
/// Encrypted, every segment goes on with the keystream of the file's one IV block.
#[test]
fn a_single_file_backup_resumes() {
    let s = TestServer::start(2, &["--sample", "12000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let key = support::samples().join("encrypted/key.pem");
    let key = key.to_str().unwrap();
    let encrypt = ["-y", "aes256", "--encryption-key-file", key];
    let zstd = ["-z", "zstd"];
    for (i, opts) in [&[][..], &zstd, &[&zstd[..], &encrypt].concat()]
        .iter()
        .enumerate()
    {
        let file = tmp.path().join(format!("one{i}.asb"));
        let f = file.to_str().unwrap();
        let state = tmp.path().join(format!("one{i}.asb.state"));
        let partial = tmp.path().join(format!("one{i}.asb.partial"));
        let args = [&["-h", host.as_str(), "-n", "test", "-o", f][..], opts].concat();
        let o = stopped_by_sigterm(&[&args[..], &["-L", "3000"]].concat(), &state);
        assert!(support::stderr(&o).contains(&format!("--continue {}", state.display())));
        assert!(partial.exists() && !file.exists());

        stop_a_resume_then_finish(&args, &state, Stop::KillStage("as-split"));
        assert!(file.exists() && !partial.exists() && !state.exists());
        let mut bytes = std::fs::read(&file).unwrap();
        if opts.len() > 2 {
            let (code, plain, err) = support::run(
                support::tool("as-crypt"),
                &[&["-d"][..], &encrypt].concat(),
                &bytes,
            );
            assert_eq!(code, 0, "{err}");
            bytes = plain;
        }
        let mut got = std::collections::BTreeMap::new();
        support::count_digests(&bytes, &mut got);
        let want = server_digests(&host, &["-n", "test"]);
        assert_eq!(lost_and_doubled(&want, &got), (0, 0), "{opts:?}");
        let validate = [&["--validate", f][..], opts].concat();
        let (code, out, err) = support::run(support::tool("as-decode"), &validate, b"");
        assert_eq!(code, 0, "{err}");
        assert!(
            String::from_utf8_lossy(&out).contains("3 secondary index(es), 1 UDF file(s)"),
            "the metadata is in the file once"
        );
        // The digest (and HMAC) hashed as the segments of three runs landed is the whole file's.
        let verify = [&[f][..], opts].concat();
        let (code, _, err) = support::run(support::tool("as-verify"), &verify, b"");
        assert_eq!(code, 0, "{opts:?}: {err}");
        let manifest = std::fs::read_to_string(format!("{f}.manifest")).unwrap();
        let sum = std::process::Command::new("sha256sum")
            .arg(&file)
            .output()
            .unwrap();
        let sha = String::from_utf8_lossy(&sum.stdout)[..64].to_string();
        assert!(manifest.contains(&sha), "{opts:?}: {manifest}");
    }
}

/// A directory begun without a manifest (--no-manifest: its files are not hashed) and finished
/// with one: the files the first run completed are read back for their digests.
#[test]
fn a_directory_begun_without_a_manifest_resumes_with_one() {
    let s = TestServer::start(1, &["--sample", "12000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let d = dir.to_str().unwrap();
    let state = dir.join("test.asb.state");
    let args = options(&host, d, &["-F", "1"]);
    let child = spawn(&[&args[..], &["--no-manifest", "-L", "3000"]].concat());
    // Stopped once a file is complete and in the state: one worker commits a file before it
    // begins the next, so once the second has landed.
    support::wait_for_file(&dir.join("test_00001.asb"), Duration::ZERO);
    kill(child.id() as i32, "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", support::stderr(&o));

    resume_to_the_end(&args, &[], &state);
    let manifest = std::fs::read_to_string(dir.join("test.manifest")).unwrap();
    let first = Command::new("sha256sum")
        .arg(dir.join("test_00000.asb"))
        .output()
        .unwrap();
    assert!(
        manifest.contains(&String::from_utf8_lossy(&first.stdout)[..64]),
        "{manifest}"
    );
    // (as-verify checks every file's digest.)
    assert_exactly_once(&host, &dir, &[]);
}

/// A single file begun without a manifest (--no-manifest: nothing is hashed as it lands) and
/// finished with one: the manifest's digest is still the whole file's, read back at the end.
#[test]
fn a_single_file_begun_without_a_manifest_resumes_with_one() {
    let s = TestServer::start(1, &["--sample", "8000"]);
    let host = s.host();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("one.asb");
    let f = file.to_str().unwrap();
    let state = tmp.path().join("one.asb.state");
    let args = ["-h", host.as_str(), "-n", "test", "-o", f];
    stopped_by_sigterm(
        &[&args[..], &["--no-manifest", "-L", "3000"]].concat(),
        &state,
    );

    resume_to_the_end(&args, &[], &state);
    let (code, _, err) = support::run(support::tool("as-verify"), &[f], b"");
    assert_eq!(code, 0, "{err}");
    let manifest = std::fs::read_to_string(format!("{f}.manifest")).unwrap();
    let sum = Command::new("sha256sum").arg(&file).output().unwrap();
    assert!(
        manifest.contains(&String::from_utf8_lossy(&sum.stdout)[..64]),
        "{manifest}"
    );
    let mut got = std::collections::BTreeMap::new();
    support::count_digests(&std::fs::read(&file).unwrap(), &mut got);
    let want = server_digests(&host, &["-n", "test"]);
    assert_eq!(lost_and_doubled(&want, &got), (0, 0));
}
