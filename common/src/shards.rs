//! Sharded backups: the manifest each shard writes last, once its backup is complete, and the
//! check that a set of manifests makes one whole backup (every partition of the scope in
//! exactly one shard, every file they list present).

use crate::scope::Shard;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const FORMAT: &str = "as-tools shard manifest 1";
/// The manifest's name beside the shard's files: PREFIX.manifest.
pub const SUFFIX: &str = ".manifest";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// The scope of the whole backup (without the shard's partitions): shards of one backup
    /// name the same.
    pub scope: String,
    /// "K/N".
    pub shard: String,
    /// The partitions this shard covers: the first and how many.
    pub partitions: [u16; 2],
    pub records: u64,
    pub bytes: u64,
    /// The shard's backup files, by name, beside the manifest.
    pub files: Vec<String>,
}

impl Manifest {
    /// The manifest of a shard whose stream header named `scope` (as [`crate::scope::Scope`]
    /// writes it: `... partitions=B-C ... shard=K/N`); None when the scope is not a shard's.
    pub fn of_scope(scope: &str, records: u64, bytes: u64, files: Vec<String>) -> Option<Manifest> {
        let (rest, shard) = scope.rsplit_once(" shard=")?;
        let sh = Shard::parse(shard).ok()?;
        let (b, c) = sh.range();
        let whole = rest.replacen(&format!(" partitions={b}-{c}"), "", 1);
        Some(Manifest {
            format: FORMAT.into(),
            scope: whole,
            shard: sh.to_string(),
            partitions: [b, c],
            records,
            bytes,
            files,
        })
    }

    /// Whether a stream header's scope is a shard's (as-scan --shard).
    pub fn is_shard(scope: &str) -> bool {
        Manifest::of_scope(scope, 0, 0, Vec::new()).is_some()
    }

    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let m: Manifest =
            serde_json::from_slice(text).map_err(|e| format!("not a shard manifest: {e}"))?;
        if m.format != FORMAT {
            return Err(format!(
                "not a shard manifest of this format ({:?})",
                m.format
            ));
        }
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("serializable");
        s.push('\n');
        s
    }
}

/// What is wrong with a set of manifests (`(name, manifest)`) and the files beside them: one
/// line per missing or overlapping shard, per missing file, per backup of another scope. Empty:
/// the shards make one whole backup.
pub fn check(manifests: &[(String, Manifest)], files: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let Some((_, first)) = manifests.first() else {
        return vec!["no shard manifest found".into()];
    };
    for (name, m) in manifests {
        if m.scope != first.scope {
            problems.push(format!(
                "{name} is a shard of another backup ({:?}, not {:?})",
                m.scope, first.scope
            ));
        }
        for f in &m.files {
            if !files.contains(f) {
                problems.push(format!(
                    "{f}, listed by shard {} ({name}), is missing",
                    m.shard
                ));
            }
        }
    }
    // Who covers each partition.
    let mut by: Vec<Vec<usize>> = vec![Vec::new(); 4096];
    for (i, (_, m)) in manifests.iter().enumerate() {
        let [b, c] = m.partitions;
        let end = (usize::from(b) + usize::from(c)).min(4096);
        for who in &mut by[usize::from(b).min(end)..end] {
            who.push(i);
        }
    }
    // Runs of partitions with the same coverers.
    let mut p = 0;
    while p < 4096 {
        let mut q = p + 1;
        while q < 4096 && by[q] == by[p] {
            q += 1;
        }
        let run = format!("partitions {p}-{}", q - 1);
        match by[p].len() {
            0 => {
                // Name the shards missing, when the others say how many there are.
                let n = first.shard.split_once('/').map(|(_, n)| n.to_string());
                let missing: Vec<String> = n
                    .and_then(|n| n.parse::<u32>().ok())
                    .map(|n| {
                        (1..=n)
                            .map(|k| Shard { k, n })
                            .filter(|s| {
                                let (b, c) = s.range();
                                usize::from(b) < q && usize::from(b) + usize::from(c) > p
                            })
                            .map(|s| s.to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                if missing.is_empty() {
                    problems.push(format!("{run} are in no shard"));
                } else {
                    problems.push(format!(
                        "shard {} is missing ({run})",
                        missing.join(", shard ")
                    ));
                }
            }
            1 => {}
            _ => {
                let who: Vec<String> = by[p]
                    .iter()
                    .map(|&i| format!("{} ({})", manifests[i].1.shard, manifests[i].0))
                    .collect();
                problems.push(format!("shards {} overlap at {run}", who.join(" and ")));
            }
        }
        p = q;
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(k: u32, n: u32) -> (String, Manifest) {
        let (b, c) = Shard { k, n }.range();
        let scope = format!("namespace=test sets=a partitions={b}-{c} shard={k}/{n}");
        let m = Manifest::of_scope(&scope, 10, 100, vec![format!("s{k}_00000.asb")]).unwrap();
        (format!("s{k}.manifest"), m)
    }

    #[test]
    fn manifests_make_one_backup_or_say_why_not() {
        let all: Vec<_> = (1..=4).map(|k| shard(k, 4)).collect();
        assert_eq!(all[1].1.scope, "namespace=test sets=a");
        assert_eq!(all[1].1.partitions, [1024, 1024]);
        let files: BTreeSet<String> = (1..=4).map(|k| format!("s{k}_00000.asb")).collect();
        assert!(check(&all, &files).is_empty());
        let back = Manifest::parse(all[0].1.to_json().as_bytes()).unwrap();
        assert_eq!(back, all[0].1);

        let missing = [all[0].clone(), all[1].clone(), all[3].clone()];
        assert_eq!(
            check(&missing, &files),
            ["shard 3/4 is missing (partitions 2048-3071)"]
        );
        let twice = [all.clone(), vec![shard(2, 4)]].concat();
        assert_eq!(
            check(&twice, &files),
            ["shards 2/4 (s2.manifest) and 2/4 (s2.manifest) overlap at partitions 1024-2047"]
        );
        let mut gone = files.clone();
        gone.remove("s4_00000.asb");
        assert_eq!(
            check(&all, &gone),
            ["s4_00000.asb, listed by shard 4/4 (s4.manifest), is missing"]
        );
        assert!(Manifest::of_scope("namespace=test", 0, 0, vec![]).is_none());
        assert!(Manifest::parse(b"{}").is_err());
    }
}
