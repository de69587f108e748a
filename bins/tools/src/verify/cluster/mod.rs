//! `as-verify --cluster`: the backup compared, record by record, with its scope on the cluster.
//!
//! The cluster's records fall in three windows of their last-update time (the server's clock):
//! before T0 = the backup's start − margin (they must be in the backup at the same generation,
//! and with --deep the same bins), from T0 to T1 = its end + margin (updated while it ran: either
//! answer is right), from T1 on (updated or created since). The windows are scans without bins
//! (the first with bins under --deep) filtered on the server by last-update time and the scope's
//! own filters: one of every partition for "before T0", one for "from T0 on", and "from T1 on"
//! only over the partitions where the second found records (two passes of the index, not three,
//! when little changed). A backup record no scan returns was deleted or expired since.
//!
//! Memory does not grow with the backup: one pass over the backup spills (digest, generation,
//! set, bins hash) of each record to the file of its partition group (spill.rs); then each group
//! is loaded into a map, scanned, compared and dropped before the next. Groups are sized so that
//! one holds about [`plan::GROUP_RECORDS`] records of both sides (some 8 MiB), digests being
//! spread evenly over partitions; a group is at least one partition, so a backup of more than
//! 4096 × GROUP_RECORDS records holds a 4096th of it at once. Add some 4 MiB of spill buffers
//! and the scans' batches in flight.

mod compare;
mod plan;
mod report;
mod scan;
mod spill;

use crate::backup::Layers;
use anyhow::Context;
use as_cli::BadInput;
use as_common::backup::BackupSet;
use as_common::client::cluster::Cluster;
use as_common::client::scan::{ScanShared, ScanSpec};
use as_common::client::ClientError;
use report::{Class, Tally};
use scan::When;
use std::path::PathBuf;
use std::time::Duration;

/// Against the cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Also compare the backup, record by record, with its scope on the cluster: records last
    /// updated before the backup started (less --margin) must be in it at the same generation;
    /// records updated while it ran, updated or created since, and records of the backup the
    /// cluster no longer has are counted per set. Each class is one line on standard output;
    /// a record that should be in the backup and is not, or is at another generation, fails
    /// (exit 3).
    #[arg(long)]
    pub cluster: bool,

    #[command(flatten)]
    pub conn: crate::connect::ConnArgs,

    /// Seconds taken off the backup's start and added to its end, for the difference between
    /// the clock of the host that took the backup (the manifest's times) and the servers'
    /// (last-update times): a record updated that close to the start counts as updated while
    /// the backup ran.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 5,
        requires = "cluster"
    )]
    pub margin: u64,

    /// Also read the bins of every record last updated before the backup started and compare
    /// them, particle by particle, with the backup's (a hash of the raw particles of each side).
    #[arg(long, requires = "cluster")]
    pub deep: bool,

    /// Write the digests of each class but `matched` into DIR, one file per class
    /// (CLASS.digests, one base64 digest a line), for a targeted backup or restore.
    #[arg(long, value_name = "DIR", requires = "cluster")]
    pub list: Option<PathBuf>,

    /// Partition scans at the same time.
    #[arg(short = 'w', long, default_value_t = 4, requires = "cluster",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub parallel: u32,

    /// Socket timeout in milliseconds (0 = the total timeout, or 10 s).
    #[arg(long, default_value_t = 10000, requires = "cluster")]
    pub socket_timeout: u64,

    /// Total timeout of each scan in milliseconds (0 = none).
    #[arg(long, default_value_t = 0, requires = "cluster")]
    pub total_timeout: u64,

    /// How often a failed partition scan is retried.
    #[arg(long, default_value_t = 5, requires = "cluster")]
    pub max_retries: u32,

    /// Milliseconds to wait between retries.
    #[arg(long, default_value_t = 0, requires = "cluster")]
    pub sleep_between_retries: u64,

    /// Where the spill files go (default: the system's temporary directory).
    #[arg(long, value_name = "DIR", requires = "cluster")]
    pub temp_dir: Option<PathBuf>,

    /// Records (of both sides) held at once, which sets how many partition groups are compared
    /// one after the other; for tests.
    #[arg(long, hide = true, default_value_t = plan::GROUP_RECORDS, requires = "cluster",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub group_records: u64,
}

