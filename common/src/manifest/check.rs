//! Whether the manifests of a directory (or prefix) and the files beside them make one whole
//! backup: every file each lists present at its stored size, no backup file that none lists,
//! and for the shards of a backup spread over hosts, every partition of the scope in exactly
//! one shard.

use super::Manifest;
use crate::backup::Entry;
use crate::scope::Shard;
use std::collections::BTreeMap;

/// What is wrong with a directory's manifests (`(name, manifest)`) and its backup files: one
/// line per missing, resized or unlisted file, per missing or overlapping shard, per manifest
/// of another backup. Empty: whole, as far as names and sizes tell (the digests are as-verify's
/// and the restore's to check).
pub fn check_dir(manifests: &[(String, Manifest)], files: &[Entry]) -> Vec<String> {
    let mut problems = check_files(manifests, files);
    problems.extend(check_shards(manifests));
    problems
}

/// The files of one directory against its manifests: every file listed there at its size, no
/// backup file unlisted, and one backup (its shards) in the directory.
pub fn check_files(manifests: &[(String, Manifest)], files: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    let Some((first_name, _)) = manifests.first() else {
        return problems;
    };
    let sizes: BTreeMap<&str, u64> = files.iter().map(|e| (e.name.as_str(), e.size)).collect();
    let mut listed = BTreeMap::new();
    for (name, m) in manifests {
        if m.scope.shard.is_none() && manifests.len() > 1 && name != first_name {
            problems.push(format!(
                "{name} and {first_name} are two backups in one directory"
            ));
        }
        for f in &m.files {
            listed.insert(f.name.as_str(), name.as_str());
            match sizes.get(f.name.as_str()) {
                None => problems.push(format!("{} is missing (listed in {name})", f.name)),
                Some(&size) if size != f.size => problems.push(format!(
                    "{} is {size} bytes, {name} says {} (truncated or replaced)",
                    f.name, f.size
                )),
                Some(_) => {}
            }
        }
    }
    for e in files {
        if !listed.contains_key(e.name.as_str()) {
            problems.push(format!(
                "{} is in no manifest: not a file of this backup",
                e.name
            ));
        }
    }
    problems
}

/// The shards of one backup, wherever their directories: all of the same backup, every
/// partition in exactly one. Manifests of whole backups (no shard) say nothing here: several
/// directories may hold several backups restored as one (--directory-list).
pub fn check_shards(manifests: &[(String, Manifest)]) -> Vec<String> {
    let shards: Vec<(String, Manifest)> = manifests
        .iter()
        .filter(|(_, m)| m.scope.shard.is_some())
        .cloned()
        .collect();
    let Some((first_name, first)) = shards.first() else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (name, m) in manifests {
        if m.scope.shard.is_none() {
            problems.push(format!(
                "{name} is a whole backup among the shards of another"
            ));
        } else if m.whole_scope() != first.whole_scope() {
            problems.push(format!(
                "{name} and {first_name} are shards of different backups ({} and {})",
                m.whole_scope(),
                first.whole_scope()
            ));
        }
    }
    problems.extend(coverage(&shards));
    problems
}

/// The partitions a shard covers: the first and how many.
pub fn covered(m: &Manifest) -> Option<(u16, u16)> {
    m.scope.shard.map(Shard::range)
}

/// Partitions in no shard, or in more than one.
fn coverage(manifests: &[(String, Manifest)]) -> Vec<String> {
    let mut problems = Vec::new();
    let first = &manifests[0].1;
    // Who covers each partition.
    let mut by: Vec<Vec<usize>> = vec![Vec::new(); 4096];
    for (i, (_, m)) in manifests.iter().enumerate() {
        let Some((b, c)) = covered(m) else { continue };
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
                let missing: Vec<String> = first
                    .scope
                    .shard
                    .map(|Shard { n, .. }| {
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
                    .map(|&i| format!("{} ({})", shard_of(&manifests[i].1), manifests[i].0))
                    .collect();
                problems.push(format!("shards {} overlap at {run}", who.join(" and ")));
            }
        }
        p = q;
    }
    problems
}

fn shard_of(m: &Manifest) -> String {
    m.scope.shard.map(|s| s.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::example as manifest;
    use crate::scope::Scope;

    fn shard(k: u32, n: u32) -> (String, Manifest) {
        let sh = Shard { k, n };
        let (begin, count) = sh.range();
        let scope = Scope {
            namespace: "test".into(),
            sets: vec!["a".into()],
            partitions: vec![crate::client::filter::PartFilter::Range { begin, count }],
            shard: Some(sh),
            ..Scope::default()
        };
        (
            format!("s{k}.manifest"),
            manifest(&format!("s{k}"), 7, scope),
        )
    }

    fn entries(names: &[&str]) -> Vec<Entry> {
        names
            .iter()
            .map(|n| Entry {
                name: n.to_string(),
                size: 7,
            })
            .collect()
    }

    #[test]
    fn manifests_make_one_backup_or_say_why_not() {
        let all: Vec<_> = (1..=4).map(|k| shard(k, 4)).collect();
        let names: Vec<String> = (1..=4).map(|k| format!("s{k}_00000.asb")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert!(check_dir(&all, &entries(&names)).is_empty());
        let back = Manifest::parse(all[0].1.to_json().as_bytes()).unwrap();
        assert_eq!(back, all[0].1);

        let missing = [all[0].clone(), all[1].clone(), all[3].clone()];
        assert_eq!(
            check_dir(
                &missing,
                &entries(&names[..2])
                    .into_iter()
                    .chain(entries(&names[3..]))
                    .collect::<Vec<_>>()
            ),
            ["shard 3/4 is missing (partitions 2048-3071)"]
        );
        let twice = [all.clone(), vec![shard(2, 4)]].concat();
        assert_eq!(
            check_dir(&twice, &entries(&names)),
            ["shards 2/4 (s2.manifest) and 2/4 (s2.manifest) overlap at partitions 1024-2047"]
        );
        assert_eq!(
            check_dir(&all, &entries(&names[..3])),
            ["s4_00000.asb is missing (listed in s4.manifest)"]
        );
        let mut more = entries(&names);
        more.push(Entry {
            name: "x_00000.asb".into(),
            size: 1,
        });
        more[0].size = 6;
        assert_eq!(
            check_dir(&all, &more),
            [
                "s1_00000.asb is 6 bytes, s1.manifest says 7 (truncated or replaced)",
                "x_00000.asb is in no manifest: not a file of this backup"
            ]
        );
        assert!(Manifest::parse(b"{}").is_err());
        let mut edited = all[0].1.clone();
        edited.totals.records = 5;
        assert!(Manifest::parse(edited.to_json().as_bytes())
            .unwrap_err()
            .to_string()
            .contains("records add up to 0, its totals say 5"));
    }
}
