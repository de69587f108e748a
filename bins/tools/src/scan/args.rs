//! The options of as-scan, as asbackup names them, and the checks asbackup makes of them.

use as_cli::Usage;
use clap::Parser;
use std::path::PathBuf;

/// Scan a namespace of an Aerospike cluster and write its records as a record stream.
///
/// Connects to the cluster through the seed hosts, reads the secondary-index and UDF definitions,
/// scans the chosen partitions of the namespace on their master nodes, and writes the framed
/// record stream (as-stream(5)) on standard output with every bin as the server's raw particle
/// bytes, ready for as-encode. Options use asbackup's names and letters.
///
/// Partitions are tracked as the official clients track them: a partition is done when its
/// node's scan ends (LAST) without reporting it unavailable; one reported unavailable, or whose
/// node fails mid-scan, is retried on its next copy after the last record received for it (a
/// server sends a partition's records in descending digest order and resumes below the digest),
/// after re-reading the partition map and looking for new peers, so every record appears exactly
/// once. The stream ends with its trailer only when the whole
/// scope was scanned; on any failure as-scan exits non-zero and consumers reject the truncated
/// stream. -vv shows what each node was asked and answered.
#[derive(Parser, Debug)]
#[command(name = "as-scan", version, max_term_width = 100, disable_help_flag = true,
          after_long_help = as_cli::exit::CLUSTER_EXIT_STATUS_HELP)]
pub struct Args {
    /// Print help.
    #[arg(short = 'Z', long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    #[command(flatten)]
    pub conn: crate::connect::ConnArgs,

    /// Socket timeout in milliseconds (0 = the total timeout).
    #[arg(long, default_value_t = 10000, allow_negative_numbers = true)]
    pub socket_timeout: u64,

    /// Total timeout of the backup in milliseconds (0 = none).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub total_timeout: u64,

    /// How often a failed partition scan is retried.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub max_retries: u32,

    /// Milliseconds to wait between retries.
    #[arg(
        long,
        alias = "retry-delay",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub sleep_between_retries: u64,

    /// The namespace to back up.
    #[arg(short = 'n', long)]
    pub namespace: String,

    /// Only these sets (comma-separated).
    #[arg(short = 's', long, value_delimiter = ',')]
    pub set: Vec<String>,

    /// Only these bins (comma-separated).
    #[arg(short = 'B', long, value_delimiter = ',')]
    pub bin_list: Vec<String>,

    /// Partition filters: begin[-count] (partitions 0-4095) or a base64 digest (the records
    /// after it in its partition), comma-separated.
    #[arg(short = 'X', long)]
    pub partition_list: Option<String>,

    /// Shard K of N of a backup spread over several hosts or jobs (1 <= K <= N): the K-th of N
    /// contiguous ranges of the 4096 partitions. Not with -X, -D or --node-list.
    #[arg(long, value_name = "K/N", value_parser = |s: &str| as_common::scope::Shard::parse(s))]
    pub shard: Option<as_common::scope::Shard>,

    /// The records after this base64 digest in its partition, and all later partitions.
    #[arg(short = 'D', long)]
    pub after_digest: Option<String>,

    /// Only records last updated at or after this time (YYYY-MM-DD_HH:MM:SS, YYYY-MM-DD or
    /// HH:MM:SS, local time).
    #[arg(short = 'a', long)]
    pub modified_after: Option<String>,

    /// Only records last updated before this time.
    #[arg(short = 'b', long)]
    pub modified_before: Option<String>,

    /// Only records that never expire.
    #[arg(long)]
    pub no_ttl_only: bool,

    /// A filter expression (base64 of the packed expression) applied to every record.
    #[arg(short = 'f', long)]
    pub filter_exp: Option<String>,

    /// Stop after about this many records (0 = all).
    #[arg(short = 'M', long, default_value_t = 0, allow_negative_numbers = true)]
    pub max_records: u64,

    /// Limit the scan to this many records per second (0 = no limit).
    #[arg(short = 'L', long, default_value_t = 0, allow_negative_numbers = true)]
    pub records_per_second: u32,

    /// Back up keys and metadata only, no bin data.
    #[arg(short = 'x', long)]
    pub no_bins: bool,

    /// Write only the header, index and UDF definitions, no records.
    #[arg(short = 'R', long)]
    pub no_records: bool,

    /// Leave out secondary-index definitions.
    #[arg(short = 'I', long)]
    pub no_indexes: bool,

    /// Leave out UDF modules.
    #[arg(short = 'u', long)]
    pub no_udfs: bool,

    /// Scan each partition on a copy held in one of these racks (ids 0 to 1000000,
    /// comma-separated) when there is one, else on its master.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub prefer_racks: Vec<u32>,

