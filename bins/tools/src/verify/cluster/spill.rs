//! One pass over the backup: each record's digest, generation, set and (with --deep) the hash of
//! its bins, appended to the spill file of its partition group, so that a group's records are
//! later loaded alone.

use super::plan::Plan;
use crate::backup::Layers;
use anyhow::Context;
use as_common::asb::{AsbItem, AsbReader};
use as_common::backup::{BackupFile, BackupSet};
use as_common::manifest::PartitionCounts;
use as_common::record::{Record, DIGEST_LEN};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The hash of a record's bins (--deep): bins sorted by name, each its name, particle type and
/// raw particle bytes, lengths before the variable parts; SHA-256, its first 16 bytes.
pub type BinsHash = [u8; 16];

pub fn bins_hash(r: &Record) -> BinsHash {
    let mut bins: Vec<_> = r.bins.iter().collect();
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h = Sha256::new();
    for b in bins {
        h.update((b.name.len() as u32).to_be_bytes());
        h.update(&b.name);
        h.update([b.value.ptype]);
        h.update((b.value.data.len() as u64).to_be_bytes());
        h.update(&b.value.data);
    }
    h.finalize()[..16].try_into().expect("16 bytes")
}

/// One record as spilled: digest, generation, set id, bins hash (zero without --deep).
pub const ENTRY: usize = DIGEST_LEN + 2 + 2 + 16;

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub digest: [u8; DIGEST_LEN],
    pub generation: u16,
    pub set: u16,
    pub hash: BinsHash,
}

impl Entry {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.set.to_le_bytes());
        out.extend_from_slice(&self.hash);
    }

    fn read(b: &[u8]) -> Entry {
        Entry {
            digest: b[..20].try_into().unwrap(),
            generation: u16::from_le_bytes([b[20], b[21]]),
            set: u16::from_le_bytes([b[22], b[23]]),
            hash: b[24..40].try_into().unwrap(),
        }
    }
}

/// Set names by id, as both sides meet them ("" for no set).
#[derive(Default)]
pub struct Sets {
    ids: HashMap<Vec<u8>, u16>,
    pub names: Vec<String>,
}

impl Sets {
    pub fn id(&mut self, set: Option<&[u8]>) -> u16 {
        let name = set.unwrap_or_default();
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u16;
        self.ids.insert(name.to_vec(), i);
        self.names.push(String::from_utf8_lossy(name).into_owned());
        i
    }
}

/// The spill files, in a directory of their own removed when dropped.
pub struct Spill {
    dir: PathBuf,
    /// Entries not yet written, per group: at most `flush_at` bytes each.
    pending: Vec<Vec<u8>>,
    flush_at: usize,
}

impl Spill {
    fn new(parent: &Path, groups: usize) -> anyhow::Result<Spill> {
        let dir = parent.join(format!(
            "as-verify-{}-{}",
            std::process::id(),
            as_common::manifest::now().replace([':', '.'], "")
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // Some 4 MiB buffered in all, at least a page per group.
        let flush_at = ((4 << 20) / groups.max(1)).max(4096) / ENTRY * ENTRY;
        Ok(Spill {
            dir,
            // One more: the records of partitions outside the scope.
            pending: vec![Vec::new(); groups + 1],
            flush_at,
        })
    }

    fn path(&self, group: usize) -> PathBuf {
        self.dir.join(format!("{group}.spill"))
    }

    fn push(&mut self, group: usize, e: &Entry) -> anyhow::Result<()> {
        e.write(&mut self.pending[group]);
        if self.pending[group].len() >= self.flush_at {
            self.flush(group)?;
        }
        Ok(())
    }

    /// Appends a group's pending entries to its file (opened for each flush: a file per group
    /// would open up to 4096 at once).
    fn flush(&mut self, group: usize) -> anyhow::Result<()> {
        if self.pending[group].is_empty() {
            return Ok(());
        }
        let path = self.path(group);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&self.pending[group]))
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.pending[group].clear();
        Ok(())
    }

    /// The entries of one group (in no particular order: files are read several at once).
    pub fn load(&self, group: usize) -> anyhow::Result<Vec<Entry>> {
        let path = self.path(group);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        // Read once: the file goes as soon as its group is loaded.
        let _ = std::fs::remove_file(&path);
        Ok(bytes.chunks_exact(ENTRY).map(Entry::read).collect())
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the pass over the backup found besides: records of each file and of each partition
/// (the offline check's counts, not read twice).
#[derive(Default)]
pub struct Found {
    pub per_file: Vec<u64>,
    pub partitions: PartitionCounts,
}

/// Reads every file of the backup once, `threads` files at once, and spills its records by
/// group; records of a partition outside the backup's scope go to the group after the last.
#[allow(clippy::too_many_arguments)]
pub fn spill(
    set: &BackupSet,
    layers: &Layers,
    plan: &Plan,
    deep: bool,
    sets: &mut Sets,
    tmp: &Path,
    found: &mut Found,
    threads: usize,
) -> anyhow::Result<Spill> {
    let outside = plan.groups.len();
    let shared = std::sync::Mutex::new((Spill::new(tmp, outside)?, std::mem::take(sets)));
    found.per_file = vec![0; set.files.len()];
    let results = super::super::each_file(&set.files, threads, |file| {
        spill_file(file, layers, plan, deep, &shared)
    });
    let (mut spill, names) = shared.into_inner().unwrap();
    *sets = names;
    for (i, r) in results {
        let (records, partitions) = r?;
        found.per_file[i] = records;
        for (p, n) in partitions.as_slice().iter().enumerate() {
            found.partitions.add(p as u16, *n);
        }
    }
    for g in 0..=outside {
        spill.flush(g)?;
    }
    Ok(spill)
}

/// Records handed to the spill at once (its lock taken once per batch).
const BATCH: usize = 4096;

/// One file's records into the spill: its records, and of each partition.
fn spill_file(
    file: &BackupFile,
    layers: &Layers,
    plan: &Plan,
    deep: bool,
    shared: &std::sync::Mutex<(Spill, Sets)>,
) -> anyhow::Result<(u64, PartitionCounts)> {
    let outside = plan.groups.len();
    let input = layers.open(file, None)?;
    let mut reader =
        AsbReader::new(input).with_context(|| format!("{}: not a backup file", file.name()))?;
    let (mut records, mut partitions) = (0, PartitionCounts::default());
    let mut batch: Vec<(usize, Option<Vec<u8>>, Entry)> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<(usize, Option<Vec<u8>>, Entry)>| -> anyhow::Result<()> {
        let mut g = shared.lock().unwrap();
        let (spill, sets) = &mut *g;
        for (group, set, mut e) in batch.drain(..) {
            e.set = sets.id(set.as_deref());
            spill.push(group, &e)?;
        }
        Ok(())
    };
    while let Some(item) = reader
        .next_item()
        .with_context(|| format!("reading {}", file.name()))?
    {
        let AsbItem::Record(r) = item else { continue };
        records += 1;
        partitions.add(r.partition(), 1);
        let e = Entry {
            digest: r.digest,
            generation: r.generation,
            set: 0,
            hash: if deep { bins_hash(&r) } else { [0; 16] },
        };
        let g = plan.group_of[r.partition() as usize].map_or(outside, |g| g as usize);
        batch.push((g, r.set.as_deref().map(<[u8]>::to_vec), e));
        if batch.len() == BATCH {
            flush(&mut batch)?;
        }
    }
    flush(&mut batch)?;
    Ok((records, partitions))
}
