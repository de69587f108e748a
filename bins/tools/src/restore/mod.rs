//! `as-restore`: write a record stream into a cluster, as asrestore restores a backup.
//!
//! [`args`] holds the options, [`metadata`] restores indexes and UDF modules, [`writer`] the
//! records, [`counts`] counts and reports; `run` below is the order of things: the stream's
//! UDFs and indexes as they come (indexes after the records with -L), every record through the
//! writer, then --wait.

mod args;
mod counts;
mod metadata;
mod writer;

pub use args::Args;
pub use writer::next_delay;

use anyhow::{bail, Context};
use as_cli::io::{buffered, open_input_interruptible};
use as_cli::{signals, Usage};
use as_common::client::cluster::Cluster;
use as_common::client::write::{
    encode_row, restore_ttl, single_write_request, Exists, Policy, Row,
};
use as_common::record::{Record, SIndex};
use as_common::stream::{Frame, StreamReader};
use counts::Counts;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use writer::{Item, Settings, Shared, Writer};

/// 2010-01-01T00:00:00Z, the server's epoch for expiries.
const CITRUSLEAF_EPOCH: u64 = 1_262_304_000;

pub fn run(a: Args) -> anyhow::Result<()> {
    signals::install();
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let result = restore(&a, &counts);
    // A usage error is one line: nothing was restored to count.
    let usage = matches!(&result, Err(e) if as_cli::Exit::of(e) == as_cli::Exit::Usage);
    if a.check_options || usage {
        return result;
    }
    let ms = started.elapsed().as_millis() as u64;
    let rate = (
        counts.records.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed),
        ms,
    );
    for line in counts.lines(rate) {
        eprintln!("as-restore: {line}");
    }
    if let Some(m) = &a.machine {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m)
        {
            let _ = writeln!(f, "{}", counts.machine_summary());
        }
    }
    counts.summary(result.is_ok()).write(a.summary.as_deref())?;
    result
}

fn now_cl() -> u32 {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    unix.saturating_sub(CITRUSLEAF_EPOCH) as u32
}

fn restore(a: &Args, counts: &Arc<Counts>) -> anyhow::Result<()> {
    a.validate()?;
    let nice = a.nice.as_deref().map(args::parse_nice).transpose()?;
    if a.check_options {
        return Ok(());
    }
    let input = open_input_interruptible(a.input.as_deref())?;
    let mut reader = StreamReader::new(buffered(input)).context("reading the record stream")?;
    let (src, dst) = a.namespaces();
    let stream_ns = reader
        .header()
        .namespace
        .as_deref()
        .map(|n| String::from_utf8_lossy(n).into_owned());
    if let (Some(src), Some(ns)) = (src, &stream_ns) {
        if src != ns {
            return Err(Usage(format!(
                "the backup is of namespace {ns:?}, not {src:?} (-n {src},DST)"
            ))
            .into());
        }
    }
    let Some(ns) = dst.map(str::to_string).or(stream_ns) else {
        return Err(Usage("the stream names no namespace: give -n NAMESPACE".into()).into());
    };
    let socket_timeout = Duration::from_millis(match (a.socket_timeout, a.total_timeout) {
        (0, 0) => 10000,
        (0, t) => t,
        (s, _) => s,
    });
    let cluster = Cluster::discover(
        &a.conn.seeds()?,
        &ns,
        a.conn.settings(socket_timeout)?,
        a.conn.services_alternate,
    )
    .context("connecting to the cluster")?;
    let batch = !a.disable_batch_writes && batch_writes(&cluster)?;
    if !a.disable_batch_writes && !batch {
        eprintln!("as-restore: the server takes no batch writes: writing records one by one");
    }
    let policy = Policy {
        exists: match (a.unique, a.replace) {
            (true, _) => Exists::CreateOnly,
            (_, true) => Exists::Replace,
            _ => Exists::Update,
        },
        generation_gt: !a.no_generation,
    };
    let settings = Settings {
        batch,
        timeout_ms: socket_timeout.as_millis() as u32,
        max_retries: a.max_retries,
        retry_scale_us: a.retry_scale_factor,
        ignore_record_error: a.ignore_record_error,
        namespace: ns.clone(),
    };
    let shared = Arc::new(Shared::new(cluster, counts.clone(), settings));
    let mut writer = Writer::new(
        shared.clone(),
        a.max_async_batches as usize,
        a.batch_size(batch),
    );
    let progress = progress(a, counts.clone());
    let mut later: Vec<SIndex> = Vec::new();
    let mut udfs: Vec<Vec<u8>> = Vec::new();
    let (started, now) = (Instant::now(), now_cl());
    let mut stopped: Option<anyhow::Error> = None;
    loop {
        if let Some(i) = signals::received() {
            stopped = Some(i.into());
            break;
        }
        if shared.failed() {
            break;
        }
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                stopped = Some(anyhow::Error::new(e).context("reading the record stream"));
                break;
            }
        };
        match frame {
            Frame::Udf(u) if !a.no_udfs => {
                metadata::restore_udf(&shared.cluster.read().unwrap(), &u)?;
                Counts::add(&counts.udfs, 1);
                udfs.push(u.name.to_vec());
            }
            Frame::SIndex(s) if !a.no_indexes => {
                Counts::add(&counts.indexes, 1);
                if a.indexes_last {
                    later.push(s);
                } else {
                    let c = shared.cluster.read().unwrap();
                    metadata::restore_index(&c, &s, &ns, &a.set_list, counts)?;
                    later.push(s);
                }
            }
            Frame::Record(_) if a.no_records => break,
            Frame::Record(r) => {
                Counts::add(&counts.records, 1);
                let Some(item) = prepare(a, &r, ns.as_bytes(), now, &policy, batch, counts) else {
                    continue;
                };
                Counts::add(&counts.bytes, item.bytes.len() as u64);
                writer.put(item);
                if let Some((bw, tps)) = nice {
                    throttle(started, counts, bw, tps);
                }
            }
            _ => {}
        }
    }
    // Interrupted: what was read but not sent is not written; what is in flight finishes.
    let written = writer.finish(stopped.is_none());
    progress.store(true, Ordering::SeqCst);
    if let Some(e) = stopped {
        written?;
        return Err(e);
    }
    written?;
    let cluster = shared.cluster.read().unwrap();
    if a.indexes_last {
        for s in &later {
            metadata::restore_index(&cluster, s, &ns, &a.set_list, counts)?;
        }
    }
    let matched = counts.indexes_matched.load(Ordering::Relaxed);
    if matched > 0 {
        eprintln!("as-restore: skipped {matched} matched index(es)");
    }
    let skipped = counts.indexes_skipped.load(Ordering::Relaxed);
    if skipped > 0 {
        eprintln!("as-restore: skipped {skipped} index(es) with unwanted set(s)");
    }
    if a.wait {
        for s in &later {
            metadata::wait_index(&cluster, s, &ns)?;
        }
        for u in &udfs {
            metadata::wait_udf(&cluster, u)?;
        }
    }
    let settled = counts.settled();
    let read = counts.records.load(Ordering::Relaxed);
    if settled != read {
        bail!("{} of {read} records have no outcome", read - settled);
    }
    Ok(())
}

