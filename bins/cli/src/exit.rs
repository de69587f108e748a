//! The exit statuses of the tools, and the one place an error is mapped to its status.

use as_common::asb::{AsbError, AsbErrorKind, EncodeError};
use as_common::client::{ClientError, InvalidOption};
use as_common::crypt::CryptError;
use as_common::stream::StreamError;

/// Why a tool stopped, as its exit status tells a script (asbackup's codes where it has them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// An I/O or other runtime error.
    Error,
    /// A usage error: clap's own, or an option check after parsing.
    Usage,
    /// The input is not valid: foreign, truncated, corrupt or unparsable.
    BadInput,
    /// No seed host answers (or TLS to it fails).
    Unreachable,
    /// Login failed.
    Auth,
    /// The namespace does not exist, or the server refuses the request.
    Refused,
    /// Partitions could not be done within the retries.
    Incomplete,
    /// Stopped by this signal.
    Signal(i32),
}

/// The exit statuses of a tool that reads and writes files, for its --help and man page.
pub const EXIT_STATUS_HELP: &str =
    "Exit status: 0 on success, 1 on an I/O or other runtime error, \
2 on a usage error, 3 when the input is not valid (foreign, truncated, corrupt or unparsable). \
Errors are reported as one line on stderr.";

/// The exit statuses of a tool that talks to a cluster, for its --help and man page.
pub const CLUSTER_EXIT_STATUS_HELP: &str = "Exit status: 0 on success, 1 on a runtime error, 2 on a usage \
error, 4 when no seed host answers, 5 when login fails, 6 when the namespace does not exist or \
the server refuses the request, 7 when partitions could not be scanned (or records written) within the retries. Errors \
are reported as one line on stderr.";

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::BadInput => 3,
            Exit::Unreachable => 4,
            Exit::Auth => 5,
            Exit::Refused => 6,
            Exit::Incomplete => 7,
            Exit::Signal(s) => (128 + s).clamp(0, 255) as u8,
        }
    }

    /// The status of an error: a signal behind it wins, then the first usage or cluster cause,
    /// then bad input anywhere in the chain, else a runtime error.
    pub fn of(e: &anyhow::Error) -> Exit {
        if let Some(i) = crate::signals::interrupted(e) {
            return Exit::Signal(i.0);
        }
        if let Some(x) = e.chain().find_map(Self::of_usage_or_cluster) {
            return x;
        }
        if e.chain().any(Self::is_bad_input) {
            Exit::BadInput
        } else {
            Exit::Error
        }
    }

    fn of_usage_or_cluster(c: &(dyn std::error::Error + 'static)) -> Option<Exit> {
        if c.is::<Usage>()
            || c.is::<InvalidOption>()
            || matches!(c.downcast_ref::<CryptError>(), Some(CryptError::Key(_)))
        {
            return Some(Exit::Usage);
        }
        Some(match c.downcast_ref::<ClientError>()? {
            ClientError::Connect(..) | ClientError::Unreachable(_) | ClientError::Tls(..) => {
                Exit::Unreachable
            }
            ClientError::Auth { .. } => Exit::Auth,
            ClientError::NoNamespace(_)
            | ClientError::Server { .. }
            | ClientError::Rejected { .. }
            | ClientError::TooOld { .. } => Exit::Refused,
            ClientError::RecordRejected { .. } => Exit::Error,
            ClientError::Incomplete(_)
            | ClientError::NotWritten(_)
            | ClientError::Wire(..)
            | ClientError::Protocol(..) => Exit::Incomplete,
        })
    }

    /// The library's readers fail on bad input, or on I/O (a runtime error) — unless what
    /// failed the I/O is bad input itself (a file whose digest is not its manifest's, found
    /// as it is read).
    fn is_bad_input(c: &(dyn std::error::Error + 'static)) -> bool {
        let io_bad = |e: &std::io::Error| e.get_ref().is_some_and(|i| i.is::<BadInput>());
        matches!(c.downcast_ref::<StreamError>(), Some(s) if !matches!(s, StreamError::Io(e) if !io_bad(e)))
            || matches!(
                c.downcast_ref::<CryptError>(),
                Some(CryptError::WrongKey | CryptError::Empty | CryptError::Short(_))
            )
            || matches!(c.downcast_ref::<AsbError>(), Some(a) if !matches!(&a.kind, AsbErrorKind::Io(e) if !io_bad(e)))
            || matches!(c.downcast_ref::<EncodeError>(), Some(x) if !matches!(x, EncodeError::Io(_)))
            || c.downcast_ref::<std::io::Error>().is_some_and(io_bad)
            || c.is::<BadInput>()
    }
}

/// A usage problem found after parsing (asbackup's validation rules): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// An input problem found by a tool itself (not by the library's readers): exit 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::Interrupted;

    #[test]
    fn statuses_of_errors() {
        let usage = anyhow::Error::new(Usage("bad".into())).context("checking");
        assert_eq!(Exit::of(&usage).code(), 2);
        let bad = anyhow::Error::new(StreamError::Truncated("cut".into())).context("reading");
        assert_eq!(Exit::of(&bad).code(), 3);
        let io = anyhow::Error::new(StreamError::Io(std::io::Error::other("disk")));
        assert_eq!(Exit::of(&io).code(), 1);
        let sig = anyhow::Error::new(std::io::Error::other(Interrupted(libc::SIGTERM)));
        assert_eq!(Exit::of(&sig).code(), 143);
        let auth = anyhow::Error::new(ClientError::Auth {
            addr: "n".into(),
            code: 65,
        });
        assert_eq!(Exit::of(&auth).code(), 5);
        assert_eq!(Exit::of(&anyhow::anyhow!("other")).code(), 1);
    }
}