    /// Back up the partitions whose master is one of these nodes (addr:port, comma- or
    /// semicolon-separated); contiguous runs become partition filters.
    #[arg(short = 'l', long)]
    pub node_list: Option<String>,

    /// Number of partition groups scanned at the same time (1 to 100; default 1, or 16 with
    /// --node-list).
    #[arg(short = 'w', long, value_parser = clap::value_parser!(u32).range(1..=100), allow_negative_numbers = true)]
    pub parallel: Option<u32>,

    /// Progress and a summary on stderr (progress is also shown when stderr is a terminal);
    /// twice (-vv), also what is sent to and received from each node: scan requests, LAST,
    /// unavailable partitions, retries and resumes.
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Limit the record stream written to this many MiB per second (asbackup's --nice applies to
    /// the backup files; the stream is what the later stages turn into them).
    #[arg(long, value_name = "MIB_PER_SEC", value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    pub bandwidth: Option<u64>,

    /// Print the number of records the cluster holds in the namespace (or the sets), from the
    /// servers' object counts, and exit without scanning.
    #[arg(long)]
    pub count: bool,

    /// Append machine-readable progress (PROGRESS:<pct>, REMAINING:<eta>, each second) to this
    /// file or FIFO.
    #[arg(long)]
    pub machine: Option<PathBuf>,

    /// Check the options (types, ranges, combinations, as asbackup does) and exit without
    /// connecting: 0 when they are good, 2 with the reason when not.
    #[arg(long)]
    pub check_options: bool,

    /// Print the scope the options describe (JSON, as a manifest records it) and exit without
    /// connecting; for scripts (scripts/asbackup --catalog finds the backup to follow by it).
    #[arg(long)]
    pub print_scope: bool,

    /// When the scan ends, write its counts into this file, one `key=value` per line: indexes,
    /// udfs, records, retries and complete=true; when it fails, complete=false and output_closed (true
    /// when it failed only because its output was closed). For scripts; stderr is for people.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Write the scan's figures to this file in the Prometheus text format (node_exporter's
    /// textfile collector), every few seconds and at the end: records, bytes of the stream,
    /// duration, last success time, failures.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// The `tool` label of the metrics (a wrapper gives its own name).
    #[arg(long, value_name = "NAME", default_value = "as-scan", hide = true)]
    pub metrics_tool: String,

    /// The `destination` label of the metrics.
    #[arg(long, value_name = "KIND", default_value = "stdout", hide = true)]
    pub metrics_destination: String,

    /// Only the figures of the running scan: the wrapper that runs as-scan writes the end.
    #[arg(long, hide = true)]
    pub metrics_running_only: bool,

    /// Resume an interrupted backup from its state file (kept by as-split): partitions it
    /// records as complete are skipped, the others are scanned after their last backed-up
    /// digest. The scope options must be those of the interrupted backup.
    #[arg(short = 'c', long = "continue", value_name = "STATE")]
    pub resume: Option<PathBuf>,
}

impl Args {
    /// Progress and the summary: -v, or a log level of debug or more.
    pub fn verbose(&self) -> bool {
        self.verbose > 0 || tracing::enabled!(tracing::Level::DEBUG)
    }

    /// asbackup's rules for combining options (ranges are clap's).
    pub fn validate(&self) -> Result<(), Usage> {
        let a = self;
        let bad = |m: &str| Err(Usage(m.to_string()));
        if a.partition_list.is_some() && a.after_digest.is_some() {
            return bad("--partition-list and --after-digest cannot be used together");
        }
        if a.shard.is_some()
            && (a.partition_list.is_some() || a.after_digest.is_some() || a.node_list.is_some())
        {
            return bad(
                "--shard cannot be used with --partition-list, --after-digest or --node-list",
            );
        }
        if a.node_list.is_some() && (a.partition_list.is_some() || a.after_digest.is_some()) {
            return bad("--node-list cannot be used with --partition-list or --after-digest");
        }
        if a.filter_exp.is_some()
            && (a.set.len() > 1
                || a.modified_after.is_some()
                || a.modified_before.is_some()
                || a.no_ttl_only)
        {
            return bad("--filter-exp cannot be combined with several sets, --modified-after, --modified-before or --no-ttl-only");
        }
        a.conn.validate()?;
        for s in &a.set {
            if s.is_empty() || s.len() > 63 {
                return Err(Usage(format!("invalid set name {s:?} (1 to 63 bytes)")));
            }
        }
        if a.namespace.is_empty() || a.namespace.len() > 31 {
            return bad("invalid namespace (1 to 31 bytes)");
        }
        // An empty name would back up records without their bins.
        for b in &a.bin_list {
            if b.is_empty() || b.len() > 15 {
                return Err(Usage(format!(
                    "invalid bin name {b:?} in --bin-list (1 to 15 bytes)"
                )));
            }
        }
        Ok(())
    }
}
