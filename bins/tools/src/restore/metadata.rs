//! Secondary indexes and UDF modules, restored as asrestore restores them (`restore.c`:
//! `restore_index`, `check_index`, `restore_udf`, `wait_index`, `wait_udf`), with one fix: an
//! index of no set is created without a set, also when the backup names its set `null`, as
//! asbackup 4.5.8 writes it (server-behaviours S17), unless --keep-null-set.

use super::args::SetList;
use super::counts::Counts;
use anyhow::{bail, Context};
use as_cli::signals;
use as_common::client::cluster::Cluster;
use as_common::client::conn::Conn;
use as_common::client::metadata::{self, index_built, same_index, sindex_create, udf_put};
use as_common::record::{SIndex, Udf};
use as_common::wire::info::kv;
use std::borrow::Cow;
use std::time::Duration;

/// The set asbackup 4.5.8 writes for an index of no set: an 8.x server lists such an index as
/// `set=null` and asbackup copies the word (`asbackup-ns/backup.asb`: `* i test null idx_noset`),
/// but `sindex-create` with `set=null` makes an index on a set named "null", which indexes no
/// record of another set (server-behaviours S17: entries=0 after asrestore, 13 when created
/// without a set).
const NULL_SET: &[u8] = b"null";

/// The index to create for the backup's `s`: without a set when the backup says `null`, but
/// with --keep-null-set (then the set `null` is passed on literally, as asrestore does).
fn to_create(s: &SIndex, keep_null_set: bool) -> Cow<'_, SIndex> {
    if keep_null_set || s.set.as_deref() != Some(NULL_SET) {
        return Cow::Borrowed(s);
    }
    tracing::info!(
        "index {}: set \"null\" read as no set (the server lists set-less indexes as \
         set=null); --keep-null-set keeps it literal",
        text(&s.name)
    );
    Cow::Owned(SIndex {
        set: None,
        ..s.clone()
    })
}

/// `s` as `sindex-list` shows it, to compare with the cluster's index: the server lists an index
/// of no set and one on the set "null" alike, as `set=null`, which is read as no set
/// (`metadata::parse_sindex`). So, like asrestore (which compares the word `null` with the
/// listed `null`), an index on the set `null` kept with --keep-null-set matches either.
fn as_listed(s: &SIndex) -> Cow<'_, SIndex> {
    if s.set.as_deref() == Some(NULL_SET) {
        Cow::Owned(SIndex {
            set: None,
            ..s.clone()
        })
    } else {
        Cow::Borrowed(s)
    }
}

/// How many of the cluster's indexes in `ns` are on a set named "null", from `sets/NS`: after
/// asrestore's `set=null` the server listed `set=null:objects=0:...:sindexes=1`
/// (server-behaviours S17).
/// `sindex-list` shows those as set=null, as it shows indexes of no set.
fn on_null_set(c: &mut Conn, ns: &str) -> anyhow::Result<u64> {
    let sets = c.info1(&format!("sets/{ns}"))?;
    Ok(sets
        .split(';')
        .map(|item| kv(item, ':'))
        .find(|f| f.contains(&("set", "null")))
        .and_then(|f| f.iter().find(|(k, _)| *k == "sindexes").map(|p| p.1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether the answer to an admin command says it was done (`ok`; errors start `ERROR` or
/// `FAIL`, or name an error).
fn done(answer: &str) -> bool {
    answer.trim().eq_ignore_ascii_case("ok")
}

/// Creates `s` in namespace `ns` unless the cluster has it: the same definition is skipped and
/// counted as matched; a different one of the same name is dropped first.
pub fn restore_index(
    cluster: &Cluster,
    s: &SIndex,
    ns: &str,
    sets: &SetList,
    counts: &Counts,
) -> anyhow::Result<()> {
    let name = text(&s.name);
    // -s filters by the backup's own set name, as asrestore's `check_set` does (a `strcmp` with
    // each listed set): an index on the set `null` is restored only when `null` is listed (and
    // then created without a set, but with --keep-null-set); an index of no set (an empty set
    // field, as as-scan writes one) is in no listed set and is skipped, as asbackup skips it.
    if !sets.is_empty()
        && !s
            .set
            .as_ref()
            .is_some_and(|x| sets.iter().any(|w| w.as_bytes() == x.as_slice()))
    {
        Counts::add(&counts.indexes_skipped, 1);
        return Ok(());
    }
    let s = &*to_create(s, sets.keep_null_set);
    let mut c = cluster.any()?;
    let existing = |c: &mut Conn| -> anyhow::Result<Option<SIndex>> {
        Ok(metadata::find_sindex(c, ns, &s.name)?)
    };
    match existing(&mut c)? {
        // An index of no set does not match one listed as set=null while the namespace has
        // indexes on a set named "null" (which sindex-list cannot tell apart): that may be the
        // one asrestore left there, which indexes nothing. Recreating a right one costs a
        // rebuild; leaving a wrong one would leave its queries empty.
        Some(x)
            if same_index(&x, &as_listed(s))
                && (s.set.is_some() || on_null_set(&mut c, ns)? == 0) =>
        {
            Counts::add(&counts.indexes_matched, 1);
            return Ok(());
        }
        Some(_) => {
            let answer = c.info1(&format!("sindex-delete:namespace={ns};indexname={name}"))?;
            if !done(&answer) {
                bail!("removing the different index {name}: {answer}");
            }
            // The drop is asynchronous: wait until the list no longer shows it.
            let mut tries = 0;
            while existing(&mut c)?.is_some() {
                tries += 1;
                if tries > 10 {
                    bail!("index {name} still listed 10 s after it was removed");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        None => {}
    }
    let answer = c.info1(&sindex_create(s, ns))?;
    if !done(&answer) {
        bail!("creating index {name}: {answer}");
    }
    Ok(())
}

/// Waits until every node reports the index fully built (`sindex-stat` load_pct=100).
pub fn wait_index(cluster: &Cluster, s: &SIndex, ns: &str) -> anyhow::Result<()> {
    let cmd = format!("sindex-stat:namespace={ns};indexname={}", text(&s.name));
    for node in 0..cluster.nodes.len() {
        let Ok(mut c) = cluster.connect(node) else {
            continue; // a node that is away builds it when it is back
        };
        while !index_built(&c.info1(&cmd)?) {
            if let Some(i) = signals::received() {
                return Err(i.into());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    Ok(())
}

pub fn restore_udf(cluster: &Cluster, u: &Udf) -> anyhow::Result<()> {
    let mut c = cluster.any()?;
    let answer = c.info1(&udf_put(u))?;
    if !done(&answer) {
        bail!("putting UDF {}: {answer}", text(&u.name));
    }
    Ok(())
}

/// Waits until every node lists the module.
pub fn wait_udf(cluster: &Cluster, name: &[u8]) -> anyhow::Result<()> {
    let want = format!("filename={}", text(name));
    for node in 0..cluster.nodes.len() {
        let Ok(mut c) = cluster.connect(node) else {
            continue;
        };
        loop {
            let list = c.info1("udf-list").context("waiting for the UDF modules")?;
            if list.split(';').any(|i| i.split(',').any(|kv| kv == want)) {
                break;
            }
            if let Some(i) = signals::received() {
                return Err(i.into());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    Ok(())
}
