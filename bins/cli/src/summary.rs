//! The summary a tool leaves for whoever composes it (scripts/asbackup): `--summary FILE` gets one
//! `key=value` line per count when the tool ends, whether it succeeded or not, so a wrapper reads
//! numbers instead of scraping the human summary on stderr.

use anyhow::Context;
use std::fmt::Display;
use std::path::Path;

/// Counts to report, in the order they were set.
#[derive(Default, Debug)]
pub struct Summary(Vec<(&'static str, String)>);

impl Summary {
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Sets `key` (replacing an earlier value).
    pub fn set(&mut self, key: &'static str, value: impl Display) -> &mut Summary {
        let value = value.to_string();
        debug_assert!(!value.contains('\n'), "one line per key");
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = value,
            None => self.0.push((key, value)),
        }
        self
    }

    /// The number set for `key`, if any.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.0.iter().find(|(k, _)| *k == key)?.1.parse().ok()
    }

    /// Writes the lines into `path` (replacing it), when one was given.
    pub fn write(&self, path: Option<&Path>) -> anyhow::Result<()> {
        let Some(path) = path else { return Ok(()) };
        let text: String = self.0.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The value of `key` in a summary file's text.
    pub fn get<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

/// `--summary FILE` of a filter stage (as-encode, as-zstd, as-crypt).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterSummary {
    /// Write into this file once done `bytes=N` (the bytes written to standard output) and
    /// `output_closed=true|false` (whether it failed because its reader went away): for a
    /// wrapper that reports them (scripts/asbackup -o -) without counting the bytes again.
    #[arg(long = "summary", value_name = "FILE")]
    pub path: Option<std::path::PathBuf>,
}

impl FilterSummary {
    /// Writes the summary of a stage that wrote `bytes` and ended with `result` (when a path
    /// was given); returns `result`, whose failure comes before the summary's own.
    pub fn write(
        &self,
        bytes: &std::sync::atomic::AtomicU64,
        result: anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let written = Summary::new()
            .set("bytes", bytes.load(std::sync::atomic::Ordering::Relaxed))
            .set(
                "output_closed",
                result.as_ref().is_err_and(crate::io::is_broken_pipe),
            )
            .write(self.path.as_deref());
        result.and(written)
    }
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn lines_of_key_and_value() {
        let dir = std::env::temp_dir().join(format!("summary-{}", std::process::id()));
        let mut s = Summary::new();
        s.set("records", 5).set("bytes", 10).set("records", 7);
        s.write(Some(&dir)).unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        assert_eq!(text, "records=7\nbytes=10\n");
        assert_eq!(Summary::get(&text, "bytes"), Some("10"));
        assert_eq!(Summary::get(&text, "byte"), None);
        std::fs::remove_file(dir).unwrap();
    }
}
