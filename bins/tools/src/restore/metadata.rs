//! Secondary indexes and UDF modules, restored as asrestore restores them (`restore.c`:
//! `restore_index`, `check_index`, `restore_udf`, `wait_index`, `wait_udf`), with one fix: an
//! index of no set is created without a set (FACT 17).

use super::counts::Counts;
use anyhow::{bail, Context};
use as_cli::signals;
use as_common::client::cluster::Cluster;
use as_common::client::metadata::{self, index_built, same_index, sindex_create, udf_put};
use as_common::record::{SIndex, Udf};
use std::time::Duration;

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
    sets: &[String],
    counts: &Counts,
) -> anyhow::Result<()> {
    let name = text(&s.name);
    if !sets.is_empty()
        && !s
            .set
            .as_ref()
            .is_some_and(|x| sets.iter().any(|w| w.as_bytes() == x.as_slice()))
    {
        Counts::add(&counts.indexes_skipped, 1);
        return Ok(());
    }
    let mut c = cluster.any()?;
    let existing = |c: &mut as_common::client::conn::Conn| -> anyhow::Result<Option<SIndex>> {
        Ok(metadata::find_sindex(c, ns, &s.name)?)
    };
    match existing(&mut c)? {
        Some(x) if same_index(&x, s) => {
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
