//! The options of as-restore, as asrestore names them (checked and resolved in [`super::config`]).

use clap::Parser;
use std::path::PathBuf;

/// Restore a backup, or write a record stream, into an Aerospike cluster, as asrestore does.
///
/// Reads a backup (-i FILE|URL|-, -d DIR|URL, --directory-list), its files decoded --parallel at
/// once, the one with the indexes and UDFs first and by itself; a directory that holds an
/// unfinished backup (PREFIX.asb.incomplete, PREFIX.asb.state) or an incomplete set of shards is
/// refused and nothing is written, unless --allow-incomplete. Without a backup option, reads the
/// framed record stream (as-stream(5)) that as-decode makes of a backup, or that as-scan writes,
/// on standard input. Either is restored: UDF modules first, secondary indexes (before the records, or after them
/// with --indexes-last), then every record, with asrestore's policies: a record is written only
/// over an older generation of it (-g turns that off); bins are merged into an existing record
/// (-r replaces it, -u writes only records that do not exist); the key is sent when the backup has
/// it; the TTL is what was left of the backed-up expiry (plus --extra-ttl), and records that have
/// expired are skipped and counted.
///
/// Records go in batch writes to the node that masters their partition, at most
/// --max-async-batches batches of --batch-size records in flight; or, with --disable-batch-writes
/// or a server without batch writes, as single writes pipelined on each connection. Timeouts,
/// overload and lost connections are retried on the partition's current master with asrestore's
/// backoff; a record the server refuses (too big, bad bin name or type, forbidden, key mismatch)
/// stops the restore unless --ignore-record-error, and so does a bin value it refuses (a
/// parameter error, or a server error for a batch row), with every outcome of the batch counted.
/// SIGINT or SIGTERM stops reading: the writes in
/// flight finish, the counts are printed and the exit status is 128 + the signal.
///
/// The counts are asrestore's: records read, expired, skipped (no bins left, or a set not asked
/// for), ignored (record errors under -K), inserted, existed (under -u) and fresher (the cluster's
/// generation was as new), and the retries.
#[derive(Parser, Debug)]
#[command(name = "as-restore", version, max_term_width = 100, disable_help_flag = true,
          after_long_help = as_cli::exit::CLUSTER_EXIT_STATUS_HELP)]
pub struct Args {
    /// Print help.
    #[arg(short = 'Z', long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    #[command(flatten)]
    pub conn: crate::connect::ConnArgs,

    /// The namespace to restore into (NS), or SRC,DST: the backup must be of SRC and is restored
    /// into DST. Without it, records go back into the namespace they were backed up from.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,

    /// -s, and --keep-null-set: which sets are restored, and which set an index is on.
    #[command(flatten)]
    pub set_list: SetList,

    /// Only these bins (comma-separated); records left with none are skipped.
    #[arg(short = 'B', long, value_delimiter = ',')]
    pub bin_list: Vec<String>,

    /// Write only records that do not exist (existing ones are counted as existed).
    #[arg(short = 'u', long)]
    pub unique: bool,

    /// Replace existing records instead of merging bins into them.
    #[arg(short = 'r', long)]
    pub replace: bool,

    /// Write over existing records whatever their generation.
    #[arg(short = 'g', long)]
    pub no_generation: bool,

    /// Count records the server refuses (too big, bad bin name or type, forbidden, key
    /// mismatch) as ignored and go on, instead of stopping.
    #[arg(short = 'K', long)]
    pub ignore_record_error: bool,

    /// Seconds added to every record's TTL (records that never expire stay so).
    #[arg(short = 'l', long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub extra_ttl: u32,

    /// Throttle: BANDWIDTH,TPS, in MiB/s of the stream read and records per second.
    #[arg(short = 'N', long, value_name = "MIB,TPS")]
    pub nice: Option<String>,

    /// Restore no records (indexes and UDFs only).
    #[arg(short = 'R', long)]
    pub no_records: bool,

    /// Restore only the records this inventory lists (as-catalog inventory: the records that
    /// existed when it was taken); the others are skipped and counted as absent (the restore
    /// to a point in time of scripts/asrestore --catalog).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<std::path::PathBuf>,

    /// Skip the records these inventories list (repeatable), counted as superseded: a chain
    /// restored newest first gives each backup's run the digests the newer ones read.
    #[arg(long, value_name = "FILE")]
    pub exclude: Vec<std::path::PathBuf>,

    /// Write the digests of every record read (written, existing or expired) to this file (an
    /// inventory), for --exclude of the older backups of a chain: each record is then sent
    /// once, from the newest backup that holds it, and one whose newest version has expired is
    /// not created from an older backup's copy.
    #[arg(long, value_name = "FILE")]
    pub seen_out: Option<std::path::PathBuf>,

    /// After the restore, delete the records of the backup's scope (its namespace, sets and
    /// partitions, on the target) that the inventory does not hold: a restore to a point in time
    /// over a namespace that holds records then leaves it as it was at that point. Deletes
    /// records: off by default.
    #[arg(long, requires = "inventory")]
    pub delete_absent: bool,

