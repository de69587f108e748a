//! The live progress bar: records, bytes, rate and time left, drawn on the terminal when there
//! is one to draw on and the log is for a person. Standard error when it is a terminal; under a
//! wrapper, whose stages' stderr is a pipe, the terminal itself (`/dev/tty`) when the wrapper's
//! own stderr is one (it sets `AS_PROGRESS_TTY`). Otherwise no bar: the asbackup-style lines
//! (`-v`) and `--machine` are for logs and scripts.

use std::io::IsTerminal;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing where none can be drawn.
pub struct Bar(Option<ProgressBar>, Unit);

/// What the bar counts: records (a backup), or the bytes of the backup read (a restore).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Records,
    Bytes,
}

impl Bar {
    /// Whether a bar would be drawn (a terminal to draw on, a log for a person).
    pub fn possible() -> bool {
        !crate::log::json() && (std::io::stderr().is_terminal() || tty_asked())
    }

    /// A bar counting `unit` up to `total` (when known).
    pub fn new(total: Option<u64>, unit: Unit) -> Bar {
        if crate::log::json() {
            return Bar(None, unit);
        }
        let Some(target) = target() else {
            return Bar(None, unit);
        };
        let template = match (total, unit) {
            (Some(_), Unit::Records) => "{elapsed_precise} [{wide_bar}] {pos}/{len} records, {msg} ({per_sec}), {eta} left",
            (None, Unit::Records) => "{elapsed_precise} {spinner} {pos} records, {msg} ({per_sec})",
            (Some(_), Unit::Bytes) => "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} read, {msg} records ({bytes_per_sec}), {eta} left",
            (None, Unit::Bytes) => "{elapsed_precise} {spinner} {bytes} read, {msg} records ({bytes_per_sec})",
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(total, target).with_style(style);
        Bar(Some(bar), unit)
    }

    /// No bar.
    pub fn new_hidden() -> Bar {
        Bar(None, Unit::Records)
    }

    /// Whether a bar is drawn.
    pub fn shown(&self) -> bool {
        self.0.is_some()
    }

    /// The records done and the bytes (written for a backup, read for a restore).
    pub fn set(&self, records: u64, bytes: u64) {
        if let Some(b) = &self.0 {
            match self.1 {
                Unit::Records => {
                    b.set_position(records);
                    b.set_message(format!("{}", HumanBytes(bytes)));
                }
                Unit::Bytes => {
                    b.set_position(bytes);
                    b.set_message(records.to_string());
                }
            }
        }
    }

    /// Takes the bar off the terminal (the summary line follows).
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

fn target() -> Option<ProgressDrawTarget> {
    if std::io::stderr().is_terminal() {
        return Some(ProgressDrawTarget::stderr());
    }
    if tty_asked() {
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
        };
        if let (Ok(r), Ok(w)) = (open(), open()) {
            return Some(ProgressDrawTarget::term(
                console::Term::read_write_pair(r, w),
                10,
            ));
        }
    }
    None
}

fn tty_asked() -> bool {
    std::env::var_os("AS_PROGRESS_TTY").is_some_and(|v| !v.is_empty() && v != "0")
}
