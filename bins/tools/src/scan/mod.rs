//! `as-scan`: scan a namespace of a cluster and write the record stream, raw particles.
//!
//! [`args`] holds the options, [`config`] turns them into what the scan needs (every option
//! error is found there), [`workers`] runs the partition scans, [`progress`] reports them; `run`
//! below is the order of things.

mod args;
mod config;
pub(crate) mod each;
mod progress;
pub(crate) mod workers;

pub use args::Args;
pub use progress::eta;

use anyhow::{bail, Context};
use as_cli::io::{binary_stdout, CHUNK};
use as_cli::summary::Summary;
use as_cli::Usage;
use as_common::client::cluster::Cluster;
use as_common::client::filter;
use as_common::client::scan::ScanShared;
use as_common::client::{metadata, ClientError};
use as_common::state::BackupState;
use as_common::stream::{Header, Origin, StreamWriter};
use config::Config;
use progress::Progress;
use std::io::{BufWriter, IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut summary = Summary::new();
    let metrics = a.metrics_file.as_deref().map(|p| {
        let labels = as_cli::metrics::Labels {
            tool: a.metrics_tool.clone(),
            namespace: a.namespace.clone(),
            destination: a.metrics_destination.clone(),
        };
        Arc::new(std::sync::Mutex::new(as_cli::metrics::Metrics::new(
            p, labels, None,
        )))
    });
    let result = scan(&a, &mut summary, metrics.clone());
    if let Some(m) =
        metrics.filter(|_| !a.metrics_running_only && !a.check_options && !a.print_scope)
    {
        use as_cli::metrics::{Counts, Outcome};
        let outcome = if result.is_ok() {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        let counts = Counts {
            records: summary.number("records").unwrap_or(0),
            retries: summary.number("retries").unwrap_or(0),
            ..Counts::default()
        };
        let mut m = m.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = m.write(counts, outcome) {
            tracing::warn!("metrics file: {e}");
        }
    }
    if let Err(e) = &result {
        // Whether the scan failed only because the next stage stopped reading: a wrapper
        // then blames that stage.
        summary
            .set("complete", false)
            .set("output_closed", as_cli::io::is_broken_pipe(e));
        let _ = summary.write(a.summary.as_deref());
    }
    result
}

type SharedMetrics = Arc<std::sync::Mutex<as_cli::metrics::Metrics>>;

fn scan(a: &Args, summary: &mut Summary, metrics: Option<SharedMetrics>) -> anyhow::Result<()> {
    if a.verbose >= 2 {
        as_cli::log::raise(tracing::Level::DEBUG);
    }
    let mut config = Config::new(a)?;
    let resumed = a.resume.as_deref().map(BackupState::load).transpose()?;
    if a.check_options {
        return Ok(());
    }
    if a.print_scope {
        println!("{}", serde_json::to_string(&config.scope)?);
        return Ok(());
    }
    // Before the first request: every record last updated before it predates the scan.
    let started = as_common::manifest::now();
    let cluster = Cluster::discover(
        &config.seeds,
        &a.namespace,
        config.settings(a)?,
        a.conn.services_alternate,
    )
    .context("connecting to the cluster")?;
    if !config.expression_options.is_empty() && cluster.version() < (5, 2) {
        return Err(ClientError::TooOld {
            build: cluster.build.clone(),
            feature: config.expression_options.join(", "),
        }
        .into());
    }
    if let Some(list) = &a.node_list {
        let mastered = cluster.mastered_by(list)?;
        if mastered.is_empty() {
            bail!("the listed nodes master no partition of the namespace");
        }
        // --node-list: the partitions those nodes master, now that the map is known.
        config.scope.partitions = mastered;
    }
    if a.count {
        println!("{}", cluster.objects(&a.namespace, &a.set));
        return Ok(());
    }
    let header = Header {
        namespace: Some(a.namespace.clone().into_bytes()),
        first_file: true,
        producer: format!("as-scan {}", as_common::VERSION),
        scope: config.scope.to_string(),
        append: false,
        origin: Some(Origin {
            started,
            cluster: cluster_name(&cluster),
            nodes: cluster.nodes.iter().map(|n| n.name.clone()).collect(),
            scope: config.scope.clone(),
        }),
    };
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
    let (indexes, udfs) = metadata_into(a, &cluster, &mut w)?;
    summary.set("indexes", indexes).set("udfs", udfs);

    let clock = Instant::now();
    let mut records = 0;
    if !a.no_records {
        let progress = progress(a, &cluster)?.with_metrics(metrics);
        let shared = Arc::new(ScanShared::new(
            cluster,
            config.spec(a, resumed.as_ref().map(|st| st.records)),
        ));
        let parallel = config.parallel as usize;
        let mut jobs = filter::jobs(&config.scope.partitions, parallel);
        if let Some(st) = &resumed {
            jobs = st.narrow(jobs);
            // --max-records counts the records of the whole backup.
            if a.max_records > 0 && st.records >= a.max_records {
                jobs.clear();
            }
        }
        let result = workers::scan_all(&shared, jobs, parallel, &mut w, progress, a.bandwidth);
        summary.set(
            "retries",
            shared.retries.load(std::sync::atomic::Ordering::Relaxed),
        );
        records = result?;
    }
    w.finish()?;
    summary.set("records", records).set("complete", true);
    summary.write(a.summary.as_deref())?;
    if a.verbose() || std::io::stderr().is_terminal() {
        let secs = clock.elapsed().as_secs_f64();
        tracing::info!(
            records,
            indexes,
            udfs,
            "{records} record(s), {indexes} secondary index(es), {udfs} UDF file(s) in {secs:.1} s ({:.0} rec/s)",
            records as f64 / secs.max(0.001)
        );
    }
    Ok(())
}

/// The cluster's name (`cluster-name`: the server answers "null" when none is set, its
/// `info_get_printable_cluster_name` in as/src/base/thr_info.c), empty when it has none or the
/// question fails: only a manifest's record of where the backup came from.
fn cluster_name(cluster: &Cluster) -> String {
    cluster
        .any()
        .and_then(|mut c| c.info1("cluster-name"))
        .ok()
        .filter(|n| n != "null")
        .unwrap_or_default()
}

/// Writes the secondary-index and UDF definitions (unless left out); returns their counts.
fn metadata_into<W: Write>(
    a: &Args,
    cluster: &Cluster,
    w: &mut StreamWriter<W>,
) -> anyhow::Result<(usize, usize)> {
    if a.no_indexes && a.no_udfs {
        return Ok((0, 0));
    }
    let mut c = cluster.any()?;
    let mut indexes = 0;
    if !a.no_indexes {
        let (list, skipped) = metadata::sindexes(&mut c, &a.namespace, &a.set)?;
        if skipped > 0 && a.verbose() {
            tracing::info!("skipped {skipped} index(es) with unwanted set(s)");
        }
        for s in &list {
            w.sindex(s)?;
        }
        indexes = list.len();
    }
    let mut udfs = 0;
    if !a.no_udfs {
        let list = metadata::udfs(&mut c)?;
        for u in &list {
            w.udf(u)?;
        }
        udfs = list.len();
    }
    Ok((indexes, udfs))
}

/// Progress for people (stderr, when asked or a terminal) and for scripts (--machine).
fn progress(a: &Args, cluster: &Cluster) -> anyhow::Result<Progress> {
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
    // A live bar where one can be drawn; the asbackup-style lines otherwise (with -v).
    let bar = as_cli::bar::Bar::possible();
    let human = !bar && a.verbose();
    let expected =
        (bar || human || machine.is_some()).then(|| cluster.objects(&a.namespace, &a.set));
    let bar = if bar {
        as_cli::bar::Bar::new(expected, as_cli::bar::Unit::Records)
    } else {
        as_cli::bar::Bar::new_hidden()
    };
    Ok(Progress::new(human, expected, machine).with_bar(bar))
}
