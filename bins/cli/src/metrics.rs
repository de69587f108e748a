//! `--metrics-file`: a run's figures in the Prometheus text format that node_exporter's textfile
//! collector reads, written atomically (a temporary file in the same directory, then a rename)
//! every few seconds while the run goes on and once at its end. A failed run adds one to the
//! failures and keeps the last success time the file already held, so an alert on the age of
//! the last success keeps working across failures.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a running tool rewrites the file.
pub const PERIOD: Duration = Duration::from_secs(5);

/// The labels every figure carries.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// The tool or wrapper that ran (`asbackup`, `asrestore`, `as-scan`, ...).
    pub tool: String,
    pub namespace: String,
    /// Where the backup went or came from: file, directory, stdout, stdin, s3, gcs, azure.
    pub destination: String,
}

/// A run's figures so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub records: u64,
    pub bytes: u64,
    pub files: u64,
    pub retries: u64,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
}

/// The metrics file of one run.
#[derive(Debug)]
pub struct Metrics {
    path: PathBuf,
    labels: Labels,
    started: f64,
    /// From the file as the run found it.
    last_success: Option<f64>,
    failures: u64,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Metrics {
    /// A run starting now (or at `started`, Unix seconds), carrying on the file's last success
    /// time and failure count.
    pub fn new(path: &Path, labels: Labels, started: Option<f64>) -> Metrics {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let value = |name: &str| {
            old.lines()
                .filter(|l| !l.starts_with('#'))
                .find(|l| l.split(['{', ' ']).next() == Some(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        Metrics {
            path: path.to_path_buf(),
            labels,
            started: started.unwrap_or_else(now),
            last_success: value("astools_last_success_timestamp_seconds"),
            failures: value("astools_failures_total").unwrap_or(0.0) as u64,
        }
    }

    /// Writes the file for the run as it stands.
    pub fn write(&mut self, c: Counts, outcome: Outcome) -> std::io::Result<()> {
        let end = now();
        match outcome {
            Outcome::Succeeded => self.last_success = Some(end),
            Outcome::Failed => self.failures += 1,
            Outcome::Running => {}
        }
        let l = &self.labels;
        let labels = format!(
            "tool=\"{}\",namespace=\"{}\",destination=\"{}\"",
            escape(&l.tool),
            escape(&l.namespace),
            escape(&l.destination)
        );
        let mut text = String::new();
        let mut put = |name: &str, kind: &str, help: &str, v: f64| {
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {v}\n"
            ));
        };
        put(
            "astools_running",
            "gauge",
            "1 while the run goes on, 0 once it ended.",
            (outcome == Outcome::Running) as u8 as f64,
        );
        put(
            "astools_last_run_start_timestamp_seconds",
            "gauge",
            "When the last run started (Unix time).",
            self.started,
        );
        if outcome != Outcome::Running {
            put(
                "astools_last_run_success",
                "gauge",
                "1 when the last run succeeded, 0 when it failed.",
                (outcome == Outcome::Succeeded) as u8 as f64,
            );
        }
        if let Some(t) = self.last_success {
            put(
                "astools_last_success_timestamp_seconds",
                "gauge",
                "When the last successful run ended (Unix time).",
                t,
            );
        }
        put(
            "astools_duration_seconds",
            "gauge",
            "How long the last run took, or has taken so far.",
            ((end - self.started) * 1000.0).round() / 1000.0,
        );
        put(
            "astools_records",
            "gauge",
            "Records of the last run.",
            c.records as f64,
        );
        put(
            "astools_bytes",
            "gauge",
            "Bytes of the last run's backup.",
            c.bytes as f64,
        );
        put(
            "astools_files",
            "gauge",
            "Backup files of the last run.",
            c.files as f64,
        );
        put(
            "astools_retries",
            "gauge",
            "Retries in the last run.",
            c.retries as f64,
        );
        put(
            "astools_failures_total",
            "counter",
            "Failed runs since the file was first written.",
            self.failures as f64,
        );
        // A running run's figures are not synced: they are rewritten in seconds, and the sync
        // would stall the caller (as-scan's output) on a busy disk.
        crate::io::write_atomically(&self.path, text.as_bytes(), outcome != Outcome::Running)
    }

    /// Rewrites the file every [`PERIOD`] with what `counts` says, as a running run, until the
    /// returned guard is dropped.
    pub fn every_period(
        this: Arc<Mutex<Metrics>>,
        counts: impl Fn() -> Counts + Send + 'static,
    ) -> Ticker {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = crate::signals::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(PERIOD) {
                if let Ok(mut m) = this.lock() {
                    if let Err(e) = m.write(counts(), Outcome::Running) {
                        tracing::warn!("metrics file: {e}");
                    }
                }
            }
        });
        Ticker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// Stops the periodic writes when dropped.
pub struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A label value as the text format wants it.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.prom");
        let labels = Labels {
            tool: "asbackup".into(),
            namespace: "te\"st".into(),
            destination: "file".into(),
        };
        let c = Counts {
            records: 5,
            ..Counts::default()
        };
        Metrics::new(&p, labels.clone(), None)
            .write(c, Outcome::Succeeded)
            .unwrap();
        let first = std::fs::read_to_string(&p).unwrap();
        assert!(first.contains("namespace=\"te\\\"st\""), "{first}");
        let ok = first
            .lines()
            .find(|l| l.starts_with("astools_last_success_timestamp_seconds{"))
            .unwrap()
            .to_string();
        Metrics::new(&p, labels, None)
            .write(c, Outcome::Failed)
            .unwrap();
        let second = std::fs::read_to_string(&p).unwrap();
        assert!(second.contains(&ok), "{second}");
        assert!(second.contains("astools_last_run_success{"));
        assert!(second
            .lines()
            .any(|l| l.starts_with("astools_failures_total{") && l.ends_with(" 1")));
    }
}
