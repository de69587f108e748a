//! A catalog: backups taken over time into one directory or cloud prefix, each in a
//! sub-directory named by its start (UTC, `20261206T162727Z`, so names sort as times). A
//! backup is full, or incremental: the records changed since its parent (the newest complete
//! backup of the same scope before it) started, less a margin for the clocks. Its manifest
//! says which, names the parent and carries the window in its scope (from its parent's start
//! less the overlap; open at the end, as a full backup is: a record changed while it runs is
//! in it as the scan found it, and in the next one); `catalog-plan.json`,
//! written before the backup starts, says the same while it runs (and what a resume needs).
//!
//! What a catalog decides is decided here, once: which backup an incremental follows
//! ([`Catalog::begin`]), which backups a restore to a time applies ([`Catalog::chain`]), which
//! a retention policy keeps ([`Catalog::prune`]).

pub mod inventory;
mod prune;
pub mod retention;

pub use inventory::Inventory;
pub use prune::{Verdict, INCOMPLETE_GRACE};

use crate::backup::{join, BackupError, BackupSet, Source, Storage, StorageError};
use crate::manifest::{BackupKind, Manifest};
use crate::scope::Scope;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Written into a backup's directory before it starts: what it is to be.
pub const PLAN: &str = "catalog-plan.json";
/// Written into a backup's directory once as-catalog verify read it back whole.
pub const VERIFIED: &str = "verified.json";
/// Written first when a backup is being removed, deleted last: a backup half removed is never
/// taken for a backup.
pub const REMOVING: &str = "removing";

const NAME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// A backup's name: its start, UTC, to the second.
pub fn name_of(t: DateTime<Utc>) -> String {
    t.format(NAME_FORMAT).to_string()
}

/// The start a backup's name says; `None`: not a backup's name.
pub fn parse_name(s: &str) -> Option<DateTime<Utc>> {
    let n = NaiveDateTime::parse_from_str(s, NAME_FORMAT).ok()?;
    // Only the canonical form: `name_of(parse_name(s)) == s`.
    let t = Utc.from_utc_datetime(&n);
    (name_of(t) == s).then_some(t)
}

/// A time as given on a command line: a backup's name, RFC 3339 (`2026-12-06T14:00:00Z`,
/// `...+01:00`), or asbackup's local forms (`YYYY-MM-DD_HH:MM:SS`, `YYYY-MM-DD`).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Some(t) = parse_name(s) {
        return Ok(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    crate::client::filter::parse_time(s)
        .map(DateTime::from_timestamp_nanos)
        .map_err(|_| {
            format!("invalid time {s:?}: expected a backup's name (20261206T140000Z), RFC 3339 (2026-12-06T14:00:00Z) or YYYY-MM-DD_HH:MM:SS (local time)")
        })
}

/// A time as as-scan's --modified-after and --modified-before take it, in UTC (as-scan runs
/// with TZ=UTC for a catalog backup).
pub fn scan_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d_%H:%M:%S").to_string()
}

/// What a backup of a catalog is to be, decided before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    pub kind: BackupKind,
    pub parent: Option<String>,
    /// Where the window on the records' last-update times begins (as-scan's -a, UTC): its
    /// parent's start less the overlap. It is not closed at the backup's own start: a record
    /// changed after the start and before the scan reaches it would then be in no backup in
    /// any version (the server keeps only the new one).
    pub after: Option<String>,
    /// An inventory is taken at the start.
    pub inventory: bool,
    /// The scope, without the window.
    pub scope: Scope,
}

/// What is asked of a new backup.
#[derive(Debug, Clone)]
pub struct Begin {
    /// Its start (its name).
    pub time: DateTime<Utc>,
    /// Its scope (any window in it is ignored: the catalog sets the window).
    pub scope: Scope,
    pub incremental: bool,
    /// How far before its parent's start an incremental begins.
    pub overlap: chrono::Duration,
    pub inventory: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Whole, with its manifest(s).
    Complete,
    /// Still being written, stopped, or crashed: not a backup yet (the reason).
    Incomplete(String),
    /// Being removed by a prune.
    Removing,
    /// Not whole, or not provably so (the reason).
    Damaged(String),
}

/// One backup of a catalog.
#[derive(Debug, Clone)]
pub struct Backup {
    pub name: String,
    pub time: DateTime<Utc>,
    /// Its directory (or prefix URL).
    pub path: String,
    pub status: Status,
    /// Its manifests (one, or one per shard) when complete.
    pub manifests: Vec<(String, Manifest)>,
    pub plan: Option<Plan>,
    /// What as-catalog verify wrote once it read the backup back whole.
    pub verified: Option<String>,
    /// Bytes of every object of the backup.
    pub bytes: u64,
    /// The names of its objects (what a prune deletes).
    pub objects: Vec<String>,
}

