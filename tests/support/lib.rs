//! The helpers every integration test uses: where the tools, scripts and reference files are, the
//! bundled test server (started and stopped per test), running a tool, and counting records.
//!
//! The tools are found in the build's target directory (as assert_cmd finds them): run the
//! tests with `cargo test --workspace` (scripts/test), which builds every tool and as-testd first.

pub mod clouds;
pub mod cluster;
pub mod moto;
pub mod replay;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The checkout's top directory.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixtures the tests read (`tests/data`, see its README: where each came from).
pub fn data() -> PathBuf {
    repo().join("tests/data")
}

/// The files the official asbackup 4.5.8 wrote (`tests/data/samples`).
pub fn samples() -> PathBuf {
    data().join("samples")
}

/// A fixture's bytes: the file, or (large captures are kept compressed) `FILE.zst` unpacked.
pub fn fixture(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let z = path.with_file_name(format!(
                "{}.zst",
                path.file_name().unwrap().to_string_lossy()
            ));
            let packed = std::fs::read(&z).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            zstd::decode_all(&packed[..]).unwrap()
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The path of one of the built tools (as-scan, ..., as-testd).
pub fn tool(name: &str) -> &'static str {
    let p = assert_cmd::cargo::cargo_bin(name);
    assert!(
        p.exists(),
        "{} is not built: build the workspace first: cargo build --workspace --bins (scripts/test does)",
        p.display()
    );
    Box::leak(p.to_string_lossy().into_owned().into_boxed_str())
}

/// A command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running as-testd; killed when dropped.
pub struct TestServer {
    child: Child,
    pub ports: Vec<u16>,
}

impl TestServer {
    pub fn start(nodes: usize, extra: &[&str]) -> TestServer {
        Self::start_with_env(nodes, extra, &[])
    }

    /// With environment variables (e.g. AS_TESTD_PASSWORD, kept out of the process listing).
    pub fn start_with_env(nodes: usize, extra: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut child = Command::new(tool("as-testd"))
            .args(["--port", "0", "--nodes", &nodes.to_string()])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("as-testd starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ports = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("as-testd said {line:?}"))
            .split(',')
            .map(|p| p.parse().unwrap())
            .collect();
        TestServer { child, ports }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    /// Sends one info command to node `node` and returns the value.
    pub fn info(&self, node: usize, cmd: &str) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.ports[node])).unwrap();
        s.write_all(&as_common::wire::info::request(&[cmd]))
            .unwrap();
        let mut h = [0u8; 8];
        s.read_exact(&mut h).unwrap();
        let len = (u64::from_be_bytes(h) & 0xffff_ffff_ffff) as usize;
        let mut body = vec![0; len];
        s.read_exact(&mut body).unwrap();
        as_common::wire::info::parse_reply(&body)
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a prepared command with `stdin` fed from a thread (so large inputs and outputs cannot
/// deadlock), collecting its output.
pub fn run_command(c: &mut Command, stdin: &[u8]) -> std::process::Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    o
}

/// Runs a tool with arguments and stdin; returns (status code, stdout, stderr).
pub fn run(bin: &str, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
    let o = run_command(Command::new(bin).args(args), stdin);
    (
        o.status.code().unwrap_or(-1),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Where this build's tools are.
pub fn tools_bin() -> PathBuf {
    Path::new(tool("as-scan")).parent().unwrap().to_path_buf()
}

/// scripts/asbackup.
pub fn asbackup_path() -> PathBuf {
    repo().join("scripts/asbackup")
}

/// scripts/asbackup, using the tools of this build.
pub fn asbackup_command(args: &[&str]) -> Command {
    let mut c = Command::new(asbackup_path());
    c.args(args).env("AS_TOOLS_BIN", tools_bin());
    c
}

/// scripts/asrestore, using the tools of this build.
pub fn asrestore_command(args: &[&str]) -> Command {
    let mut c = Command::new(repo().join("scripts/asrestore"));
    c.args(args).env("AS_TOOLS_BIN", tools_bin());
    c
}

/// How many times each digest occurs in ASB text (plain or zstd-compressed).
pub fn count_digests(asb: &[u8], into: &mut std::collections::BTreeMap<[u8; 20], usize>) {
    let text;
    let asb = if asb.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        text = zstd::decode_all(asb).expect("valid zstd");
        &text[..]
    } else {
        asb
    };
    let mut r = as_common::asb::AsbReader::new(asb).expect("a valid backup file");
    while let Some(item) = r.next_item().expect("a valid backup file") {
        if let as_common::asb::AsbItem::Record(rec) = item {
            *into.entry(rec.digest).or_default() += 1;
        }
    }
}

/// Digest counts of every *.asb file of a directory backup.
pub fn dir_digests(dir: &std::path::Path) -> std::collections::BTreeMap<[u8; 20], usize> {
    let mut m = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "asb") {
            count_digests(&std::fs::read(&p).unwrap(), &mut m);
        }
    }
    m
}