/// Whether the cluster takes batch writes, as asrestore decides: server 6.0 or later, with
/// batch-index threads (`build`, `get-config:context=service`, FACT 14).
fn batch_writes(cluster: &Cluster) -> anyhow::Result<bool> {
    if cluster.version() < (6, 0) {
        return Ok(false);
    }
    let mut c = cluster.any()?;
    let config = c.info1("get-config:context=service")?;
    let threads = config
        .split(';')
        .find_map(|kv| kv.strip_prefix("batch-index-threads="))
        .and_then(|v| v.parse::<u32>().ok());
    Ok(threads.is_some_and(|t| t > 0))
}

/// The write for a record, or `None` when it is not to be written (counted as expired or
/// skipped).
fn prepare(
    a: &Args,
    r: &Record,
    ns: &[u8],
    now: u32,
    policy: &Policy,
    batch: bool,
    counts: &Counts,
) -> Option<Item> {
    let Some(ttl) = restore_ttl(r.expiry, now, i64::from(a.extra_ttl)) else {
        Counts::add(&counts.expired, 1);
        return None;
    };
    let wanted_set = a.set_list.is_empty()
        || r.set
            .as_deref()
            .is_some_and(|s| a.set_list.iter().any(|w| w.as_bytes() == s));
    let filtered;
    let record = if a.bin_list.is_empty() {
        r
    } else {
        filtered = Record {
            bins: r
                .bins
                .iter()
                .filter(|b| a.bin_list.iter().any(|w| w.as_bytes() == &*b.name))
                .cloned()
                .collect(),
            ..r.clone()
        };
        &filtered
    };
    if !wanted_set || record.bins.is_empty() {
        Counts::add(&counts.skipped, 1);
        return None;
    }
    let row = Row { record, ttl };
    let mut bytes = Vec::with_capacity(128);
    if batch {
        encode_row(&mut bytes, ns, &row, policy);
    } else {
        bytes = single_write_request(ns, &row, 10000, policy);
    }
    Some(Item {
        digest: r.digest,
        bytes,
    })
}

/// -N: sleeps while the stream is ahead of BANDWIDTH bytes/s or TPS records/s.
fn throttle(started: Instant, counts: &Counts, bw: u64, tps: u64) {
    let bytes = counts.bytes.load(Ordering::Relaxed) as f64;
    let records = counts.records.load(Ordering::Relaxed) as f64;
    let due = (bytes / bw as f64).max(records / tps as f64);
    let ahead = due - started.elapsed().as_secs_f64();
    if ahead > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(ahead));
    }
}

/// Progress each 10 seconds with -v, in asrestore's words after the time elapsed; stops when the
/// returned flag is set.
fn progress(a: &Args, counts: Arc<Counts>) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    if !a.verbose {
        return done;
    }
    let flag = done.clone();
    signals::spawn(move || {
        let started = Instant::now();
        let (mut last, mut at) = ((0u64, 0u64), Instant::now());
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            if at.elapsed() < Duration::from_secs(10) {
                continue;
            }
            let records = counts.records.load(Ordering::Relaxed);
            let bytes = counts.bytes.load(Ordering::Relaxed);
            let ms = at.elapsed().as_millis() as u64;
            // The elapsed time tells these from the final counts (which a wrapper replaces).
            let secs = started.elapsed().as_secs();
            for line in counts.lines((records - last.0, bytes - last.1, ms)) {
                eprintln!("as-restore: [{secs} s] {line}");
            }
            (last, at) = ((records, bytes), Instant::now());
        }
    });
    done
}
