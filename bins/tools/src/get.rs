//! `as-get` (and `as-s3get`, the same for s3:// URLs): stream an object of S3, Google Cloud
//! Storage or Azure Blob Storage to standard output, resuming with a ranged read where a
//! connection broke; or list the backup files under a prefix.

use crate::cloud::{read::read_to_end, retry, CloudArgs, Reader, Url};
use as_cli::summary::Summary;
use as_common::backup::{join, DirLayout};
use clap::Parser;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// Read a backup from S3, GCS or Azure: an object to standard output, or a directory's files.
///
/// Streams the object at URL (s3://BUCKET/KEY as as-s3get does, gs://BUCKET/KEY, az://CONTAINER/
/// BLOB or https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB) to standard output in constant
/// memory. When the connection breaks mid-object, the next read asks for the rest only (a range
/// from the first byte not yet written) and for the same version of the object (If-Match on its
/// ETag), so that the output is the object exactly, or as-get fails with one line: a replaced
/// object is never spliced. Failed reads are retried with backoff, --attempts times in a row at
/// most.
///
/// With --list, prints the URL of every object under the prefix whose name ends in .asb, one per
/// line, sorted (a directory backup), and their sizes in --summary.
#[derive(Parser, Debug)]
#[command(name = "as-get", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The object; with --list, a prefix SCHEME://BUCKET[/PREFIX].
    pub url: String,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,

    #[command(flatten)]
    pub cloud: CloudArgs,

    /// Check the options (the URL, the ranges) and exit without reading or connecting: 0 when
    /// they are good, 2 with the reason when not.
    #[arg(long)]
    pub check_options: bool,
}

/// What as-get and as-s3get are asked to do with the object or prefix.
#[derive(clap::Args, Debug, Clone)]
pub struct ReadArgs {
    /// List the .asb objects under the prefix instead of reading one.
    #[arg(long)]
    pub list: bool,

    /// With --list, the objects whose names end so instead (.manifest: a sharded backup's
    /// manifests).
    #[arg(long, default_value = ".asb", requires = "list")]
    pub suffix: String,

    /// With --list, every object that belongs to a backup instead: its files, its
    /// unfinished-backup marker and state, its shard manifests (what a new backup into the
    /// prefix would clear).
    #[arg(long, requires = "list", conflicts_with = "suffix")]
    pub backup: bool,

    /// With --backup, only the objects of the backup with this file prefix (PREFIX_*,
    /// PREFIX.*), as the shards of a backup share a prefix.
    #[arg(long, value_name = "PREFIX", requires = "backup")]
    pub prefix: Option<String>,

    /// Failed reads in a row before giving up.
    #[arg(long, default_value_t = retry::READ_ATTEMPTS, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub attempts: u32,

    /// When done, write `bytes=N` (the object's size; with --list, all objects' sizes) here.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Print how many bytes were read, and each resume, on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    run_as("as-get", a)
}

/// as-get under the name `tool` (as-s3get), which its messages carry.
pub fn run_as(tool: &str, a: Args) -> anyhow::Result<()> {
    let (url, account) =
        Url::parse(&a.url, a.read.list).map_err(|e| as_cli::Usage(format!("{e:#}")))?;
    if a.check_options {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bytes = rt.block_on(async {
        let reader = Reader {
            s3: a.s3,
            cloud: a.cloud,
        };
        let store = reader.open(&url, account.as_deref()).await?;
        let mut out = std::io::stdout().lock();
        if !a.read.list {
            let log = a.read.verbose.then_some(tool);
            return read_to_end(&*store, &url, a.read.attempts, log, &mut out).await;
        }
        let listed = store.list(&url.key).await?;
        let mut bytes = 0;
        if a.read.backup {
            // What belongs to a backup is common::backup's to say, for writers and readers.
            let entries = crate::backup::children(&url.key, listed);
            let sizes: HashMap<String, u64> =
                entries.iter().map(|e| (e.name.clone(), e.size)).collect();
            for name in DirLayout::of(entries).names(a.read.prefix.as_deref()) {
                writeln!(out, "{}", url.with_key(&join(&url.key, name)))?;
                bytes += sizes[name];
            }
        } else {
            for (k, size) in listed {
                if k.ends_with(&a.read.suffix) {
                    writeln!(out, "{}", url.with_key(&k))?;
                    bytes += size;
                }
            }
        }
        out.flush()?;
        Ok(bytes)
    })?;
    Summary::new()
        .set("bytes", bytes)
        .write(a.read.summary.as_deref())
}