impl Backup {
    pub fn is_complete(&self) -> bool {
        self.status == Status::Complete
    }

    /// Full or incremental: as the manifest says, else as planned. A backup put into the
    /// catalog by hand, without a window, is a full one.
    pub fn kind(&self) -> Option<BackupKind> {
        match self.manifests.first() {
            Some((_, m)) => match &m.catalog {
                Some(c) => Some(c.kind),
                None => m.scope.modified_after.is_none().then_some(BackupKind::Full),
            },
            None => self.plan.as_ref().map(|p| p.kind),
        }
    }

    pub fn parent(&self) -> Option<&str> {
        match self.manifests.first() {
            Some((_, m)) => m.catalog.as_ref().and_then(|c| c.parent.as_deref()),
            None => self.plan.as_ref().and_then(|p| p.parent.as_deref()),
        }
    }

    /// The scope without its window: what a chain shares.
    pub fn lineage(&self) -> Option<Scope> {
        match self.manifests.first() {
            Some((_, m)) => Some(m.scope.lineage()),
            None => self.plan.as_ref().map(|p| p.scope.lineage()),
        }
    }

    pub fn records(&self) -> Option<u64> {
        (!self.manifests.is_empty())
            .then(|| self.manifests.iter().map(|(_, m)| m.totals.records).sum())
    }

    /// Seconds from the scan's start to the last manifest written.
    pub fn duration(&self) -> Option<f64> {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).ok();
        let started = self
            .manifests
            .iter()
            .filter_map(|(_, m)| m.started.as_deref().and_then(t))
            .min()?;
        let finished = self
            .manifests
            .iter()
            .filter_map(|(_, m)| t(&m.finished))
            .max()?;
        Some((finished - started).num_milliseconds() as f64 / 1000.0)
    }

    /// Whether every manifest of it (one per shard) has an inventory.
    pub fn has_inventory(&self) -> bool {
        !self.manifests.is_empty()
            && self
                .manifests
                .iter()
                .all(|(_, m)| m.catalog.as_ref().is_some_and(|c| c.inventory.is_some()))
    }

    /// Its inventory (its shards' together), each part checked against its manifest's size
    /// and SHA-256 before it is believed.
    pub fn inventory(&self, storage: &dyn Storage) -> Result<Inventory, CatalogError> {
        if !self.has_inventory() {
            return Err(CatalogError::NoBackup(format!(
                "{} has no inventory (taken with --inventory)",
                self.path
            )));
        }
        let mut parts = Vec::new();
        for (_, m) in &self.manifests {
            let entry = m
                .catalog
                .as_ref()
                .and_then(|c| c.inventory.as_ref())
                .expect("checked");
            let path = join(&self.path, &entry.name);
            let bytes = storage.read_small(&path)?;
            let bad = |why: String| CatalogError::Damaged(format!("{path}: {why}"));
            let d =
                crate::manifest::Digester::of(&bytes[..], None).map_err(|e| bad(e.to_string()))?;
            if d.size != entry.size || d.sha256 != entry.sha256 {
                return Err(bad(format!(
                    "{} bytes with SHA-256 {}, its manifest says {} bytes with {}",
                    d.size, d.sha256, entry.size, entry.sha256
                )));
            }
            let inv = Inventory::read_from(&bytes[..]).map_err(|e| bad(e.to_string()))?;
            if inv.len() as u64 != entry.records {
                return Err(bad(format!(
                    "{} records, its manifest says {}",
                    inv.len(),
                    entry.records
                )));
            }
            parts.push(inv);
        }
        Ok(Inventory::merge(parts))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    NoBackup(String),
    #[error("the chain to {target} cannot be restored: {link} {why}")]
    BrokenLink {
        target: String,
        link: String,
        why: String,
    },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Damaged(String),
}

/// The backups of a catalog, oldest first.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub root: String,
    pub backups: Vec<Backup>,
}

