//! `as-restore`: restore a backup, or write a record stream, into a cluster, as asrestore
//! restores a backup.
//!
//! [`args`] holds the options and [`config`] what they resolve to, [`input`] reads the backup's
//! files (or the stream) into writes, [`metadata`] restores indexes and UDF modules, [`writer`]
//! the records, [`counts`] counts and reports, [`progress`] tells how far it got; `run` below is the order of things: the UDFs and
//! indexes as they come (indexes after the records with -L), every record through the writer,
//! then --wait.

mod absent;
mod args;
mod config;
mod counts;
mod input;
mod items;
mod metadata;
mod progress;
mod writer;

pub use args::Args;
pub use writer::next_delay;

use crate::backup::Layers;
use anyhow::{bail, Context};
use as_cli::io::open_input_interruptible;
use as_cli::{signals, BadInput, Usage};
use as_common::backup::BackupFile;
use as_common::client::cluster::Cluster;
use as_common::record::SIndex;
use as_common::stream::StreamReader;
use config::Config;
use counts::Counts;
use input::{Input, Prepare};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use writer::{WriteOptions, WriteState, Writer};

/// 2010-01-01T00:00:00Z, the server's epoch for expiries.
const CITRUSLEAF_EPOCH: u64 = 1_262_304_000;

pub fn run(a: Args) -> anyhow::Result<()> {
    signals::install();
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let metrics = a
        .metrics_file
        .as_deref()
        .filter(|_| !a.check_options)
        .map(|p| {
            let labels = as_cli::metrics::Labels {
                tool: if a.asrestore_lines {
                    "asrestore"
                } else {
                    "as-restore"
                }
                .into(),
                namespace: a.namespace.clone().unwrap_or_default(),
                destination: {
                    let b = &a.backup;
                    let dir = b
                        .directory
                        .as_deref()
                        .or(b.directory_list.first().map(String::as_str));
                    crate::backup::kind(dir, b.input_file.as_deref(), "stdin").into()
                },
            };
            Arc::new(std::sync::Mutex::new(as_cli::metrics::Metrics::new(
                p, labels, None,
            )))
        });
    let figures = {
        let counts = counts.clone();
        move || as_cli::metrics::Counts {
            records: counts.records.load(Ordering::Relaxed),
            bytes: counts.bytes.load(Ordering::Relaxed),
            files: 0,
            retries: counts.retries.load(Ordering::Relaxed),
        }
    };
    let ticker = metrics
        .clone()
        .map(|m| as_cli::metrics::Metrics::every_period(m, figures.clone()));
    let result = restore(&a, &counts);
    drop(ticker);
    if let Some(m) = metrics {
        let outcome = match &result {
            Ok(()) => as_cli::metrics::Outcome::Succeeded,
            Err(_) => as_cli::metrics::Outcome::Failed,
        };
        let mut m = m.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = m.write(figures(), outcome) {
            tracing::warn!("metrics file: {e}");
        }
    }
    // A usage error is one line: nothing was restored to count.
    let usage = matches!(&result, Err(e) if as_cli::Exit::of(e) == as_cli::Exit::Usage);
    if a.check_options || a.validate_only || usage {
        return result;
    }
    // Refused before anything was written (a backup that is not whole, a bad first file, no
    // cluster): no counts, which would read as a restore of nothing.
    let untouched = counts.settled() == 0
        && counts.udfs.load(Ordering::Relaxed) == 0
        && counts.indexes.load(Ordering::Relaxed) == 0;
    if result.is_err() && untouched {
        return result.context("nothing was restored");
    }
    let ms = started.elapsed().as_millis() as u64;
    let rate = (
        counts.records.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed),
        ms,
    );
    let name = if a.asrestore_lines {
        ""
    } else {
        "as-restore: "
    };
    for line in counts.lines(rate) {
        as_cli::log::progress(&format!("{name}{line}"), rate.0, rate.1);
    }
    let absent = counts.absent.load(Ordering::Relaxed);
    if a.inventory.is_some() {
        tracing::info!(
            absent,
            "{absent} of the skipped record(s) are not in the inventory"
        );
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
    let c = Config::new(a)?;
    if a.check_options {
        // The key is read now when the mode is given; else it waits for the manifest.
        if a.backup.key.encrypt.is_some() {
            a.backup.key.key()?;
        }
        return Ok(());
    }
    // A backup (-d, -i, --directory-list), or a record stream on standard input.
    let mut set = match &c.source {
        Some(source) => Some(a.backup.open(source)?),
        None => None,
    };
    // How its files are read: as its manifest says, or the options.
    let layers = match &set {
        Some(set) => a.backup.layers(set)?,
        None => crate::backup::Layers::new(a.backup.compress, &a.backup.key, a.backup.reader())?,
    };
    if let Some(set) = &set {
        for why in &set.incomplete {
            tracing::warn!("reading part of a backup: {why}");
        }
        counts.set_partial(!set.incomplete.is_empty());
        if !set.has_manifest() && set.files.iter().any(|f| f.path.is_some()) {
            tracing::info!("the backup has no manifest: the integrity of its files is not checked");
        }
        if a.verify_first {
            crate::verify::quick(set, &layers, a.parallel as usize)?;
        }
    }
    if a.validate_only {
        let set = set.context("--validate needs a backup: -d, -i or --directory-list")?;
        crate::decode::validate_set(&set, &layers)?;
        let part = if set.incomplete.is_empty() {
            ""
        } else {
            " (part of a backup)"
        };
        tracing::info!(
            files = set.files.len(),
            "{} file(s) valid{part}",
            set.files.len()
        );
        return Ok(());
    }
    // The backup's first file, or the stream, is opened first: it names the namespace.
    let source = match &mut set {
        Some(set) => Source::Files(first_file(&layers, &mut set.files)?),
        None => {
            let input = open_input_interruptible(a.input.as_deref())?;
            let reader = StreamReader::new(input).context("reading the record stream")?;
            Source::Stream(reader)
        }
    };
    let header_ns = match &source {
        Source::Files(f) => f.reader.header().namespace.clone(),
        Source::Stream(r) => r.header().namespace.clone(),
    };
    let stream_ns = header_ns
        .as_deref()
        .map(|n| String::from_utf8_lossy(n).into_owned());
    if let (Some(src), Some(ns)) = (&c.source_ns, &stream_ns) {
        if src != ns {
            return Err(Usage(format!(
                "the backup is of namespace {ns:?}, not {src:?} (-n {src},DST)"
            ))
            .into());
        }
    }
    let Some(ns) = c.target_ns.or(stream_ns) else {
        return Err(Usage("the backup names no namespace: give -n NAMESPACE".into()).into());
    };
    let inventory = a
        .inventory
        .as_deref()
        .map(read_inventory)
        .transpose()?
        .map(Arc::new);
    // --delete-absent deletes in the backup's scope, as its manifest says.
    let scope = match (
        a.delete_absent,
        set.as_ref().and_then(|s| s.manifests.first()),
    ) {
        (false, _) => None,
        (true, Some((_, m))) => Some(m.whole_scope()),
        (true, None) => {
            return Err(
                Usage("--delete-absent needs a backup with a manifest (its scope)".into()).into(),
            )
        }
    };
    if let Some(s) = &scope {
        absent::check_scope(s, &a.set_list)?;
    }
    let conn = c.conn.clone();
    let cluster = Cluster::discover(&c.seeds, &ns, c.conn, a.conn.services_alternate)
        .context("connecting to the cluster")?;
    let batch = !a.disable_batch_writes && batch_writes(&cluster)?;
    if !a.disable_batch_writes && !batch {
        tracing::info!("the server takes no batch writes: writing records one by one");
    }
    let settings = WriteOptions {
        batch,
        timeout_ms: c.socket_timeout.as_millis() as u32,
        max_retries: a.max_retries,
        retry_scale_us: a.retry_scale_factor,
        ignore_record_error: a.ignore_record_error,
        namespace: ns.clone(),
    };
    let shared = Arc::new(WriteState::new(cluster, counts.clone(), settings));
    let mut writer = Writer::new(
        shared.clone(),
        a.max_async_batches as usize,
        a.batch_size(batch),
    );
    let prep = Arc::new(Prepare {
        // Every file of a backup names the first one's namespace (a stream has one header).
        backup_ns: header_ns.filter(|_| matches!(source, Source::Files(_))),
        sets: a.set_list.to_vec(),
        bins: a.bin_list.clone(),
        extra_ttl: a.extra_ttl,
        no_records: a.no_records,
        namespace: ns.as_bytes().to_vec(),
        now: now_cl(),
        policy: c.policy,
        batch,
        counts: counts.clone(),
        inventory: inventory.clone(),
        // One lookup a record, however many files: their inventories merged.
        exclude: match a.exclude.is_empty() {
            true => None,
            false => Some(as_common::catalog::Inventory::merge(
                a.exclude
                    .iter()
                    .map(|p| read_inventory(p))
                    .collect::<anyhow::Result<_>>()?,
            )),
        },
        seen: a.seen_out.as_ref().map(|_| Default::default()),
    });
    let seen_out = a.seen_out.as_ref().map(|p| (p, prep.clone()));
    let inputs = match source {
        Source::Stream(reader) => input::stream(reader, prep),
        Source::Files(first) => {
            let rest = set.as_ref().map_or(Vec::new(), |s| s.files[1..].to_vec());
            input::files(first, rest, a.parallel as usize, layers, prep)
        }
    };
    let total = set.as_ref().and_then(|s| s.total_size());
    // The bytes of the backup whose records reached the writer.
    let read = Arc::new(AtomicU64::new(0));
    let progress = progress::start(a, counts.clone(), read.clone(), total);
    let mut later: Vec<SIndex> = Vec::new();
    let mut udfs: Vec<Vec<u8>> = Vec::new();
    let started = Instant::now();
    // Writes handed to the writer (what -N paces).
    let mut written = 0u64;
    let mut first_done = false;
    let mut stopped: Option<anyhow::Error> = None;
    loop {
        if let Some(i) = signals::received() {
            stopped = Some(i.into());
            break;
        }
        if shared.failed() {
            break;
        }
        let next = match inputs.rx.recv_timeout(Duration::from_millis(100)) {
            Ok(i) => i,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                stopped = Some(anyhow::anyhow!(
                    "the restore failed: reading stopped before the end of the backup"
                ));
                break;
            }
        };
        // Each shard's first file carries the indexes and UDFs again: applied once.
        let done = match next {
            Input::Udf(u) if !a.no_udfs && !udfs.contains(&u.name.to_vec()) => {
                udfs.push(u.name.to_vec());
                let c = shared.cluster.read().unwrap();
                metadata::restore_udf(&c, &u).map(|()| Counts::add(&counts.udfs, 1))
            }
            Input::SIndex(s) if !a.no_indexes && !later.iter().any(|l| l.name == s.name) => {
                Counts::add(&counts.indexes, 1);
                later.push(s.clone());
                match a.indexes_last {
                    true => Ok(()),
                    false => {
                        let c = shared.cluster.read().unwrap();
                        metadata::restore_index(&c, &s, &ns, &a.set_list, counts)
                    }
                }
            }
            Input::Writes { items, read: n } => {
                Counts::add(&read, n);
                for item in items.iter() {
                    // Paced (-N), a batch takes a while: a stop is not kept waiting for it.
                    if c.nice.is_some() && (shared.failed() || signals::received().is_some()) {
                        break;
                    }
                    Counts::add(&counts.records, 1);
                    Counts::add(&counts.bytes, item.bytes.len() as u64);
                    writer.put(item);
                    written += 1;
                    if let Some((bw, tps)) = c.nice {
                        throttle(started, written, counts, bw, tps);
                    }
                }
                inputs.give(items);
                Ok(())
            }
            Input::FileDone { name, read: n } => {
                Counts::add(&read, n);
                if a.verbose && set.as_ref().is_some_and(|s| s.files.len() > 1) {
                    tracing::info!(file = %name, "{name} read");
                }
                // -w: the first file's indexes built and modules everywhere before the other
                // files' records go in, as asrestore restores the first file by itself.
                match (first_done, a.wait && !a.indexes_last) {
                    (false, true) => {
                        first_done = true;
                        wait_metadata(&shared.cluster.read().unwrap(), &later, &udfs, &ns)
                    }
                    _ => {
                        first_done = true;
                        Ok(())
                    }
                }
            }
            Input::Failed(e) => Err(e),
            Input::End => break,
            Input::Udf(_) | Input::SIndex(_) => Ok(()),
        };
        if let Err(e) = done {
            stopped = Some(e);
            break;
        }
    }
    // The readers stop; what was read but not sent is not written; what is in flight finishes.
    drop(inputs);
    let finished = writer.finish(stopped.is_none());
    // A part of a backup is never 100% of it.
    progress.finish(stopped.is_none() && finished.is_ok() && !counts.partial());
    if let Some(e) = stopped {
        finished?;
        return Err(e);
    }
    finished?;
    let cluster = shared.cluster.read().unwrap();
    if a.indexes_last {
        for s in &later {
            metadata::restore_index(&cluster, s, &ns, &a.set_list, counts)?;
        }
    }
    let matched = counts.indexes_matched.load(Ordering::Relaxed);
    if matched > 0 {
        tracing::info!("skipped {matched} matched index(es)");
    }
    let skipped = counts.indexes_skipped.load(Ordering::Relaxed);
    if skipped > 0 {
        tracing::info!("skipped {skipped} index(es) with unwanted set(s)");
    }
    if a.wait {
        wait_metadata(&cluster, &later, &udfs, &ns)?;
    }
    let settled = counts.settled();
    let read = counts.records.load(Ordering::Relaxed);
    if settled != read {
        bail!("{} of {read} records have no outcome", read - settled);
    }
    if let Some((path, prep)) = seen_out {
        let seen = std::mem::take(&mut *prep.seen.as_ref().expect("kept").lock().unwrap());
        let mut bytes = Vec::new();
        as_common::catalog::Inventory::from_entries(seen).write_to(&mut bytes)?;
        as_cli::io::write_atomically(path, &bytes, false)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let (Some(scope), Some(inv)) = (&scope, &inventory) {
        drop(cluster);
        let target = absent::Target {
            seeds: &c.seeds,
            conn,
            namespace: &ns,
            socket_timeout: c.socket_timeout,
            batch,
        };
        absent::delete(a, target, scope, inv, &shared, counts)?;
    }
    if let Some(set) = &set {
        if !set.incomplete.is_empty() {
            tracing::warn!(
                "restored part of a backup ({} file(s) of an unfinished one)",
                set.files.len()
            );
        }
    }
    Ok(())
}

