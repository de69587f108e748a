//! The command-line layer every tool of the toolkit shares: one error line and one exit status
//! per failure ([`Exit`]), the configuration files ([`config`]), logs ([`log`]) and metrics
//! ([`metrics`]), input and output ([`io`]), SIGINT/SIGTERM handling ([`signals`]), child
//! processes ([`process`]), secrets given as asbackup takes them ([`secret`]) and the
//! machine-readable summary a wrapper reads ([`summary`]).

pub mod bar;
pub mod config;
pub mod exit;
pub mod framed;
pub mod io;
pub mod log;
pub mod metrics;
pub mod process;
pub mod secret;
pub mod signals;
pub mod summary;

pub use exit::{BadInput, Exit, Usage, EXIT_STATUS_HELP};

use clap::{CommandFactory, Parser};

/// A tool's whole command: its own options and those every tool has (configuration files,
/// logging). Repeating an option keeps the last, as getopt does (so a file's value put in front
/// of the command line never clashes with it).
pub fn command<A: CommandFactory>() -> clap::Command {
    log::args(config::args(A::command())).args_override_self(true)
}

/// Reads the configuration files, parses the arguments, starts logging, runs the tool and
/// turns an error into one line (the log's) and its exit status.
pub fn main<A: Parser>(
    name: &'static str,
    run: fn(A) -> anyhow::Result<()>,
) -> std::process::ExitCode {
    main_with(name, run, true)
}

/// [`main`] without reading the configuration files: for `as-tools`, whose `config` reads them
/// as the command line after its `--` chooses (a wrapper's `--no-config-file` must get past a
/// broken default file).
pub fn main_without_files<A: Parser>(
    name: &'static str,
    run: fn(A) -> anyhow::Result<()>,
) -> std::process::ExitCode {
    main_with(name, run, false)
}

fn main_with<A: Parser>(
    name: &'static str,
    run: fn(A) -> anyhow::Result<()>,
    files: bool,
) -> std::process::ExitCode {
    // The toolkit's one TLS provider for the clouds' HTTP clients (see the workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    io::widen_pipes();
    let cmd = command::<A>();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv = match files {
        true => config::resolve(name, &cmd, argv),
        false => Ok(argv),
    };
    let argv = match argv {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{name}: error: {e}");
            return std::process::ExitCode::from(Exit::Usage.code());
        }
    };
    let mut matches = cmd.get_matches_from(argv);
    if let Err(e) = log::init(name, &matches) {
        eprintln!("{name}: error: --log-file {e}");
        return std::process::ExitCode::from(Exit::Usage.code());
    }
    let args = match <A as clap::FromArgMatches>::from_arg_matches_mut(&mut matches) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", io::one_line(&e));
            std::process::ExitCode::from(Exit::of(&e).code())
        }
    }
}
