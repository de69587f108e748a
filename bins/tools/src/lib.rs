//! The command-line tools of the toolkit: each module holds one tool's options (`Args`, clap
//! derive) and its `run`, over the library in `as-common` and the command-line layer in
//! `as-cli`. The binaries in `src/bin` are a line each; the man pages under `man/` are generated
//! from these definitions (`tests/man.rs`).

pub mod backup;
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
pub mod zstd;