/// What the server holds in a scope: digest counts of an uninterrupted scan.
pub fn server_digests(host: &str, scope: &[&str]) -> std::collections::BTreeMap<[u8; 20], usize> {
    let mut args = vec!["-h", host];
    args.extend_from_slice(scope);
    let (code, stream, err) = run(tool("as-scan"), &args, b"");
    assert_eq!(code, 0, "{err}");
    let (code, asb, err) = run(tool("as-encode"), &[], &stream);
    assert_eq!(code, 0, "{err}");
    let mut m = std::collections::BTreeMap::new();
    count_digests(&asb, &mut m);
    m
}

/// Records lost and records written more than once, against what the server holds.
pub fn lost_and_doubled(
    want: &std::collections::BTreeMap<[u8; 20], usize>,
    got: &std::collections::BTreeMap<[u8; 20], usize>,
) -> (usize, usize) {
    let lost = want.keys().filter(|d| !got.contains_key(*d)).count();
    let doubled = got.values().map(|&n| n.saturating_sub(1)).sum::<usize>()
        + got.keys().filter(|d| !want.contains_key(*d)).count();
    (lost, doubled)
}

/// The pid of the process named `name` among the children of `parent`.
pub fn child_named(parent: u32, name: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()? {
        let p = e.ok()?.path();
        let Ok(stat) = std::fs::read_to_string(p.join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let ppid: u32 = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        if ppid == parent && comm == name {
            return stat[..open].trim().parse().ok();
        }
    }
    None
}

/// The records of namespace `ns` on a server, by digest (a scan with as-scan).
pub fn server_records(
    s: &TestServer,
    ns: &str,
) -> std::collections::BTreeMap<[u8; 20], as_common::record::Record<'static>> {
    let host = s.host();
    let (code, out, err) = run(tool("as-scan"), &["-h", &host, "-n", ns], b"");
    assert_eq!(code, 0, "{err}");
    let mut r = as_common::stream::StreamReader::new(&out[..]).unwrap();
    let mut m = std::collections::BTreeMap::new();
    while let Some(f) = r.next_frame().unwrap() {
        if let as_common::stream::Frame::Record(x) = f {
            m.insert(x.digest, x.into_owned());
        }
    }
    m
}

/// The target holds the source's records: same sets, keys, bins, expiries (to the second).
pub fn assert_same(src: &TestServer, dst: &TestServer) {
    let (a, b) = (server_records(src, "test"), server_records(dst, "test"));
    assert_eq!(a.len(), b.len(), "record count");
    for (d, r) in &a {
        let x = &b[d];
        assert_eq!((&x.set, &x.key, &x.bins), (&r.set, &r.key, &r.bins));
        assert!(x.expiry.abs_diff(r.expiry) <= 2);
    }
}

/// Waits (up to 20 s) until `path` exists, as a running backup's state file does, then `settle`
/// more, so that the backup is well under way before the test interrupts it.
pub fn wait_for_file(path: &Path, settle: std::time::Duration) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !path.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(settle);
}

/// A backup that is not whole is refused by every reader: scripts/asrestore -d (and its
/// --validate), as-restore -d and as-decode --validate each exit 3 with one line containing
/// `want`, and nothing reaches the cluster. `extra` are the storage options, `prep` sets the
/// environment (credentials) of each command.
pub fn assert_refused(dir: &str, extra: &[String], prep: &dyn Fn(&mut Command), want: &str) {
    let dst = TestServer::start(1, &[]);
    let h = dst.host();
    let mut runs = vec![
        asrestore_command(&["-h", &h, "-d", dir]),
        asrestore_command(&["--validate", "-d", dir]),
    ];
    let mut restore = Command::new(tool("as-restore"));
    restore.args(["-h", &h, "-d", dir]);
    runs.push(restore);
    let mut validate = Command::new(tool("as-decode"));
    validate.args(["--validate", dir]);
    runs.push(validate);
    for mut c in runs {
        c.args(extra);
        prep(&mut c);
        let o = c.output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{c:?}: {err}");
        assert!(err.contains(want), "{c:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{c:?}: one line: {err}");
    }
    assert!(
        server_records(&dst, "test").is_empty(),
        "nothing was written"
    );
}
