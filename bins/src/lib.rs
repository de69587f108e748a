//! The command-line tools of the toolkit: each module holds one tool's options (`Args`, clap
//! derive) and its `run`, over the library in `as-common`. The binaries in `src/bin` are a line
//! each; the man pages under `man/` are generated from these definitions (`tests/man.rs`).

pub mod decode;
pub mod encode;
pub mod gen;
pub mod io;
pub mod s3put;
pub mod scan;
pub mod signals;
pub mod split;
pub mod testd;
pub mod zstd;

use clap::Parser;
use std::process::ExitCode;

/// Exit status of a run that failed for an I/O or other runtime reason.
pub const EXIT_ERROR: u8 = 1;
/// Exit status of a usage error (clap's own).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the input is not valid: foreign, truncated, corrupt or unparsable.
pub const EXIT_BAD_INPUT: u8 = 3;

/// The exit statuses, for every tool's --help and man page.
pub const EXIT_STATUS_HELP: &str =
    "Exit status: 0 on success, 1 on an I/O or other runtime error, \
2 on a usage error, 3 when the input is not valid (foreign, truncated, corrupt or unparsable). \
Errors are reported as one line on stderr.";

/// Parses the arguments, runs the tool and turns an error into one line on stderr and an exit code.
pub fn main<A: Parser>(name: &str, run: fn(A) -> anyhow::Result<()>) -> ExitCode {
    let args = A::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {}", io::one_line(&e));
            let code = match signals::interrupted(&e) {
                Some(i) => i.exit_code(),
                None => scan::exit_code(&e).unwrap_or_else(|| io::exit_code(&e)),
            };
            ExitCode::from(code)
        }
    }
}
