//! Progress as asbackup shows it.

use std::io::Write;
use std::time::{Duration, Instant};

/// Progress as asbackup shows it: on stderr every 10 s (`N% complete (~KiB/s, ~rec/s, ~B/rec)`
/// and `~ETA remaining`) when asked for, and `PROGRESS:`/`REMAINING:` lines every second into the
/// --machine file. Bytes are those of the record stream.
pub struct Progress {
    human: bool,
    expected: Option<u64>,
    machine: Option<std::fs::File>,
    pub started: Instant,
    last_human: Instant,
    last_machine: Instant,
    metrics: Option<super::SharedMetrics>,
    last_metrics: Instant,
    bar: as_cli::bar::Bar,
}

/// asbackup's duration format: `1d2h3m4s` without leading zero units, `>100d` when huge.
pub fn eta(secs: u64) -> String {
    if secs > 100 * 86400 {
        return ">100d".into();
    }
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (v, u) in [(d, 'd'), (h, 'h'), (m, 'm')] {
        if v > 0 || !out.is_empty() {
            out += &format!("{v}{u}");
        }
    }
    out + &format!("{s}s")
}

impl Progress {
    pub fn new(human: bool, expected: Option<u64>, machine: Option<std::fs::File>) -> Self {
        let now = Instant::now();
        Progress {
            human,
            expected,
            machine,
            started: now,
            last_human: now,
            last_machine: now,
            metrics: None,
            last_metrics: now,
            bar: as_cli::bar::Bar::new_hidden(),
        }
    }

    /// Draws the live bar too.
    pub fn with_bar(mut self, bar: as_cli::bar::Bar) -> Self {
        self.bar = bar;
        self
    }

    /// Also rewrites the metrics file every [`as_cli::metrics::PERIOD`].
    pub fn with_metrics(mut self, m: Option<super::SharedMetrics>) -> Self {
        self.metrics = m;
        self
    }

    pub fn update(&mut self, records: u64, bytes: u64, retries: u64) {
        self.bar.set(records, bytes);
        if let Some(m) = &self.metrics {
            if self.last_metrics.elapsed() >= as_cli::metrics::PERIOD {
                self.last_metrics = Instant::now();
                let c = as_cli::metrics::Counts {
                    records,
                    bytes,
                    retries,
                    ..Default::default()
                };
                if let Ok(mut m) = m.lock() {
                    if let Err(e) = m.write(c, as_cli::metrics::Outcome::Running) {
                        tracing::warn!("metrics file: {e}");
                    }
                }
            }
        }
        let human = self.human && self.last_human.elapsed() >= Duration::from_secs(10);
        let machine =
            self.machine.is_some() && self.last_machine.elapsed() >= Duration::from_secs(1);
        if !human && !machine {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = records as f64 / secs;
        let total = self.expected.unwrap_or(0);
        let pct = (records * 100).checked_div(total).unwrap_or(0).min(100);
        let left = if rate > 0.0 && total > records {
            ((total - records) as f64 / rate) as u64
        } else {
            0
        };
        if human {
            self.last_human = Instant::now();
            let line = format!(
                "{pct}% complete (~{:.0} KiB/s, ~{rate:.0} rec/s, ~{} B/rec)",
                bytes as f64 / 1024.0 / secs,
                bytes.checked_div(records).unwrap_or(0)
            );
            as_cli::log::progress(&line, records, bytes);
            as_cli::log::progress(&format!("~{} remaining", eta(left)), records, bytes);
        }
        if machine {
            self.last_machine = Instant::now();
            if let Some(f) = &mut self.machine {
                let _ = writeln!(f, "PROGRESS:{pct}\nREMAINING:{}", eta(left));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn eta_like_asbackup() {
        assert_eq!(super::eta(0), "0s");
        assert_eq!(super::eta(61), "1m1s");
        assert_eq!(super::eta(3600), "1h0m0s");
        assert_eq!(super::eta(93784), "1d2h3m4s");
        assert_eq!(super::eta(101 * 86400), ">100d");
    }
}
