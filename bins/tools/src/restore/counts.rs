//! What a restore did, counted as asrestore counts it (`restore.c`, `batch_uploader.c`), and
//! reported in its words: the progress lines, the final two lines, the machine-readable
//! PROGRESS / REMAINING / SUMMARY lines and the `--summary` file.

use as_cli::summary::Summary;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Counts {
    /// Record frames read, whatever became of them.
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub expired: AtomicU64,
    pub skipped: AtomicU64,
    /// Of the skipped: not in the --inventory.
    pub absent: AtomicU64,
    /// Of the skipped: read by a newer backup's run of the chain (--exclude).
    pub superseded: AtomicU64,
    /// Records of the target deleted by --delete-absent.
    pub deleted: AtomicU64,
    /// Record errors counted under --ignore-record-error.
    pub ignored: AtomicU64,
    pub inserted: AtomicU64,
    /// Existed already (--unique).
    pub existed: AtomicU64,
    /// The cluster's generation was as new or newer.
    pub fresher: AtomicU64,
    pub retries: AtomicU64,
    pub udfs: AtomicU64,
    pub indexes: AtomicU64,
    pub indexes_matched: AtomicU64,
    pub indexes_skipped: AtomicU64,
    /// 1 when what is restored is part of a backup (--allow-incomplete).
    partial: AtomicU64,
}

fn g(a: &AtomicU64) -> u64 {
    a.load(Relaxed)
}

impl Counts {
    pub fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Relaxed);
    }

    pub fn set_partial(&self, partial: bool) {
        self.partial.store(u64::from(partial), Relaxed);
    }

    pub fn partial(&self) -> bool {
        g(&self.partial) == 1
    }

    /// Records that reached an end: written, or counted as not to be written.
    pub fn settled(&self) -> u64 {
        g(&self.expired)
            + g(&self.skipped)
            + g(&self.ignored)
            + g(&self.inserted)
            + g(&self.existed)
            + g(&self.fresher)
    }

    /// asrestore's two lines; `rate` is (records, bytes, ms) of the last interval.
    pub fn lines(&self, rate: (u64, u64, u64)) -> [String; 2] {
        let (records, bytes, ms) = rate;
        let per_s = |n: u64| (n * 1000).checked_div(ms).unwrap_or(0);
        [
            format!(
                "{} UDF file(s), {} secondary index(es), {} record(s) ({} rec/s, {} KiB/s, {} B/rec, retries: {})",
                g(&self.udfs),
                g(&self.indexes),
                g(&self.records),
                per_s(records),
                per_s(bytes) / 1024,
                bytes.checked_div(records).unwrap_or(0),
                g(&self.retries)
            ),
            format!(
                "Expired {} : skipped {} : err_ignored {} : inserted {}: failed {} (existed {} , fresher {})",
                g(&self.expired),
                g(&self.skipped),
                g(&self.ignored),
                g(&self.inserted),
                g(&self.existed) + g(&self.fresher),
                g(&self.existed),
                g(&self.fresher)
            ),
        ]
    }

    /// asrestore's `SUMMARY:` line of --machine.
    pub fn machine_summary(&self) -> String {
        format!(
            "SUMMARY:{}:{}:{}:{}:{}:{}:{}:{}:{}",
            g(&self.udfs),
            g(&self.indexes),
            g(&self.records),
            g(&self.expired),
            g(&self.skipped),
            g(&self.ignored),
            g(&self.inserted),
            g(&self.existed),
            g(&self.fresher)
        )
    }

    pub fn summary(&self, complete: bool) -> Summary {
        let mut s = Summary::new();
        s.set("records", g(&self.records))
            .set("expired", g(&self.expired))
            .set("skipped", g(&self.skipped))
            .set("absent", g(&self.absent))
            .set("deleted", g(&self.deleted))
            .set("superseded", g(&self.superseded))
            .set("ignored", g(&self.ignored))
            .set("inserted", g(&self.inserted))
            .set("existed", g(&self.existed))
            .set("fresher", g(&self.fresher))
            .set("retries", g(&self.retries))
            .set("udfs", g(&self.udfs))
            .set("indexes", g(&self.indexes))
            .set("indexes_matched", g(&self.indexes_matched))
            .set("bytes", g(&self.bytes))
            .set("complete", complete);
        // A restore that completed, of a backup that was not whole.
        if self.partial() {
            s.set("partial_backup", true);
        }
        s
    }
}