impl Catalog {
    /// Reads every backup of the catalog at `root` (a directory or prefix that does not exist
    /// yet is an empty catalog). Directories whose names are not times are not backups and
    /// are left alone.
    pub fn read(root: &str, storage: &dyn Storage) -> Result<Catalog, CatalogError> {
        let names = match storage.dirs(root) {
            Ok(n) => n,
            Err(_) if !storage.is_dir(root) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut backups = Vec::new();
        for name in names {
            let Some(time) = parse_name(&name) else {
                continue;
            };
            // One backup that cannot be read is damaged; the catalog is still read.
            let path = join(root, &name);
            backups.push(
                read_backup(root, name.clone(), time, storage).unwrap_or_else(|e| Backup {
                    name,
                    time,
                    path,
                    status: Status::Damaged(format!("cannot be read: {e}")),
                    manifests: Vec::new(),
                    plan: None,
                    verified: None,
                    bytes: 0,
                    objects: Vec::new(),
                }),
            );
        }
        backups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Catalog {
            root: root.to_string(),
            backups,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Backup> {
        self.backups.iter().find(|b| b.name == name)
    }

    /// The newest complete backup whose chain can be restored, and why each newer complete
    /// backup's cannot.
    pub fn latest(&self) -> (Option<&Backup>, Vec<CatalogError>) {
        let mut broken = Vec::new();
        for b in self.backups.iter().rev().filter(|b| b.is_complete()) {
            match self.chain_to(b) {
                Ok(_) => return (Some(b), broken),
                Err(e) => broken.push(e),
            }
        }
        (None, broken)
    }

    /// Decides what a new backup is: its name, full or incremental (after the newest complete
    /// backup of the same scope that started before it; a full when there is none), and its
    /// window. A plan already there under the same name (another shard of the same backup)
    /// is taken when it agrees.
    pub fn begin(&self, req: &Begin) -> Result<(Plan, Option<String>), CatalogError> {
        let name = name_of(req.time);
        let lineage = req.scope.lineage();
        let mut note = None;
        let parent = match req.incremental {
            false => None,
            true => {
                let p = self.backups.iter().rev().find(|b| {
                    b.is_complete() && b.time < req.time && b.lineage().as_ref() == Some(&lineage)
                });
                // A parent whose chain cannot be restored would make the incremental useless
                // too: a full backup starts a new chain.
                match p.map(|b| (b, self.chain_to(b))) {
                    None => {
                        note = Some(format!(
                            "no complete backup of this scope in {}: taking a full backup",
                            self.root
                        ));
                        None
                    }
                    Some((_, Err(e))) => {
                        note = Some(format!("{e}: taking a full backup"));
                        None
                    }
                    Some((b, Ok(_))) => Some(b),
                }
            }
        };
        let plan = Plan {
            name: name.clone(),
            kind: match parent {
                Some(_) => BackupKind::Incremental,
                None => BackupKind::Full,
            },
            parent: parent.map(|p| p.name.clone()),
            after: parent.map(|p| scan_time(p.time - req.overlap)),
            inventory: req.inventory,
            scope: lineage,
        };
        if let Some(there) = self.get(&name) {
            let sharded = req.scope.shard.is_some();
            return match (&there.plan, sharded) {
                (Some(p), true) if *p == plan => Ok((plan, note)),
                (Some(p), true) => Err(CatalogError::Refused(format!(
                    "{} was begun as another backup ({}{}, window from {}, inventory {}, scope {}): the shards of one backup must be taken with the same options",
                    there.path,
                    p.kind.name(),
                    p.parent.as_deref().map(|x| format!(" after {x}")).unwrap_or_default(),
                    p.after.as_deref().unwrap_or("-"),
                    p.inventory,
                    p.scope
                ))),
                _ => Err(CatalogError::Refused(format!(
                    "{} already exists: one backup a second (give the shards of one backup the same --catalog-time)",
                    there.path
                ))),
            };
        }
        Ok((plan, note))
    }

    /// The unfinished backup a resume from `state` finishes: its plan says what the state
    /// does (kind, parent, the window in the scope's text), and it is the newest such begun
    /// before the state's scan started (a backup is named just before its scan starts).
    pub fn unfinished(&self, state: &crate::state::BackupState) -> Option<&Backup> {
        let started = state
            .started
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        let said = |k: &str, v: &Option<String>| match v {
            Some(v) => state.scope.contains(&format!("{k}={v}")),
            None => !state.scope.contains(&format!("{k}=")),
        };
        self.backups.iter().rev().find(|b| {
            let Some(p) = &b.plan else { return false };
            matches!(b.status, Status::Incomplete(_))
                && state
                    .catalog
                    .as_ref()
                    .is_some_and(|c| c.kind == p.kind && c.parent == p.parent)
                && said("modified-after", &p.after)
                && started.is_none_or(|s| b.time <= s)
        })
    }

    /// The backups a restore to `until` applies, oldest first: the newest complete backup at
    /// or before it, and its parents back to a full. A link missing, incomplete or damaged
    /// refuses the whole chain. Also the backups at or before `until` that are newer than
    /// the chain's last but not complete (not taken).
    pub fn chain(
        &self,
        until: Option<DateTime<Utc>>,
    ) -> Result<(Vec<&Backup>, Vec<&Backup>), CatalogError> {
        let upto: Vec<&Backup> = self
            .backups
            .iter()
            .filter(|b| until.is_none_or(|t| b.time <= t))
            .collect();
        let Some(target) = upto.iter().rev().find(|b| b.is_complete()).copied() else {
            return Err(CatalogError::NoBackup(match until {
                Some(t) => format!(
                    "{} holds no complete backup started at or before {}",
                    self.root,
                    t.to_rfc3339()
                ),
                None => format!("{} holds no complete backup", self.root),
            }));
        };
        let skipped = upto
            .iter()
            .filter(|b| b.time > target.time)
            .copied()
            .collect();
        Ok((self.chain_to(target)?, skipped))
    }

    /// The chain that ends at `target`, oldest first: its parents back to a full; a link
    /// missing, incomplete, damaged or older than it refuses it.
    pub fn chain_to<'a>(&'a self, target: &'a Backup) -> Result<Vec<&'a Backup>, CatalogError> {
        let broken = |link: &str, why: String| CatalogError::BrokenLink {
            target: target.name.clone(),
            link: link.to_string(),
            why,
        };
        let mut links = vec![target];
        let mut b = target;
        loop {
            match b.kind() {
                Some(BackupKind::Full) => break,
                None => {
                    return Err(broken(
                        &b.name,
                        "does not say whether it is full or incremental".into(),
                    ))
                }
                Some(BackupKind::Incremental) => {}
            }
            let Some(parent) = b.parent() else {
                return Err(broken(&b.name, "is incremental but names no parent".into()));
            };
            let Some(p) = self.get(parent) else {
                return Err(broken(
                    parent,
                    format!("(the parent of {}) is missing", b.name),
                ));
            };
            match &p.status {
                Status::Complete => {}
                Status::Incomplete(why) => {
                    return Err(broken(
                        parent,
                        format!("(the parent of {}) is incomplete: {why}", b.name),
                    ))
                }
                Status::Removing => {
                    return Err(broken(
                        parent,
                        format!("(the parent of {}) is being removed", b.name),
                    ))
                }
                Status::Damaged(why) => {
                    return Err(broken(
                        parent,
                        format!("(the parent of {}) is damaged: {why}", b.name),
                    ))
                }
            }
            if p.time >= b.time {
                return Err(broken(
                    parent,
                    format!("(the parent of {}) is not older than it", b.name),
                ));
            }
            links.push(p);
            b = p;
        }
        links.reverse();
        Ok(links)
    }
}

/// One backup: its objects, plan, manifests and whether it is whole (as `BackupSet` opens
/// a directory: the marker of an unfinished backup, a state, shards' coverage, sizes).
fn read_backup(
    root: &str,
    name: String,
    time: DateTime<Utc>,
    storage: &dyn Storage,
) -> Result<Backup, CatalogError> {
    let path = join(root, &name);
    let entries = storage.list(&path)?;
    let has = |n: &str| entries.iter().any(|e| e.name == n);
    let small = |n: &str| -> Option<Vec<u8>> {
        has(n)
            .then(|| storage.read_small(&join(&path, n)).ok())
            .flatten()
    };
    let plan = small(PLAN).and_then(|b| serde_json::from_slice::<Plan>(&b).ok());
    let verified = small(VERIFIED).map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let has_manifest = entries
        .iter()
        .any(|e| e.name.ends_with(crate::manifest::SUFFIX));
    let mut manifests = Vec::new();
    let status = if has(REMOVING) {
        Status::Removing
    } else {
        match BackupSet::open(&Source::Dir(path.clone()), storage, false) {
            Ok(set) if set.has_manifest() => {
                manifests = set.manifests;
                Status::Complete
            }
            Ok(_) => Status::Damaged("it has no manifest: nothing proves it whole".into()),
            Err(BackupError::Unfinished { marker, why, .. }) => {
                Status::Incomplete(format!("{marker}{why}"))
            }
            // Files gone from under a manifest: damage; none yet, and no manifest: begun.
            Err(BackupError::NoFiles(_)) if !has_manifest => {
                Status::Incomplete("nothing written yet".into())
            }
            // Shards still to come (their partitions in no shard yet) are not damage.
            Err(BackupError::NotWhole { problems, .. })
                if plan.is_some()
                    && problems.iter().all(|p| {
                        p.ends_with("are in no shard")
                            || (p.starts_with("shard ") && p.contains(" is missing (partitions "))
                    }) =>
            {
                Status::Incomplete(problems.join("; "))
            }
            Err(BackupError::Storage(e)) => return Err(e.into()),
            Err(e) => Status::Damaged(e.to_string()),
        }
    };
    Ok(Backup {
        name,
        time,
        path,
        status,
        manifests,
        plan,
        verified,
        bytes: entries.iter().map(|e| e.size).sum(),
        objects: entries.into_iter().map(|e| e.name).collect(),
    })
}

#[cfg(test)]
mod tests;
