//! The classes of records, their counts per set, the digest lists of --list, and the lines said.

use anyhow::Context;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Matched,
    // Defects of the backup.
    Missing,
    Generation,
    Bins,
    Duplicate,
    Outside,
    // Changes of the cluster.
    During,
    Updated,
    Created,
    Gone,
    NotTaken,
}

impl Class {
    pub const ALL: [Class; 11] = [
        Class::Matched,
        Class::Missing,
        Class::Generation,
        Class::Bins,
        Class::Duplicate,
        Class::Outside,
        Class::During,
        Class::Updated,
        Class::Created,
        Class::Gone,
        Class::NotTaken,
    ];

    /// The name of its line and of its list (`NAME.digests`).
    pub fn name(self) -> &'static str {
        match self {
            Class::Matched => "matched",
            Class::Missing => "missing",
            Class::Generation => "generation",
            Class::Bins => "bins",
            Class::Duplicate => "duplicate",
            Class::Outside => "outside",
            Class::During => "during",
            Class::Updated => "updated",
            Class::Created => "created",
            Class::Gone => "gone",
            Class::NotTaken => "not-taken",
        }
    }

    pub fn defect(self) -> bool {
        matches!(
            self,
            Class::Missing | Class::Generation | Class::Bins | Class::Duplicate | Class::Outside
        )
    }

    fn says(self) -> &'static str {
        match self {
            Class::Matched => "last updated before the backup started, in it at the same generation",
            Class::Missing => "last updated before the backup started, not in it",
            Class::Generation => "last updated before the backup started, in it at another generation",
            Class::Bins => "last updated before the backup started, in it at the same generation with other bins",
            Class::Duplicate => "more than once in the backup",
            Class::Outside => "in the backup, of a partition outside its scope",
            Class::During => "updated while the backup ran (in it or not, either is right)",
            Class::Updated => "in the backup, updated since",
            Class::Created => "created since the backup, not in it",
            Class::Gone => "in the backup, no longer on the cluster (deleted or expired since)",
            Class::NotTaken => "last updated before the backup started, beyond its max-records",
        }
    }
}

/// Counts per class and set; with --list, the digests of each class but `matched`.
pub struct Tally {
    counts: BTreeMap<Class, BTreeMap<u16, u64>>,
    lists: Option<BTreeMap<Class, BufWriter<std::fs::File>>>,
}

impl Tally {
    pub fn new(list: Option<&Path>) -> anyhow::Result<Tally> {
        let lists = match list {
            None => None,
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let mut m = BTreeMap::new();
                for c in Class::ALL.into_iter().filter(|c| *c != Class::Matched) {
                    let p = dir.join(format!("{}.digests", c.name()));
                    let f = std::fs::File::create(&p)
                        .with_context(|| format!("cannot create {}", p.display()))?;
                    m.insert(c, BufWriter::new(f));
                }
                Some(m)
            }
        };
        Ok(Tally {
            counts: BTreeMap::new(),
            lists,
        })
    }

    pub fn add(&mut self, class: Class, set: u16, digest: &[u8; 20]) -> anyhow::Result<()> {
        *self
            .counts
            .entry(class)
            .or_default()
            .entry(set)
            .or_default() += 1;
        if let Some(w) = self.lists.as_mut().and_then(|l| l.get_mut(&class)) {
            writeln!(w, "{}", base64_simd::STANDARD.encode_to_string(digest))?;
        }
        Ok(())
    }

    pub fn count(&self, class: Class) -> u64 {
        self.counts.get(&class).map_or(0, |m| m.values().sum())
    }

    /// One line per class met (`matched` always): `CLASS: N record(s) WHAT (set a: N, ...)`.
    pub fn lines(&self, sets: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for c in Class::ALL {
            let n = self.count(c);
            if n == 0 && c != Class::Matched {
                continue;
            }
            let per_set: Vec<String> = self
                .counts
                .get(&c)
                .into_iter()
                .flatten()
                .map(|(s, n)| match sets[*s as usize].as_str() {
                    "" => format!("no set: {n}"),
                    name => format!("set {name}: {n}"),
                })
                .collect();
            let per_set = match per_set.is_empty() {
                true => String::new(),
                false => format!(" ({})", per_set.join(", ")),
            };
            out.push(format!("{}: {n} record(s) {}{per_set}", c.name(), c.says()));
        }
        out
    }

    /// The lists written out.
    pub fn finish(self) -> anyhow::Result<()> {
        for (_, mut w) in self.lists.into_iter().flatten() {
            w.flush()?;
        }
        Ok(())
    }
}
