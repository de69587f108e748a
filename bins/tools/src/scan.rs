//! `as-scan`: scan a namespace of a cluster and write the record stream, raw particles.

use anyhow::{bail, Context};
use as_cli::io::{binary_stdout, CHUNK};
use as_cli::secret::secret_or_ask;
use as_cli::Usage;
use as_common::client::cluster::{parse_seeds, Cluster};
use as_common::client::conn::{AuthMode, Credentials, Settings};
use as_common::client::filter::{self, exp, PartFilter};
use as_common::client::scan::{ScanShared, ScanSpec};
use as_common::client::tls::{self, TlsOptions};
use as_common::client::{metadata, ClientError};
use as_common::state::BackupState;
use as_common::stream::{FrameBatch, Header, StreamWriter};
use clap::Parser;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
          after_long_help = SCAN_EXIT_HELP)]
pub struct Args {
    /// Print help.
    #[arg(short = 'Z', long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// Seed hosts: host[:tlsname][:port], IPv6 in brackets, comma-separated.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,

    /// Default port of the seed hosts.
    #[arg(
        short = 'p',
        long,
        default_value_t = 3000,
        allow_negative_numbers = true
    )]
    pub port: u16,

    /// User name, for clusters with security enabled.
    #[arg(short = 'U', long)]
    pub user: Option<String>,

    /// Password: the password itself, env:VAR, env-b64:VAR, b64:BASE64 or file:PATH. Without a
    /// value (-P alone) it is asked for on the terminal; it may also come from the environment
    /// variable AS_PASSWORD, which keeps it out of process listings.
    #[arg(short = 'P', long, num_args = 0..=1, default_missing_value = "", require_equals = true,
          env = "AS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Authentication mode: INTERNAL (a password hash), EXTERNAL (the password too, over TLS),
    /// EXTERNAL_INSECURE (the password without TLS), PKI (the TLS client certificate).
    #[arg(short = 'A', long, default_value = "INTERNAL", value_parser = ["INTERNAL", "EXTERNAL", "EXTERNAL_INSECURE", "PKI"], ignore_case = true)]
    pub auth: String,

    /// Connect with TLS.
    #[arg(long, alias = "tlsEnable")]
    pub tls_enable: bool,

    /// Default TLS name of the nodes (a seed's own host:tlsname:port wins).
    #[arg(long, alias = "tlsName")]
    pub tls_name: Option<String>,

    /// CA certificates (PEM) to verify the nodes with.
    #[arg(long, alias = "tlsCaFile")]
    pub tls_cafile: Option<PathBuf>,

    /// A directory of CA certificates (default /etc/ssl/certs when no CA file is given).
    #[arg(long, alias = "tlsCaPath")]
    pub tls_capath: Option<PathBuf>,

    /// TLS protocols, e.g. "TLSv1.2", "TLSv1.3", "all -TLSv1.2" (default: both).
    #[arg(long, alias = "tlsProtocols")]
    pub tls_protocols: Option<String>,

    /// Client certificate chain (PEM), for mutual TLS and --auth PKI.
    #[arg(long, alias = "tlsCertFile")]
    pub tls_certfile: Option<PathBuf>,

    /// Client private key (PEM, unencrypted).
    #[arg(long, alias = "tlsKeyFile")]
    pub tls_keyfile: Option<PathBuf>,

    /// Print the negotiated TLS protocol and cipher suite of the first connection on stderr.
    #[arg(long, alias = "tlsLogSessionInfo")]
    pub tls_log_session_info: bool,

    /// Password of an encrypted client key: env:VAR, env-b64:VAR, b64:BASE64, file:PATH, the
    /// password itself, or nothing to be asked on the terminal; also from the environment
    /// variable AS_TLS_KEYFILE_PASSWORD.
    #[arg(long, alias = "tlsKeyFilePassword", num_args = 0..=1, default_missing_value = "", require_equals = true,
          env = "AS_TLS_KEYFILE_PASSWORD", hide_env_values = true)]
    pub tls_keyfile_password: Option<String>,

    /// Allowed cipher suites, OpenSSL or IANA names separated by ':' (default: rustls's safe set).
    #[arg(long, alias = "tlsCipherSuite")]
    pub tls_cipher_suite: Option<String>,

    /// Check the nodes' certificates against the revocation lists in --tls-capath.
    #[arg(long, alias = "tlsCrlCheck")]
    pub tls_crl_check: bool,

    /// Check the whole certificate chain against the revocation lists in --tls-capath.
    #[arg(long, alias = "tlsCrlCheckAll")]
    pub tls_crl_check_all: bool,

    /// Not supported (deprecated in asbackup too).
    #[arg(long, alias = "tlsCertBlackList", hide = true)]
    pub tls_cert_blacklist: Option<String>,

    /// Use the nodes' alternate access addresses.
    #[arg(short = 'S', long)]
    pub services_alternate: bool,

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

    /// `debug` is -vv; `info` is -v.
    #[arg(long, value_parser = ["info", "debug"])]
    pub log_level: Option<String>,

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

    /// Resume an interrupted backup from its state file (kept by as-split): partitions it
    /// records as complete are skipped, the others are scanned after their last backed-up
    /// digest. The scope options must be those of the interrupted backup.
    #[arg(short = 'c', long = "continue", value_name = "STATE")]
    pub resume: Option<PathBuf>,
}

