//! moto, the S3-compatible server from PyPI (installed by scripts/test into .venv), started
//! per test, with its bucket `bkt`, and as-s3put pointed at it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub fn venv() -> PathBuf {
    let root = crate::repo();
    let v = std::env::var_os("AS_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"));
    assert!(
        v.join("bin/moto_server").exists(),
        "moto is missing from {}: run scripts/test, which installs it",
        v.display()
    );
    v
}

/// A moto S3 server on a free loopback port; killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// The server dies (SIGKILL), as in a crash mid-upload.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(venv().join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        // Wait until it answers.
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || for _ in BufReader::new(err).lines() {});
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let m = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        m.util(&["create", "bkt"]);
        m
    }

    pub fn util(&self, args: &[&str]) -> Vec<u8> {
        let root = crate::repo();
        let o = Command::new(venv().join("bin/python"))
            .arg(root.join("tests/python/s3util.py"))
            .arg(&self.endpoint)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "s3util {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }

    pub fn keys(&self, prefix: &str) -> Vec<String> {
        String::from_utf8(self.util(&["list", "bkt", prefix]))
            .unwrap()
            .lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    }

    pub fn pending_uploads(&self) -> usize {
        String::from_utf8(self.util(&["uploads", "bkt"]))
            .unwrap()
            .lines()
            .count()
    }

    /// as-s3put with explicit endpoint and credentials, never the real AWS.
    pub fn put(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut c = Command::new(crate::tool("as-s3put"));
        c.args(args).args([
            "--s3-endpoint-override",
            &self.endpoint,
            "--s3-region",
            "us-east-1",
        ]);
        env(&mut c);
        crate::run_command(&mut c, stdin)
    }
}

pub fn env(c: &mut Command) {
    c.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
