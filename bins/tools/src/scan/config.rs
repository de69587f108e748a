//! The options turned, once, into what a scan needs: the scope, the partition filters, the
//! filter expression, the seeds, the connection settings and the scan's own settings. Every
//! option error is found here, before anything connects (`--check-options` stops after it).

use super::args::Args;
use as_cli::Usage;
use as_common::client::cluster::Seed;
use as_common::client::conn::ConnSettings;
use as_common::client::filter::{self, exp};
use as_common::client::scan::ScanSpec;
use as_common::scope::Scope;
use std::time::Duration;

pub struct Config {
    pub scope: Scope,
    pub seeds: Vec<Seed>,
    pub filter_exp: Option<Vec<u8>>,
    /// The options that need a server with expressions (5.2 or later).
    pub expression_options: Vec<&'static str>,
    pub parallel: u32,
    pub socket_timeout: Duration,
    pub debug: bool,
}

impl Config {
    pub fn new(a: &Args) -> anyhow::Result<Config> {
        a.validate()?;
        let partitions = match (&a.partition_list, &a.after_digest) {
            (Some(l), _) => filter::parse_partition_list(l)?,
            (_, Some(d)) => filter::after_digest(d)?,
            _ => match a.shard {
                Some(sh) => {
                    let (begin, count) = sh.range();
                    vec![filter::PartFilter::Range { begin, count }]
                }
                None => Vec::new(),
            },
        };
        let after = a
            .modified_after
            .as_deref()
            .map(filter::parse_time)
            .transpose()?;
        let before = a
            .modified_before
            .as_deref()
            .map(filter::parse_time)
            .transpose()?;
        if let (Some(x), Some(y)) = (after, before) {
            if x >= y {
                return Err(
                    Usage("--modified-before must be later than --modified-after".into()).into(),
                );
            }
        }
        let mut exps = Vec::new();
        if a.set.len() > 1 {
            exps.push(exp::set_in(&a.set));
        }
        exps.extend(after.map(exp::modified_after));
        exps.extend(before.map(exp::modified_before));
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
        let expression_options = [
            (a.set.len() > 1, "several sets"),
            (a.modified_after.is_some(), "--modified-after"),
            (a.modified_before.is_some(), "--modified-before"),
            (a.no_ttl_only, "--no-ttl-only"),
            (a.filter_exp.is_some(), "--filter-exp"),
        ]
        .into_iter()
        .filter_map(|(on, f)| on.then_some(f))
        .collect();
        Ok(Config {
            scope: Scope {
                namespace: a.namespace.clone(),
                sets: a.set.clone(),
                bins: a.bin_list.clone(),
                partitions,
                modified_after: a.modified_after.clone(),
                modified_before: a.modified_before.clone(),
                modified_after_ns: after,
                modified_before_ns: before,
                no_ttl_only: a.no_ttl_only,
                no_bins: a.no_bins,
                filter_exp: a.filter_exp.as_ref().map(|e| e.trim().to_string()),
                max_records: a.max_records,
                shard: a.shard,
            },
            seeds: a.conn.seeds()?,
            filter_exp,
            expression_options,
            parallel: a
                .parallel
                .unwrap_or(if a.node_list.is_some() { 16 } else { 1 }),
            socket_timeout: Duration::from_millis(if a.socket_timeout == 0 {
                a.total_timeout.max(10000)
            } else {
                a.socket_timeout
            }),
            debug: a.verbose >= 2 || tracing::enabled!(tracing::Level::DEBUG),
        })
    }

    /// The connection settings: TLS and credentials (asked for only now).
    pub fn settings(&self, a: &Args) -> anyhow::Result<ConnSettings> {
        a.conn.settings(self.socket_timeout)
    }

    /// What the scan workers are told; `done` records are those a resumed backup already has.
    pub fn spec(&self, a: &Args, done: Option<u64>) -> ScanSpec {
        ScanSpec {
            namespace: a.namespace.clone(),
            set: (a.set.len() == 1).then(|| a.set[0].clone()),
            bins: a.bin_list.clone(),
            no_bins: a.no_bins,
            filter_exp: self.filter_exp.clone(),
            max_records: match done {
                Some(n) if a.max_records > 0 => a.max_records.saturating_sub(n).max(1),
                _ => a.max_records,
            },
            records_per_second: if a.records_per_second == 0 {
                0
            } else {
                (a.records_per_second / self.parallel).max(1)
            },
            socket_timeout: self.socket_timeout,
            total_timeout: (a.total_timeout > 0).then(|| Duration::from_millis(a.total_timeout)),
            max_retries: a.max_retries,
            sleep_between_retries: Duration::from_millis(a.sleep_between_retries),
            prefer_racks: a.prefer_racks.clone(),
            debug: self.debug,
        }
    }
}
