//! A backup-oriented Aerospike client: cluster discovery, metadata, and partition scans that
//! keep every bin as raw particle bytes and resume after the last delivered digest.

pub mod cluster;
pub mod conn;
pub mod filter;
pub mod metadata;
pub mod objects;
pub mod scan;
pub mod tls;
pub mod write;

use crate::wire::WireError;
use thiserror::Error;

/// An option the user gave that does not parse or does not fit (a partition list, a digest, a
/// time, a host list, the TLS files): a usage error, with the message saying what is wrong.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct InvalidOption(pub String);

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, #[source] std::io::Error),
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    #[error("no seed host answered: {0}")]
    Unreachable(String),
    #[error("login to {addr} failed: {}", auth_reason(*.code))]
    Auth { addr: String, code: u8 },
    #[error("namespace {0:?} does not exist in the cluster")]
    NoNamespace(String),
    #[error("{addr}: server refused the scan: {}", code_name(*.code))]
    Server { addr: String, code: u8 },
    #[error("{0}: protocol error: {1}")]
    Protocol(String, String),
    #[error("{0}: {1}")]
    Wire(String, #[source] WireError),
    #[error("scan incomplete: {0}")]
    Incomplete(String),
    #[error("{addr}: server refused the write: {}", code_name(*.code))]
    Rejected { addr: String, code: u8 },
    #[error("record {digest} was not restored: {} (--ignore-record-error skips such records)", code_name(*.code))]
    RecordRejected { digest: String, code: u8 },
    #[error("records not written within the retries: {0}")]
    NotWritten(String),
    #[error(
        "the server (build {build}) is too old for {feature}, which needs server 5.2 or later"
    )]
    TooOld { build: String, feature: String },
}

fn auth_reason(code: u8) -> &'static str {
    match code {
        60 => "unknown user",
        62 | 65 => "wrong password",
        52 => "security is not enabled on the server",
        _ => "refused",
    }
}

/// Names of the server result codes a backup meets.
pub fn code_name(code: u8) -> String {
    let n = match code {
        1 => "server error",
        2 => "key not found",
        // A scan filter, or a written bin's value (Aerospike 8.1 answers so an HLL whose size does
        // not match its bits; an ordered list out of order is a "server error"), that the server
        // refuses; its log says which.
        4 => {
            "parameter error (a scan filter or a bin value the server refuses: its log says which)"
        }
        3 => "generation error",
        5 => "record exists",
        8 => "server full",
        9 => "timeout",
        10 => "forbidden",
        11 => "partition unavailable",
        12 => "bin type error",
        13 => "record too big",
        14 => "key busy",
        16 => "unsupported feature",
        18 => "device overload",
        19 => "key mismatch",
        20 => "namespace not found",
        21 => "bin name too long",
        22 => "forbidden",
        80 => "not authenticated",
        150 => "batch writes disabled on the server (use --disable-batch-writes)",
        _ => return format!("result code {code}"),
    };
    format!("{n} (code {code})")
}

impl ClientError {
    /// Whether retrying (after refreshing the partition map) may help.
    pub fn retryable(&self) -> bool {
        match self {
            ClientError::Connect(..) | ClientError::Wire(..) => true,
            ClientError::Server { code, .. } => matches!(*code, 9 | 11 | 14 | 18),
            _ => false,
        }
    }
}