const SCAN_EXIT_HELP: &str = "Exit status: 0 on success, 1 on a runtime error, 2 on a usage \
error, 4 when no seed host answers, 5 when login fails, 6 when the namespace does not exist or \
the server refuses the scan, 7 when partitions could not be scanned within the retries. Errors \
are reported as one line on stderr.";

impl Args {
    /// Progress and the summary: -v, or any log level.
    fn verbose(&self) -> bool {
        self.verbose > 0 || self.log_level.is_some()
    }
}

fn validate(a: &Args) -> Result<(), Usage> {
    let bad = |m: &str| Err(Usage(m.to_string()));
    if a.partition_list.is_some() && a.after_digest.is_some() {
        return bad("--partition-list and --after-digest cannot be used together");
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
    let auth = a.auth.to_ascii_uppercase();
    if (auth == "EXTERNAL" || auth == "PKI") && !a.tls_enable {
        return Err(Usage(format!("--auth {auth} needs --tls-enable")));
    }
    if auth == "PKI" && (a.tls_certfile.is_none() || a.tls_keyfile.is_none()) {
        return bad("--auth PKI needs --tls-certfile and --tls-keyfile");
    }
    if a.tls_cert_blacklist.is_some() {
        return bad("--tls-cert-blacklist is not supported (it is deprecated in asbackup too): use --tls-crl-check");
    }
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

fn credentials(a: &Args) -> anyhow::Result<Option<Credentials>> {
    let mode = match a.auth.to_ascii_uppercase().as_str() {
        "PKI" => return Ok(Some(Credentials::pki())),
        "EXTERNAL" => AuthMode::External,
        "EXTERNAL_INSECURE" => AuthMode::ExternalInsecure,
        _ => AuthMode::Internal,
    };
    Ok(password(a)?.map(|p| Credentials::new(a.user.as_deref().unwrap_or_default(), &p, mode)))
}

fn password(a: &Args) -> anyhow::Result<Option<String>> {
    let Some(u) = &a.user else { return Ok(None) };
    secret_or_ask(
        a.password.as_deref().unwrap_or_default(),
        &format!("Password for {u}: "),
    )
    .map(Some)
}

fn scope(a: &Args, filters: &[PartFilter]) -> String {
    let mut s = format!("namespace={}", a.namespace);
    if !a.set.is_empty() {
        s += &format!(" sets={}", a.set.join(","));
    }
    if !a.bin_list.is_empty() {
        s += &format!(" bins={}", a.bin_list.join(","));
    }
    if !filters.is_empty() {
        let list: Vec<String> = filters
            .iter()
            .map(|f| match f {
                PartFilter::Range { begin, count } => format!("{begin}-{count}"),
                PartFilter::After(d) => base64_simd::STANDARD.encode_to_string(d),
            })
            .collect();
        s += &format!(" partitions={}", list.join(","));
    }
    for (flag, v) in [
        ("modified-after", &a.modified_after),
        ("modified-before", &a.modified_before),
    ] {
        if let Some(v) = v {
            s += &format!(" {flag}={v}");
        }
    }
    if a.no_ttl_only {
        s += " no-ttl-only";
    }
    if a.no_bins {
        s += " no-bins";
    }
    if a.max_records > 0 {
        s += &format!(" max-records={}", a.max_records);
    }
    s
}

/// Objects the cluster holds in the scope, for the progress percentage.
/// Objects in the scope: every node counts the copies it holds, so the sum is divided by the
/// replication factor (as asbackup does).
pub fn expected(cluster: &Cluster, ns: &str, sets: &[String]) -> u64 {
    let mut total = 0;
    let mut factor = 1;
    for i in 0..cluster.nodes.len() {
        let Ok(mut c) = cluster.connect(i) else {
            continue;
        };
        let stats = c.info1(&format!("namespace/{ns}")).unwrap_or_default();
        let stat = |k: &str| {
            as_common::wire::info::kv(&stats, ';')
                .iter()
                .find(|(x, _)| *x == k)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        factor = stat("effective_replication_factor")
            .or(stat("replication-factor"))
            .unwrap_or(factor)
            .max(1);
        if sets.is_empty() {
            total += stat("objects").unwrap_or(0);
        } else if let Ok(v) = c.info1(&format!("sets/{ns}")) {
            for item in v.split(';') {
                let f = as_common::wire::info::kv(item, ':');
                let get = |k: &str| f.iter().find(|(x, _)| *x == k).map(|(_, v)| *v);
                if get("set").is_some_and(|s| sets.iter().any(|w| w == s)) {
                    total += get("objects")
                        .and_then(|o| o.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
    }
    total / factor
}

pub fn run(a: Args) -> anyhow::Result<()> {
    validate(&a)?;
    let resumed = a.resume.as_deref().map(BackupState::load).transpose()?;
    let filters = match (&a.partition_list, &a.after_digest) {
        (Some(l), _) => filter::parse_partition_list(l).map_err(Usage)?,
        (_, Some(d)) => filter::after_digest(d).map_err(Usage)?,
        _ => Vec::new(),
    };
    let mut exps = Vec::new();
    if a.set.len() > 1 {
        exps.push(exp::set_in(&a.set));
    }
    if let Some(t) = &a.modified_after {
        exps.push(exp::modified_after(filter::parse_time(t).map_err(Usage)?));
    }
    if let Some(t) = &a.modified_before {
        exps.push(exp::modified_before(filter::parse_time(t).map_err(Usage)?));
    }
    if let (Some(x), Some(y)) = (&a.modified_after, &a.modified_before) {
        if filter::parse_time(x).ok() >= filter::parse_time(y).ok() {
            return Err(
                Usage("--modified-before must be later than --modified-after".into()).into(),
            );
        }
    }
    if a.no_ttl_only {
        exps.push(exp::no_ttl());
    }
    let filter_exp = match &a.filter_exp {
        Some(b64) => Some(
            base64_simd::STANDARD
                .decode_to_vec(b64.trim())
                .map_err(|_| Usage(format!("invalid --filter-exp {b64:?}: not base64")))?,
        ),
        None => exp::and(exps),
    };
    let seeds = parse_seeds(&a.host, a.port).map_err(Usage)?;
    if a.check_options {
        return Ok(());
    }
    let tls = if a.tls_enable {
        let o = TlsOptions {
            cafile: a.tls_cafile.clone(),
            capath: a.tls_capath.clone(),
            certfile: a.tls_certfile.clone(),
            keyfile: a.tls_keyfile.clone(),
            protocols: a.tls_protocols.clone(),
            keyfile_password: a
                .tls_keyfile_password
                .as_deref()
                .map(|p| secret_or_ask(p, "TLS key password: "))
                .transpose()?,
            cipher_suites: a.tls_cipher_suite.clone(),
            crl_check: match (a.tls_crl_check_all, a.tls_crl_check) {
                (true, _) => Some(tls::CrlCheck::Chain),
                (false, true) => Some(tls::CrlCheck::Leaf),
                _ => None,
            },
        };
        Some(tls::client_config(&o).map_err(Usage)?)
    } else {
        None
    };
    let socket_timeout = Duration::from_millis(if a.socket_timeout == 0 {
        a.total_timeout.max(10000)
    } else {
        a.socket_timeout
    });

    let settings = Settings {
        timeout: socket_timeout,
        creds: credentials(&a)?,
        tls,
        tls_name: a.tls_name.clone(),
        log_tls_session: a.tls_log_session_info,
    };
    let cluster = Cluster::discover(&seeds, &a.namespace, settings, a.services_alternate)
        .context("connecting to the cluster")?;
    let expression_flags: Vec<&str> = [
        (a.set.len() > 1, "several sets"),
        (a.modified_after.is_some(), "--modified-after"),
        (a.modified_before.is_some(), "--modified-before"),
        (a.no_ttl_only, "--no-ttl-only"),
        (a.filter_exp.is_some(), "--filter-exp"),
    ]
    .into_iter()
    .filter_map(|(on, f)| on.then_some(f))
    .collect();
    if !expression_flags.is_empty() && cluster.version() < (5, 2) {
        return Err(ClientError::TooOld {
            build: cluster.build.clone(),
            feature: expression_flags.join(", "),
        }
        .into());
    }
    let filters = match &a.node_list {
        Some(list) => node_filters(&cluster, list)?,
        None => filters,
    };
    let header = Header {
        namespace: Some(a.namespace.clone().into_bytes()),
        first_file: true,
        producer: format!("as-scan {}", as_common::VERSION),
        scope: scope(&a, &filters),
        append: false,
    };
    if a.count {
        println!("{}", expected(&cluster, &a.namespace, &a.set));
        return Ok(());
    }
    if let (Some(st), Some(path)) = (&resumed, &a.resume) {
        if st.scope != header.scope {
            return Err(Usage(format!(
                "{} is the state of another backup ({}); resume with the options of that backup",
                path.display(),
                st.scope
            ))
            .into());
        }
    }
    let out = BufWriter::with_capacity(CHUNK, binary_stdout("a record stream")?);
    let mut w = StreamWriter::new(out, &header)?;

    let (mut n_indexes, mut n_udfs) = (0, 0);
    if !a.no_indexes || !a.no_udfs {
        let mut c = cluster.any()?;
        if !a.no_indexes {
            let (list, skipped) = metadata::sindexes(&mut c, &a.namespace, &a.set)?;
            if skipped > 0 && a.verbose() {
                eprintln!("as-scan: skipped {skipped} index(es) with unwanted set(s)");
            }
            for s in &list {
                w.sindex(s)?;
            }
            n_indexes = list.len();
        }
        if !a.no_udfs {
            let list = metadata::udfs(&mut c)?;
            for u in &list {
                w.udf(u)?;
            }
            n_udfs = list.len();
        }
    }

    let parallel = a
        .parallel
        .unwrap_or(if a.node_list.is_some() { 16 } else { 1 });
    let started = Instant::now();
    let mut records = 0;
    if !a.no_records {
        let machine = match &a.machine {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(p)
                    .with_context(|| format!("cannot open {}", p.display()))?,
            ),
            None => None,
        };
        let expected = if a.verbose() || machine.is_some() || std::io::stderr().is_terminal() {
            Some(expected(&cluster, &a.namespace, &a.set))
        } else {
            None
        };
        let spec = ScanSpec {
            namespace: a.namespace.clone(),
            set: (a.set.len() == 1).then(|| a.set[0].clone()),
            bins: a.bin_list.clone(),
            no_bins: a.no_bins,
            filter_exp,
            max_records: match &resumed {
                Some(st) if a.max_records > 0 => a.max_records.saturating_sub(st.records).max(1),
                _ => a.max_records,
            },
            records_per_second: if a.records_per_second == 0 {
                0
            } else {
                (a.records_per_second / parallel).max(1)
            },
            socket_timeout,
            total_timeout: (a.total_timeout > 0).then(|| Duration::from_millis(a.total_timeout)),
            max_retries: a.max_retries,
            sleep_between_retries: Duration::from_millis(a.sleep_between_retries),
            prefer_racks: a.prefer_racks.clone(),
            debug: a.verbose >= 2 || a.log_level.as_deref() == Some("debug"),
        };
        let shared = Arc::new(ScanShared::new(cluster, spec));
        let mut jobs = filter::jobs(&filters, parallel as usize);
        if let Some(st) = &resumed {
            jobs = st.narrow(jobs);
            // --max-records counts the records of the whole backup.
            if a.max_records > 0 && st.records >= a.max_records {
                jobs.clear();
            }
        }
        let human = std::io::stderr().is_terminal() || a.verbose();
        let mut progress = Progress::new(human, expected, machine);
        records = scan_all(
            &shared,
            jobs,
            parallel as usize,
            &mut w,
            &mut progress,
            a.bandwidth,
        )?;
    }
    w.finish()?;
    if a.verbose() || std::io::stderr().is_terminal() {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "as-scan: {records} record(s), {n_indexes} secondary index(es), {n_udfs} UDF file(s) in {secs:.1} s ({:.0} rec/s)",
            records as f64 / secs.max(0.001)
        );
    }
    Ok(())
}

/// Progress as asbackup shows it: on stderr every 10 s (`N% complete (~KiB/s, ~rec/s, ~B/rec)`
/// and `~ETA remaining`) when asked for, and `PROGRESS:`/`REMAINING:` lines every second into the
/// --machine file. Bytes are those of the record stream.
struct Progress {
    human: bool,
    expected: Option<u64>,
    machine: Option<std::fs::File>,
    started: Instant,
    last_human: Instant,
    last_machine: Instant,
}

/// asbackup's duration format: `1d2h3m4s` without leading zero units, `>100d` when huge.
pub fn eta(secs: u64) -> String {
    if secs > 100 * 86400 {
        return ">100d".into();
    }
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (v, u) in [(d, 'd'), (h, 'h'), (m, 'm')] {
        if v > 0 || !out.is_empty() {
            out += &format!("{v}{u}");
        }
    }
    out + &format!("{s}s")
}

impl Progress {
    fn new(human: bool, expected: Option<u64>, machine: Option<std::fs::File>) -> Self {
        let now = Instant::now();
        Progress {
            human,
            expected,
            machine,
            started: now,
            last_human: now,
            last_machine: now,
        }
    }

    fn update(&mut self, records: u64, bytes: u64) {
        let human = self.human && self.last_human.elapsed() >= Duration::from_secs(10);
        let machine =
            self.machine.is_some() && self.last_machine.elapsed() >= Duration::from_secs(1);
        if !human && !machine {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = records as f64 / secs;
        let total = self.expected.unwrap_or(0);
        let pct = (records * 100).checked_div(total).unwrap_or(0).min(100);
        let left = if rate > 0.0 && total > records {
            ((total - records) as f64 / rate) as u64
        } else {
            0
        };
        if human {
            self.last_human = Instant::now();
            eprintln!(
                "{pct}% complete (~{:.0} KiB/s, ~{rate:.0} rec/s, ~{} B/rec)",
                bytes as f64 / 1024.0 / secs,
                bytes.checked_div(records).unwrap_or(0)
            );
            eprintln!("~{} remaining", eta(left));
        }
        if machine {
            self.last_machine = Instant::now();
            if let Some(f) = &mut self.machine {
                let _ = writeln!(f, "PROGRESS:{pct}\nREMAINING:{}", eta(left));
            }
        }
    }
}

/// Runs the jobs on `parallel` workers and writes their frames; returns the record count.
fn scan_all<W: std::io::Write>(
    shared: &Arc<ScanShared>,
    jobs: Vec<Vec<as_common::client::filter::Work>>,
    parallel: usize,
    w: &mut StreamWriter<W>,
    progress: &mut Progress,
    bandwidth: Option<u64>,
) -> anyhow::Result<u64> {
    let (job_tx, job_rx) = crossbeam_channel::unbounded();
    let workers = parallel.min(jobs.len()).max(1);
    for j in jobs {
        job_tx.send(j).expect("receiver alive");
    }
    drop(job_tx);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<FrameBatch>(4 * workers);
    let (err_tx, err_rx) = crossbeam_channel::unbounded::<ClientError>();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (shared, job_rx, out_tx, err_tx) = (
            shared.clone(),
            job_rx.clone(),
            out_tx.clone(),
            err_tx.clone(),
        );
        handles.push(std::thread::spawn(move || {
            for job in job_rx.iter() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let mut sink = |b: FrameBatch| out_tx.send(b).is_ok();
                if let Err(e) = shared.scan_job(&job, &mut sink) {
                    shared.stop.store(true, Ordering::SeqCst);
                    let _ = err_tx.send(e);
                    break;
                }
            }
        }));
    }
    drop(out_tx);
    drop(err_tx);
    let mut written = 0u64;
    let mut bytes = 0u64;
    let mut write_error = None;
    for batch in out_rx.iter() {
        written += batch.counts.records;
        bytes += batch.len() as u64;
        if let Some(limit) = bandwidth {
            // Sleep until the bytes written so far fit the allowance.
            let due = Duration::from_secs_f64(bytes as f64 / (limit << 20) as f64);
            if let Some(wait) = due.checked_sub(progress.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if let Err(e) = w.batch(&batch) {
            // Stop the workers; the error is reported below.
            shared.stop.store(true, Ordering::SeqCst);
            write_error = Some(e);
            break;
        }
        progress.update(written, bytes);
    }
    drop(out_rx);
    for h in handles {
        let _ = h.join();
    }
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context("cannot write the output"));
    }
    if let Ok(e) = err_rx.try_recv() {
        return Err(e.into());
    }
    if shared.stop.load(Ordering::SeqCst) && shared.spec.max_records == 0 {
        bail!("scan stopped before it finished");
    }
    Ok(written)
}

/// The partitions mastered by the listed nodes, as filters of contiguous runs.
fn node_filters(cluster: &Cluster, list: &str) -> anyhow::Result<Vec<PartFilter>> {
    use std::net::ToSocketAddrs;
    let mut wanted = Vec::new();
    for seed in parse_seeds(list, 3000).map_err(Usage)? {
        let addrs: Vec<_> = (seed.host.as_str(), seed.port)
            .to_socket_addrs()
            .map_err(|e| {
                Usage(format!(
                    "cannot resolve node {}:{}: {e}",
                    seed.host, seed.port
                ))
            })?
            .collect();
        match cluster.nodes.iter().position(|n| addrs.contains(&n.addr)) {
            Some(i) => wanted.push(i),
            None => {
                return Err(Usage(format!(
                    "{}:{} is not a node of the cluster",
                    seed.host, seed.port
                ))
                .into())
            }
        }
    }
    let mut filters: Vec<PartFilter> = Vec::new();
    for (p, owner) in cluster.owners.iter().enumerate() {
        if !owner.is_some_and(|o| wanted.contains(&o)) {
            continue;
        }
        match filters.last_mut() {
            Some(PartFilter::Range { begin, count }) if (*begin + *count) as usize == p => {
                *count += 1
            }
            _ => filters.push(PartFilter::Range {
                begin: p as u16,
                count: 1,
            }),
        }
    }
    if filters.is_empty() {
        bail!("the listed nodes master no partition of the namespace");
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    #[test]
    fn eta_like_asbackup() {
        assert_eq!(super::eta(0), "0s");
        assert_eq!(super::eta(61), "1m1s");
        assert_eq!(super::eta(3600), "1h0m0s");
        assert_eq!(super::eta(93784), "1d2h3m4s");
        assert_eq!(super::eta(101 * 86400), ">100d");
    }
}