    /// Restore no secondary indexes.
    #[arg(short = 'I', long)]
    pub no_indexes: bool,

    /// Create the secondary indexes after the records (faster than maintaining them).
    #[arg(short = 'L', long)]
    pub indexes_last: bool,

    /// Restore no UDF modules.
    #[arg(short = 'F', long)]
    pub no_udfs: bool,

    /// Wait until the indexes are built and the UDF modules are on every node.
    #[arg(short = 'w', long)]
    pub wait: bool,

    /// Timeout of info commands (index, UDF) in milliseconds.
    #[arg(short = 'T', long, default_value_t = 10000)]
    pub timeout: u64,

    /// Socket timeout of the writes in milliseconds (0 = the total timeout, or 10000).
    #[arg(long, default_value_t = 10000)]
    pub socket_timeout: u64,

    /// Total timeout of a write in milliseconds, retries included (0 = --timeout).
    #[arg(long, default_value_t = 0)]
    pub total_timeout: u64,

    /// How often a failed write is retried.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,

    /// Backoff of the retries in microseconds: the first retry is at once, the n-th after
    /// SCALE * 2^(n-2) microseconds.
    #[arg(long, default_value_t = 150000)]
    pub retry_scale_factor: u64,

    /// Deprecated in asrestore, without effect: use --retry-scale-factor.
    #[arg(long, alias = "sleep-between-retries", hide = true)]
    pub retry_delay: Option<u64>,

    /// Write each record by itself instead of in batches (needed for servers before 6.0).
    #[arg(long)]
    pub disable_batch_writes: bool,

    /// Most batches in flight at once, over all nodes.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_async_batches: u32,

    /// Records per batch (default 128; with --disable-batch-writes, records per group of
    /// pipelined single writes, default 16).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub batch_size: Option<u32>,

    /// Accepted for asrestore's scripts; the writes need no event loops here.
    #[arg(long, hide = true)]
    pub event_loops: Option<u32>,

    /// Progress each 10 seconds and the counts on stderr (the counts are printed anyway).
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Append asrestore's machine-readable lines to this file: PROGRESS and REMAINING each
    /// second while a backup of known size is restored (from its bytes restored so far), and
    /// the SUMMARY line when done.
    #[arg(short = 'm', long)]
    pub machine: Option<PathBuf>,

    /// When the restore ends, write its counts into this file, one `key=value` per line, and
    /// complete=true or false. For scripts; stderr is for people.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Write the restore's figures to this file in the Prometheus text format (node_exporter's
    /// textfile collector), every few seconds and at the end: records, bytes, files, retries,
    /// duration, last success time, failures.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// Check the options and exit without connecting: 0 when they are good, 2 with the reason.
    #[arg(long)]
    pub check_options: bool,

    /// The backup to restore (-d, -i, --directory-list, and how its files are compressed and
    /// encrypted). Without one, a record stream is read.
    #[command(flatten)]
    pub backup: crate::backup::BackupArgs,

    /// Backup files decoded at once (the first file, with the indexes and UDFs, by itself
    /// first).
    #[arg(short = 't', long, alias = "threads", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallel: u32,

    /// Parse the whole backup and report its counts; restore nothing, connect to nothing.
    #[arg(long = "validate")]
    pub validate_only: bool,

    /// Check every file's size and digests against the backup's manifest before writing
    /// anything (as-verify --quick); without it each file is checked as it is read, and a
    /// mismatch fails the restore at that file's end, after its records were written.
    #[arg(long)]
    pub verify_first: bool,

    /// Print the final counts as asrestore does, without the tool's name (scripts/asrestore).
    #[arg(long, hide = true)]
    pub asrestore_lines: bool,

    /// The record stream to read, when no backup is given; standard input when absent or `-`.
    #[arg(conflicts_with_all = ["directory", "input_file", "directory_list"])]
    pub input: Option<PathBuf>,
}

/// `-s` and `--keep-null-set`, together because both decide which set a backup's index is on
/// (the -s filter reads the backup's set name before --keep-null-set does). It reads as the list
/// of sets (`Deref`), as `-s` always has.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SetList {
    /// Only records of these sets (comma-separated); indexes of other sets are skipped too (an
    /// index on the set `null` is kept only when `null` is listed, an index of no set never).
    #[arg(
        short = 's',
        long = "set-list",
        id = "set_list",
        value_name = "SET_LIST",
        value_delimiter = ','
    )]
    pub sets: Vec<String>,

    /// Create an index the backup puts on the set `null` on a set of that name, as asrestore
    /// does (it then indexes no record of another set). Without it, such an index is created
    /// without a set: the server lists an index of no set as set=null, and asbackup writes the
    /// word as the index's set.
    #[arg(long)]
    pub keep_null_set: bool,
}

impl std::ops::Deref for SetList {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.sets
    }
}

impl<'a> IntoIterator for &'a SetList {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.sets.iter()
    }
}

impl Args {
    pub fn batch_size(&self, batch_writes: bool) -> usize {
        self.batch_size
            .unwrap_or(if batch_writes { 128 } else { 16 }) as usize
    }
}
