//! `as-s3get`: as-get for s3:// URLs only, under the name users type (the same options as
//! ever).

use crate::get::ReadArgs;
use clap::Parser;

/// Read a backup from S3: an object to standard output, or the files of a directory backup.
///
/// Streams s3://BUCKET/KEY to standard output in constant memory. When the connection breaks
/// mid-object, the next GET asks for the rest only (a Range from the first byte not yet written)
/// and for the same version of the object (If-Match on its ETag), so that the output is the
/// object exactly, or as-s3get fails with one line: a replaced object is never spliced. Failed
/// requests are retried with backoff, --attempts times in a row at most.
///
/// With --list, prints the s3:// URL of every object under the prefix whose name ends in .asb,
/// one per line, sorted (a directory backup), and their sizes in --summary. Credentials come
/// from the standard AWS chain (environment, profile, ...).
#[derive(Parser, Debug)]
#[command(name = "as-s3get", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The object, s3://BUCKET/KEY; with --list, a prefix s3://BUCKET[/PREFIX].
    pub url: String,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    crate::cloud::s3::only_s3(&a.url, a.read.list)?;
    let a = crate::get::Args {
        url: a.url,
        read: a.read,
        s3: a.s3,
        cloud: Default::default(),
        check_options: false,
    };
    crate::get::run_as("as-s3get", a)
}
