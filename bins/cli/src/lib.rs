//! The command-line layer every tool of the toolkit shares: one error line and one exit status
//! per failure ([`Exit`]), input and output ([`io`]), SIGINT/SIGTERM handling ([`signals`]), child
//! processes ([`process`]), secrets given as asbackup takes them ([`secret`]) and the
//! machine-readable summary a wrapper reads ([`summary`]).

pub mod exit;
pub mod framed;
pub mod io;
pub mod process;
pub mod secret;
pub mod signals;
pub mod summary;

pub use exit::{BadInput, Exit, Usage, EXIT_STATUS_HELP};

use clap::Parser;

/// Parses the arguments, runs the tool and turns an error into one line on stderr and its exit
/// status.
pub fn main<A: Parser>(name: &str, run: fn(A) -> anyhow::Result<()>) -> std::process::ExitCode {
    let args = A::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {}", io::one_line(&e));
            std::process::ExitCode::from(Exit::of(&e).code())
        }
    }
}
