//! Progress while a restore runs: with -v, asrestore's two count lines each 10 seconds; with
//! -m FILE and a backup of known size, asrestore's `PROGRESS:N` and `REMAINING:T` lines each
//! second, from the bytes read of the backup's files.

use super::counts::Counts;
use super::Args;
use crate::scan::eta;
use as_cli::signals;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    machine: Option<(PathBuf, u64)>,
}

/// Starts reporting; `read` counts the bytes read of the backup, `total` is its size.
pub fn start(a: &Args, counts: Arc<Counts>, read: Arc<AtomicU64>, total: Option<u64>) -> Progress {
    let done = Arc::new(AtomicBool::new(false));
    let machine = match (&a.machine, total) {
        (Some(m), Some(t)) if t > 0 => Some((m.clone(), t)),
        _ => None,
    };
    // A live bar where one can be drawn, of the backup's bytes read.
    let bar = as_cli::bar::Bar::possible();
    if !a.verbose && machine.is_none() && !bar {
        return Progress {
            done,
            thread: None,
            machine,
        };
    }
    let (flag, verbose, m) = (done.clone(), a.verbose && !bar, machine.clone());
    let bar = match bar {
        true => as_cli::bar::Bar::new(total, as_cli::bar::Unit::Bytes),
        false => as_cli::bar::Bar::new_hidden(),
    };
    let thread = signals::spawn(move || {
        let started = Instant::now();
        let (mut last, mut at, mut tick) = ((0u64, 0u64), Instant::now(), Instant::now());
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            bar.set(
                counts.records.load(Ordering::Relaxed),
                read.load(Ordering::Relaxed),
            );
            if let Some((path, total)) = &m {
                if tick.elapsed() >= Duration::from_secs(1) {
                    tick = Instant::now();
                    let got = read.load(Ordering::Relaxed).min(*total);
                    let mut lines = format!("PROGRESS:{}\n", got * 100 / total);
                    let ms = started.elapsed().as_millis() as u64;
                    if let Some(left) = (total - got).saturating_mul(ms).checked_div(got) {
                        lines.push_str(&format!("REMAINING:{}\n", eta(left / 1000)));
                    }
                    append(path, &lines);
                }
            }
            if !verbose || at.elapsed() < Duration::from_secs(10) {
                continue;
            }
            let records = counts.records.load(Ordering::Relaxed);
            let bytes = counts.bytes.load(Ordering::Relaxed);
            let ms = at.elapsed().as_millis() as u64;
            // The elapsed time tells these from the final counts.
            let secs = started.elapsed().as_secs();
            for line in counts.lines((records - last.0, bytes - last.1, ms)) {
                tracing::info!(kind = "progress", records, bytes, "[{secs} s] {line}");
            }
            (last, at) = ((records, bytes), Instant::now());
        }
    });
    Progress {
        done,
        thread: Some(thread),
        machine,
    }
}

impl Progress {
    /// Stops reporting; a whole restore ends its progress at 100.
    pub fn finish(mut self, whole: bool) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let (true, Some((path, _))) = (whole, &self.machine) {
            append(path, "PROGRESS:100\n");
        }
    }
}

fn append(path: &PathBuf, text: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}