/// What is read: a backup's files, the first one opened, or a record stream.
#[allow(clippy::large_enum_variant)] // one per restore
enum Source {
    Files(input::Opened),
    Stream(StreamReader<Box<dyn std::io::Read + Send>>),
}

/// Opens the file with the indexes and UDFs (`# first-file`), moved to the front: the first
/// in the backup's order as a rule, else (local files, whose headers are cheap to read) the
/// first that says so, as asrestore's wrapper looked for it.
fn first_file(layers: &Layers, files: &mut [BackupFile]) -> anyhow::Result<input::Opened> {
    let first = input::open(layers, &files[0])?;
    if first.reader.header().first_file {
        return Ok(first);
    }
    for i in 1..files.len() {
        if files[i].path.as_deref().is_none_or(crate::backup::is_cloud) {
            break;
        }
        let f = input::open(layers, &files[i])?;
        if f.reader.header().first_file {
            files[..=i].rotate_right(1);
            return Ok(f);
        }
    }
    Ok(first)
}

/// -w: until the indexes are built and the UDF modules are on every node.
fn wait_metadata(
    cluster: &Cluster,
    indexes: &[SIndex],
    udfs: &[Vec<u8>],
    ns: &str,
) -> anyhow::Result<()> {
    for s in indexes {
        metadata::wait_index(cluster, s, ns)?;
    }
    for u in udfs {
        metadata::wait_udf(cluster, u)?;
    }
    Ok(())
}

/// Whether the cluster takes batch writes, as asrestore decides: server 6.0 or later, with
/// batch-index threads (`build`, `get-config:context=service`, server-behaviours S14).
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

/// -N: sleeps while the stream is ahead of BANDWIDTH bytes/s or TPS records/s.
fn throttle(started: Instant, written: u64, counts: &Counts, bw: u64, tps: u64) {
    let bytes = counts.bytes.load(Ordering::Relaxed) as f64;
    let records = written as f64;
    let due = (bytes / bw as f64).max(records / tps as f64);
    let ahead = due - started.elapsed().as_secs_f64();
    if ahead > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(ahead));
    }
}

/// The --inventory file; a damaged one is bad input.
fn read_inventory(path: &std::path::Path) -> anyhow::Result<as_common::catalog::Inventory> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot open the inventory {}", path.display()))?;
    as_common::catalog::Inventory::read_from(std::io::BufReader::new(f))
        .map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}
