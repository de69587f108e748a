//! `as-s3put`: as-put for s3:// URLs only, under the name users type (the same options as
//! ever).

use clap::Parser;

/// Upload a backup into S3 with a multipart upload, completing it only when the data is whole.
///
/// Streams its input into the object s3://BUCKET/KEY in parts, several in flight, in constant
/// memory. End of input alone cannot tell whether the producer succeeded, so the upload completes
/// only on a positive sign that the data is whole, chosen with one of:
///
/// --from CMD: runs CMD (bash, with pipefail) and uploads its standard output; completes if CMD
/// exits 0. --framed: standard input carries frames (a 4-byte big-endian length, then that many
/// bytes) and a zero-length frame commits; as-split --framed-sink writes this. --eof-completes:
/// end of input means the data is whole (for reading a finished file).
///
/// On any failure the multipart upload is aborted, so no object appears at the key, and as-s3put
/// exits non-zero with one line on stderr; on SIGINT or SIGTERM too (exit 130 or 143). Credentials come from the standard AWS chain
/// (environment, profile, ...).
#[derive(Parser, Debug)]
#[command(name = "as-s3put", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The destination, s3://BUCKET/KEY.
    pub url: String,

    #[command(flatten)]
    pub completion: crate::put_input::Completion,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,

    #[command(flatten)]
    pub parts: crate::cloud::s3::PartArgs,

    #[command(flatten)]
    pub report: crate::put_input::Report,

    /// Check the options (the URL, the ranges) and exit without reading or connecting: 0 when
    /// they are good, 2 with the reason when not.
    #[arg(long)]
    pub check_options: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    crate::cloud::s3::only_s3(&a.url, false)?;
    let a = crate::put::Args {
        url: a.url,
        completion: a.completion,
        delete: false,
        s3: a.s3,
        s3_parts: a.parts,
        cloud: Default::default(),
        report: a.report,
        check_options: a.check_options,
    };
    crate::put::run(a)
}
