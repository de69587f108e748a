//! The options turned, once, into what a restore needs: which backup (or stream), how its files
//! are read, the namespaces, the write policy, the pacing, the seeds and connection settings.
//! Every option error is found here, with asrestore's rules, before anything is opened or
//! connected to (`--check-options` stops after it).

use super::args::Args;
use as_cli::Usage;
use as_common::backup::Source;
use as_common::client::cluster::Seed;
use as_common::client::conn::ConnSettings;
use as_common::client::write::{Exists, Policy};
use std::time::Duration;

pub struct Config {
    /// The backup to read; `None`: a record stream.
    pub source: Option<Source>,
    /// `-n SRC,DST`: the backup must be of SRC.
    pub source_ns: Option<String>,
    /// `-n NS` or `-n SRC,DST`: where the records go (else the backup's namespace).
    pub target_ns: Option<String>,
    pub policy: Policy,
    /// -N: bytes and records per second.
    pub nice: Option<(u64, u64)>,
    pub seeds: Vec<Seed>,
    pub conn: ConnSettings,
    pub socket_timeout: Duration,
}

impl Config {
    pub fn new(a: &Args) -> anyhow::Result<Config> {
        a.conn.validate()?;
        if a.unique && (a.replace || a.no_generation) {
            return Err(Usage(
                "--unique is mutually exclusive with --replace and --no-generation".into(),
            )
            .into());
        }
        let nice = a.nice.as_deref().map(parse_nice).transpose()?;
        let (source_ns, target_ns) = match a.namespace.as_deref() {
            None => (None, None),
            Some(ns) => {
                let parts: Vec<&str> = ns.split(',').collect();
                if parts.len() > 2 || parts.iter().any(|p| p.is_empty() || p.len() > 31) {
                    return Err(Usage(format!(
                        "invalid --namespace {ns:?}: NS or SRC,DST (1 to 31 bytes each)"
                    ))
                    .into());
                }
                match parts[..] {
                    [src, dst] => (Some(src.to_string()), Some(dst.to_string())),
                    _ => (None, Some(ns.to_string())),
                }
            }
        };
        for s in &a.set_list {
            if s.is_empty() || s.len() > 63 {
                return Err(Usage(format!("invalid set name {s:?} (1 to 63 bytes)")).into());
            }
        }
        for b in &a.bin_list {
            if b.is_empty() || b.len() > 15 {
                return Err(Usage(format!(
                    "invalid bin name {b:?} in --bin-list (1 to 15 bytes)"
                ))
                .into());
            }
        }
        let socket_timeout = Duration::from_millis(match (a.socket_timeout, a.total_timeout) {
            (0, 0) => 10000,
            (0, t) => t,
            (s, _) => s,
        });
        Ok(Config {
            source: a.backup.source(),
            source_ns,
            target_ns,
            policy: Policy {
                exists: match (a.unique, a.replace) {
                    (true, _) => Exists::CreateOnly,
                    (_, true) => Exists::Replace,
                    _ => Exists::Update,
                },
                generation_gt: !a.no_generation,
            },
            nice,
            seeds: a.conn.seeds()?,
            conn: a.conn.settings(socket_timeout)?,
            socket_timeout,
        })
    }
}

/// `-N BANDWIDTH,TPS`: bytes and records per second.
pub fn parse_nice(s: &str) -> Result<(u64, u64), Usage> {
    let bad = || {
        Usage(format!(
            "invalid --nice {s:?}: BANDWIDTH,TPS (MiB/s and records/s, both at least 1)"
        ))
    };
    let (bw, tps) = s.split_once(',').ok_or_else(bad)?;
    let bw: u64 = bw.trim().parse().map_err(|_| bad())?;
    let tps: u64 = tps.trim().parse().map_err(|_| bad())?;
    if bw == 0 || tps == 0 || bw > u64::MAX / (1 << 20) {
        return Err(bad());
    }
    Ok((bw << 20, tps))
}
