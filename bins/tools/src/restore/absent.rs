//! `--delete-absent`: after a restore to a point in time over a namespace that holds records,
//! the records of the backup's scope that its inventory does not hold (they did not exist at
//! that point) are deleted, so that the scope holds what it held then.

use super::args::Args;
use super::counts::Counts;
use super::items::Item;
use super::writer::{WriteState, Writer};
use anyhow::Context;
use as_cli::Usage;
use as_common::catalog::Inventory;
use as_common::client::cluster::{Cluster, Seed};
use as_common::client::conn::ConnSettings;
use as_common::client::filter::{self, exp};
use as_common::client::scan::{ScanShared, ScanSpec};
use as_common::client::write::{encode_delete_row, single_delete_request};
use as_common::scope::Scope;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Refuses a scope an inventory cannot stand for: one that keeps only some of the records of
/// its sets and partitions (a filter, a record limit), whose other records would be deleted.
pub fn check_scope(scope: &Scope, asked_sets: &[String]) -> anyhow::Result<()> {
    sets(scope, asked_sets)?;
    let partial = [
        (scope.filter_exp.is_some(), "a filter expression"),
        (scope.no_ttl_only, "--no-ttl-only"),
        (scope.max_records > 0, "a record limit"),
    ];
    if let Some((_, what)) = partial.iter().find(|(on, _)| *on) {
        return Err(Usage(format!(
            "--delete-absent: the backup's scope has {what}: records outside it are not in its inventory, and would be deleted"
        ))
        .into());
    }
    Ok(())
}

/// The sets the deletes may touch: the backup's, narrowed by -s; a set of -s outside the
/// backup's scope is refused (its inventory says nothing of that set's records).
pub fn sets(scope: &Scope, asked: &[String]) -> anyhow::Result<Vec<String>> {
    if scope.sets.is_empty() {
        return Ok(asked.to_vec());
    }
    if let Some(out) = asked.iter().find(|s| !scope.sets.contains(s)) {
        return Err(Usage(format!(
            "--delete-absent: the set {out:?} is not in the backup's scope ({}): its inventory does not say which of its records existed",
            scope.sets.join(",")
        ))
        .into());
    }
    Ok(match asked.is_empty() {
        true => scope.sets.clone(),
        false => asked.to_vec(),
    })
}

/// What the delete pass needs of the restore.
pub struct Target<'a> {
    pub seeds: &'a [Seed],
    pub conn: ConnSettings,
    pub namespace: &'a str,
    pub socket_timeout: Duration,
    pub batch: bool,
}

/// Scans the scope on the target (digests only) and deletes what `inventory` does not list.
pub fn delete(
    a: &Args,
    t: Target,
    scope: &Scope,
    inventory: &Inventory,
    shared: &Arc<WriteState>,
    counts: &Arc<Counts>,
) -> anyhow::Result<()> {
    let cluster = Cluster::discover(t.seeds, t.namespace, t.conn, a.conn.services_alternate)
        .context("connecting to the cluster")?;
    let sets = sets(scope, &a.set_list)?;
    let spec = ScanSpec {
        namespace: t.namespace.to_string(),
        set: (sets.len() == 1).then(|| sets[0].clone()),
        no_bins: true,
        filter_exp: (sets.len() > 1).then(|| exp::set_in(&sets)),
        socket_timeout: t.socket_timeout,
        max_retries: a.max_retries,
        debug: tracing::enabled!(tracing::Level::DEBUG),
        ..ScanSpec::default()
    };
    let works: Vec<_> = filter::jobs(&scope.whole().partitions, 1).concat();
    let mut shared_scan = ScanShared::new(cluster, spec.clone());
    let mut doomed: Vec<([u8; 20], Option<Vec<u8>>)> = Vec::new();
    let mut on = |r: &as_common::record::Record| {
        if !inventory.contains(&r.digest) {
            doomed.push((r.digest, r.set.as_deref().map(<[u8]>::to_vec)));
        }
        Ok(())
    };
    crate::scan::each::each_record(&mut shared_scan, spec, &works, 4, &mut on)
        .context("--delete-absent: scanning the target")?;
    let ns = t.namespace.as_bytes();
    let mut writer = Writer::new(
        shared.clone(),
        a.max_async_batches as usize,
        a.batch_size(t.batch),
    );
    let mut bytes = Vec::with_capacity(64);
    for (digest, set) in &doomed {
        match t.batch {
            true => {
                bytes.clear();
                encode_delete_row(&mut bytes, ns, set.as_deref(), digest);
            }
            false => {
                bytes = single_delete_request(
                    ns,
                    set.as_deref(),
                    digest,
                    t.socket_timeout.as_millis() as u32,
                )
            }
        }
        writer.put(Item {
            digest,
            bytes: &bytes,
            delete: true,
        });
    }
    writer.finish(true)?;
    let deleted = counts.deleted.load(Ordering::Relaxed);
    if deleted != doomed.len() as u64 {
        anyhow::bail!(
            "--delete-absent: {deleted} of {} records deleted",
            doomed.len()
        );
    }
    tracing::info!(
        deleted,
        "deleted {deleted} record(s) of the scope that the inventory does not hold"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_stay_in_the_backups_sets() {
        let scope = |sets: &[&str]| Scope {
            sets: sets.iter().map(|s| s.to_string()).collect(),
            ..Scope::default()
        };
        let v = |sets: &[&str]| sets.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(sets(&scope(&["s"]), &[]).unwrap(), v(&["s"]));
        assert_eq!(sets(&scope(&["s", "t"]), &v(&["t"])).unwrap(), v(&["t"]));
        assert!(
            sets(&scope(&["s"]), &v(&["s", "z"])).is_err(),
            "z is not the backup's"
        );
        assert_eq!(sets(&scope(&[]), &v(&["z"])).unwrap(), v(&["z"]));
        assert!(
            sets(&scope(&[]), &[]).unwrap().is_empty(),
            "the whole namespace"
        );
    }
}
