//! The command-line tools of the toolkit: each module holds one tool's options (`Args`, clap
//! derive) and its `run`, over the library in `as-common` and the command-line layer in
//! `as-cli`. The binaries in `src/bin` are a line each; the man pages under `man/` are generated
//! from these definitions (`tests/man.rs`).

pub mod backup;
pub mod catalog;
pub mod cloud;
pub mod connect;
pub mod crypt;
pub mod decode;
pub mod encode;
pub mod gen;
pub mod get;
pub mod keys;
pub mod put;
pub mod put_input;
pub mod restore;
pub mod s3get;
pub mod s3put;
pub mod scan;
pub mod split;
pub mod toolbox;
pub mod verify;
pub mod zstd;

/// A tool's whole command.
pub type CommandFn = fn() -> clap::Command;

/// Every tool a user runs, by name, with its whole command (the options every tool shares
/// included): the man pages, the shell completions and the install come from this one list.
pub const TOOLS: &[(&str, CommandFn)] = &[
    ("as-scan", as_cli::command::<scan::Args>),
    ("as-encode", as_cli::command::<encode::Args>),
    ("as-decode", as_cli::command::<decode::Args>),
    ("as-zstd", as_cli::command::<zstd::Args>),
    ("as-crypt", as_cli::command::<crypt::Args>),
    ("as-split", as_cli::command::<split::Args>),
    ("as-put", as_cli::command::<put::Args>),
    ("as-get", as_cli::command::<get::Args>),
    ("as-s3put", as_cli::command::<s3put::Args>),
    ("as-s3get", as_cli::command::<s3get::Args>),
    ("as-restore", as_cli::command::<restore::Args>),
    ("as-verify", as_cli::command::<verify::Args>),
    ("as-catalog", as_cli::command::<catalog::Args>),
    ("as-gen", as_cli::command::<gen::Args>),
    ("as-tools", as_cli::command::<toolbox::Args>),
];
