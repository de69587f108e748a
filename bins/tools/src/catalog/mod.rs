//! `as-catalog`: the backups of a catalog over time (see `as_common::catalog`): list them,
//! check the newest is fresh, prune by retention rules, verify, tell two apart; and the steps
//! scripts/asbackup and scripts/asrestore take (begin a backup, the chain to a time, an
//! inventory from a record stream).

mod place;
mod plan;
mod prune;
mod show;

use as_common::catalog::Catalog;
use clap::{Parser, Subcommand};

/// The backups of a catalog: list, latest, prune, verify, diff.
///
/// A catalog is a directory or cloud prefix (s3://, gs://, az://) holding backups in
/// sub-directories named by their start time (UTC, 20261206T162727Z), full or incremental, as
/// `scripts/asbackup --catalog` takes them; `scripts/asrestore --catalog [--until TIME]`
/// restores the chain that reaches a time.
#[derive(Parser, Debug)]
#[command(
    name = "as-catalog",
    version,
    max_term_width = 100,
    after_long_help = "Exit status: 0 on success, 1 on a runtime error, 2 on a usage error, 3 \
when a backup does not verify, a chain cannot be restored, or (latest) there is no complete \
backup young enough. Errors are one line on stderr; listings and plans go to standard output."
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The catalog, and how to reach its cloud.
#[derive(clap::Args, Debug, Clone)]
pub struct At {
    /// The catalog: a directory, or a cloud prefix (s3://BUCKET/PREFIX, gs://..., az://...).
    #[arg(value_name = "CATALOG")]
    pub catalog: String,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,

    #[command(flatten)]
    pub cloud: crate::cloud::CloudArgs,
}

impl At {
    pub fn reader(&self) -> crate::cloud::Reader {
        crate::cloud::Reader {
            s3: self.s3.clone(),
            cloud: self.cloud.clone(),
        }
    }

    /// The catalog's root, without a trailing `/`.
    pub fn root(&self) -> &str {
        match self.catalog.trim_end_matches('/') {
            "" => "/",
            r => r,
        }
    }

    /// Reads the catalog through the storage its URL names.
    pub fn open(&self) -> anyhow::Result<Catalog> {
        let stores = crate::backup::Stores::new(self.reader())?;
        Ok(Catalog::read(self.root(), &stores)?)
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// One line per backup, oldest first: start, kind, parent, records, bytes, duration,
    /// complete or not (and why), verified or not.
    List {
        #[command(flatten)]
        at: At,
        /// One JSON object per backup, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Print the newest complete backup's path; with --max-age, exit 3 (with a line on
    /// stderr) when it started longer ago than that, or there is none: a freshness check for
    /// monitoring.
    Latest {
        #[command(flatten)]
        at: At,
        /// How old the newest complete backup may be (26h, 90m, 7d).
        #[arg(long, value_name = "AGE", value_parser = duration)]
        max_age: Option<std::time::Duration>,
        #[arg(long)]
        json: bool,
    },
    /// Remove the backups no retention rule keeps (restic's `forget` rules over the complete
    /// backups' start times, in UTC), never one that a kept incremental needs; incomplete
    /// backups only with --prune-incomplete, and only once they cannot be running.
    Prune(prune::PruneArgs),
    /// Remove one backup (its objects, the mark that it is being removed first); refused when
    /// another backup follows it, unless --force.
    Remove {
        #[command(flatten)]
        at: At,
        /// The backup's name.
        name: String,
        /// Remove it even when incrementals follow it (they can no longer be restored).
        #[arg(long)]
        force: bool,
    },
    /// Verify backups against their manifests (as-verify --strict of each): every backup, one
    /// (--backup), or the chain a restore to --until applies. Each verified backup gets a
    /// `verified.json`, which `list` shows.
    Verify(plan::VerifyArgs),
    /// What changed between two backups that have inventories: records inserted, updated
    /// (another generation) and deleted (or expired).
    Diff {
        #[command(flatten)]
        at: At,
        /// The older backup (its name).
        from: String,
        /// The newer backup.
        to: String,
        /// Also one line per record: `inserted|updated|deleted DIGEST` (base64).
        #[arg(long)]
        list: bool,
    },
    /// (For scripts/asbackup.) Decide what a new backup is, write its plan into the catalog
    /// and print it, one key=value a line: name, path, kind, parent, after, before, inventory.
    Begin(plan::BeginArgs),
    /// (For scripts/asrestore.) Print the backups a restore to --until applies, oldest
    /// first, one `backup NAME KIND PATH` line each, then `inventory yes` or `inventory no`
    /// (whether the last has one); refuses (exit 3) a chain with a link missing, incomplete or
    /// damaged.
    Chain {
        #[command(flatten)]
        at: At,
        /// The time to restore to (default: the newest backup): a backup's name, RFC 3339,
        /// or YYYY-MM-DD_HH:MM:SS (local time).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Write the last backup's inventory here (its shards' together, each checked
        /// against its manifest), when it has one.
        #[arg(long, value_name = "FILE")]
        inventory_out: Option<std::path::PathBuf>,
    },
    /// Read a record stream (as-scan --no-bins) on standard input and write its inventory:
    /// every record's digest and generation, sorted, zstd-compressed.
    Inventory {
        /// Where to write it (standard output when absent).
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
}

/// A duration as people write one: 26h, 90m, 7d, 1h30m.
pub fn duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.cmd {
        Cmd::List { at, json } => show::list(&at.open()?, json),
        Cmd::Latest { at, max_age, json } => show::latest(&at.open()?, max_age, json),
        Cmd::Prune(p) => prune::run(&p),
        Cmd::Remove { at, name, force } => prune::remove_one(&at, &name, force),
        Cmd::Verify(v) => plan::verify(&v),
        Cmd::Diff { at, from, to, list } => show::diff(&at, &from, &to, list),
        Cmd::Begin(b) => plan::begin(&b),
        Cmd::Chain {
            at,
            until,
            inventory_out,
        } => plan::chain(&at, until.as_deref(), inventory_out.as_deref()),
        Cmd::Inventory { output } => plan::inventory(output.as_deref()),
    }
}
