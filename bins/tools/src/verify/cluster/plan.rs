//! What the comparison covers, from the backup's manifests: the partitions of its scope (and a
//! resume digest where the scope has one), the times that split the cluster's records into
//! classes, the scope's own filters, and the partition groups compared one at a time.

use as_cli::{BadInput, Usage};
use as_common::backup::BackupSet;
use as_common::client::filter::{self, exp, PartFilter, Work};
use as_common::record::PARTITIONS;
use as_common::scope::Scope;

/// One manifest's window: records last updated before `t0` must be in the backup, those
/// updated from `t0` to `t1` were updated while it ran, from `t1` on since it finished
/// (nanoseconds since the Unix epoch, the server's last-update clock).
#[derive(Debug, Clone)]
pub struct Window {
    pub started: String,
    pub finished: String,
    pub t0: i64,
    pub t1: i64,
}

/// A run of partitions compared at once, all of one manifest (one window).
#[derive(Debug, Clone)]
pub struct Group {
    pub works: Vec<Work>,
    pub window: usize,
}

pub struct Plan {
    /// The scope the backup shares with its shards (partitions aside).
    pub scope: Scope,
    pub windows: Vec<Window>,
    pub groups: Vec<Group>,
    /// The group of each partition (None: outside the backup's scope).
    pub group_of: Vec<Option<u32>>,
    /// Records the manifests count.
    pub records: u64,
}

/// About this many records (of the backup and of the cluster together) are held per group:
/// an entry is about 64 bytes in its map, so a group takes some 8 MiB. Smaller groups cost
/// little: the scans cover the same partitions in all, in more requests.
pub const GROUP_RECORDS: u64 = 128 * 1024;

impl Plan {
    /// `cluster_records`: what the cluster says it holds in the scope (an estimate), so that a
    /// group holds about `group_records` of both sides; digests spread evenly over partitions.
    pub fn new(
        set: &BackupSet,
        margin_ns: i64,
        cluster_records: u64,
        group_records: u64,
    ) -> anyhow::Result<Plan> {
        let Some((_, first)) = set.manifests.first() else {
            return Err(Usage("--cluster needs the backup's manifest".into()).into());
        };
        let scope = first.whole_scope();
        let mut windows = Vec::new();
        // (window, works) of each manifest, a shard's partitions from its own scope.
        let mut parts: Vec<(usize, Vec<Work>)> = Vec::new();
        for (path, m) in &set.manifests {
            if m.whole_scope() != scope {
                return Err(BadInput(format!(
                    "{path}: another scope ({}) than the backup's other manifests ({scope})",
                    m.whole_scope()
                ))
                .into());
            }
            let started = m.started.clone().ok_or_else(|| {
                BadInput(format!(
                    "{path}: the manifest does not say when the backup started"
                ))
            })?;
            let t0 = nanos(&started, path)? - margin_ns;
            let t1 = nanos(&m.finished, path)? + margin_ns;
            windows.push(Window {
                started,
                finished: m.finished.clone(),
                t0,
                t1,
            });
            let filters = match m.scope.partitions.as_slice() {
                [] => vec![PartFilter::Range {
                    begin: 0,
                    count: PARTITIONS,
                }],
                f => f.to_vec(),
            };
            parts.push((
                windows.len() - 1,
                filters.iter().flat_map(PartFilter::work).collect(),
            ));
        }
        let records: u64 = set.manifests.iter().map(|(_, m)| m.totals.records).sum();
        let all: usize = parts.iter().map(|(_, w)| w.len()).sum();
        let wanted = (records + cluster_records).div_ceil(group_records).max(1) as usize;
        let per_group = all.div_ceil(wanted.min(all).max(1)).max(1);
        let mut groups = Vec::new();
        let mut group_of = vec![None; PARTITIONS as usize];
        for (window, works) in parts {
            for chunk in works.chunks(per_group) {
                for (p, _) in chunk {
                    if group_of[*p as usize].is_some() {
                        return Err(BadInput(format!(
                            "partition {p} is in the scope of two manifests"
                        ))
                        .into());
                    }
                    group_of[*p as usize] = Some(groups.len() as u32);
                }
                groups.push(Group {
                    works: chunk.to_vec(),
                    window,
                });
            }
        }
        Ok(Plan {
            scope,
            windows,
            groups,
            group_of,
            records,
        })
    }

    /// The scope's own filters as expressions (several sets, modification times, no-TTL, a
    /// filter expression): every scan of the comparison applies them, as the backup's did.
    pub fn scope_filters(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let s = &self.scope;
        let mut exps = Vec::new();
        if s.sets.len() > 1 {
            exps.push(exp::set_in(&s.sets));
        }
        // The times as the scan resolved them (else as given, read here as as-scan would).
        let time = |ns: Option<i64>, text: &Option<String>| -> anyhow::Result<Option<i64>> {
            Ok(match (ns, text) {
                (Some(ns), _) => Some(ns),
                (None, Some(t)) => Some(filter::parse_time(t)?),
                (None, None) => None,
            })
        };
        if let Some(t) = time(s.modified_after_ns, &s.modified_after)? {
            exps.push(exp::modified_after(t));
        }
        if let Some(t) = time(s.modified_before_ns, &s.modified_before)? {
            exps.push(exp::modified_before(t));
        }
        if s.no_ttl_only {
            exps.push(exp::no_ttl());
        }
        if let Some(b64) = &s.filter_exp {
            exps.push(
                base64_simd::STANDARD
                    .decode_to_vec(b64.trim())
                    .map_err(|_| BadInput(format!("the scope's filter {b64:?} is not base64")))?,
            );
        }
        Ok(exps)
    }
}

/// An RFC 3339 time of a manifest in nanoseconds since the Unix epoch.
fn nanos(t: &str, path: &str) -> anyhow::Result<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .and_then(|d| d.timestamp_nanos_opt())
        .ok_or_else(|| BadInput(format!("{path}: {t:?} is not an RFC 3339 time")).into())
}