/// The backup compared with the cluster; its files read `threads` at once.
pub fn verify(
    args: &ClusterArgs,
    set: &BackupSet,
    layers: &Layers,
    threads: usize,
) -> anyhow::Result<()> {
    args.conn.validate()?;
    let margin_ns = (args.margin as i64).saturating_mul(1_000_000_000);
    // The scope first (from the manifests), to know the namespace.
    let scope = set
        .manifests
        .first()
        .map(|(_, m)| m.whole_scope())
        .ok_or_else(|| BadInput("--cluster needs the backup's manifest".into()))?;
    let timeout = Duration::from_millis(match args.socket_timeout {
        0 => args.total_timeout.max(10000),
        t => t,
    });
    let cluster = Cluster::discover(
        &args.conn.seeds()?,
        &scope.namespace,
        args.conn.settings(timeout)?,
        args.conn.services_alternate,
    )
    .context("connecting to the cluster")?;
    if cluster.version() < (5, 2) {
        return Err(ClientError::TooOld {
            build: cluster.build.clone(),
            feature: "--cluster (filters on last-update times)".into(),
        }
        .into());
    }
    let plan = plan::Plan::new(
        set,
        margin_ns,
        cluster.objects(&scope.namespace, &scope.sets),
        args.group_records,
    )?;
    let filters = plan.scope_filters()?;
    let spec = ScanSpec {
        namespace: scope.namespace.clone(),
        set: (scope.sets.len() == 1).then(|| scope.sets[0].clone()),
        bins: scope.bins.clone(),
        no_bins: true,
        socket_timeout: timeout,
        total_timeout: (args.total_timeout > 0).then(|| Duration::from_millis(args.total_timeout)),
        max_retries: args.max_retries,
        sleep_between_retries: Duration::from_millis(args.sleep_between_retries),
        debug: tracing::enabled!(tracing::Level::DEBUG),
        ..ScanSpec::default()
    };
    let deep = args.deep && !scope.no_bins;
    if args.deep && scope.no_bins {
        tracing::warn!(
            "--deep: the backup holds no bins (its scope has no-bins): bins are not compared"
        );
    }
    let mut shared = ScanShared::new(cluster, spec.clone());

    let mut sets = spill::Sets::default();
    let tmp = args.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    // Digest checks were as-verify's offline pass (--quick): the files are read without them,
    // and their records counted here, once.
    let mut found = spill::Found::default();
    let spill = spill::spill(
        set,
        &super::unchecked(layers),
        &plan,
        deep,
        &mut sets,
        &tmp,
        &mut found,
        threads,
    )?;
    super::offline::counts_match(set, &found.per_file, &found.partitions)?;
    let mut tally = Tally::new(args.list.as_deref())?;
    for e in spill.load(plan.groups.len())? {
        tally.add(Class::Outside, e.set, &e.digest)?;
    }
    for (g, group) in plan.groups.iter().enumerate() {
        let mut cmp = compare::Group::new(spill.load(g)?, deep, &mut tally)?;
        let w = &plan.windows[group.window];
        // Every record last updated before the backup, then the few updated since it started;
        // which of those came after it ended, from a scan of their partitions only. (Three
        // windows over every partition would be three full passes of the index.)
        let mut changed = std::collections::BTreeSet::new();
        for when in [When::Before, When::During, When::Since] {
            let works: Vec<_> = match when {
                When::Since => group
                    .works
                    .iter()
                    .filter(|(p, _)| changed.contains(p))
                    .copied()
                    .collect(),
                _ => group.works.clone(),
            };
            if works.is_empty() {
                continue;
            }
            let spec = ScanSpec {
                filter_exp: Some(when.filter(&filters, w.t0, w.t1)),
                no_bins: !(deep && when == When::Before),
                ..spec.clone()
            };
            let mut on = |r: &as_common::record::Record| {
                if when == When::During {
                    changed.insert(r.partition());
                }
                cmp.seen(when, r, sets.id(r.set.as_deref()));
                Ok(())
            };
            scan::scan(&mut shared, spec, &works, args.parallel as usize, &mut on).with_context(
                || {
                    format!(
                        "scanning partition group {} of {}",
                        g + 1,
                        plan.groups.len()
                    )
                },
            )?;
        }
        cmp.finish(plan.scope.max_records > 0, &mut tally)?;
    }
    drop(spill);

    say(args, &plan, deep, &tally, &sets.names);
    let defects: Vec<String> = Class::ALL
        .into_iter()
        .filter(|c| c.defect() && tally.count(*c) > 0)
        .map(|c| format!("{} {}", tally.count(c), c.name()))
        .collect();
    tally.finish()?;
    if !defects.is_empty() {
        return Err(BadInput(format!(
            "the backup differs from the cluster: {}",
            defects.join(", ")
        ))
        .into());
    }
    Ok(())
}

/// The lines on standard output: what was compared, with which margin, then one per class.
fn say(args: &ClusterArgs, plan: &plan::Plan, deep: bool, tally: &Tally, sets: &[String]) {
    let partitions: usize = plan.groups.iter().map(|g| g.works.len()).sum();
    let w = &plan.windows[0];
    let shards = match plan.windows.len() {
        1 => String::new(),
        n => format!(" (the first of {n} shards)"),
    };
    println!(
        "cluster: namespace {}, {partitions} partition(s) in {} group(s), {} record(s) in the backup; it started {} and finished {}{shards}; margin {} s{}",
        plan.scope.namespace,
        plan.groups.len(),
        plan.records,
        w.started,
        w.finished,
        args.margin,
        if deep { "; bins compared (--deep)" } else { "" }
    );
    if plan.scope.max_records > 0 {
        println!(
            "cluster: the backup's scope has max-records {}: its own records are checked, records not in it are no defect",
            plan.scope.max_records
        );
    }
    for l in tally.lines(sets) {
        println!("{l}");
    }
}
