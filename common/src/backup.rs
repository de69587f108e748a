//! What a backup is: which files make it, in which order they are restored, and whether they
//! make a whole backup. Every tool that reads a backup asks here (as-decode --validate,
//! as-restore, the wrappers through them), so that none restores part of a backup as if whole.
//!
//! A backup is read from standard input, one file, a directory (local, or a cloud prefix), or a
//! list of directories. In a directory, the backup is its `*.asb` files (not the hidden
//! `.NAME.asb.partial` of a file being written); absctl's `metadata*.asb` file, with the indexes
//! and UDFs, comes first, the others in name order (asbackup's and as-split's file
//! `PREFIX_00000.asb` carries `# first-file` and so sorts first). A directory is not a whole
//! backup when it holds the marker of an unfinished backup (`PREFIX.asb.incomplete`) or the
//! state a resume would start from (`PREFIX.asb.state`, removed when a backup completes), or
//! when its shard manifests (`PREFIX.manifest`) do not cover every partition exactly once with
//! every file they list present.

use crate::layout;
use crate::manifest::{self, FileEntry, Manifest};
use std::path::Path;

/// Where backup files live: a local directory, or a cloud prefix (implemented by the tools that
/// reach the clouds).
pub trait Storage {
    /// The objects directly in `dir` (a directory, or a prefix URL): names and sizes.
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError>;
    /// A small object, whole: a shard manifest, the reason in a marker.
    fn read_small(&self, path: &str) -> Result<Vec<u8>, StorageError>;
    /// Whether `path` names a directory (or prefix) rather than one file.
    fn is_dir(&self, path: &str) -> bool;
    /// The size of one file, when it is cheap to know.
    fn size(&self, _path: &str) -> Option<u64> {
        None
    }
    /// The directories (or prefixes holding objects) directly in `dir`, by name: a catalog's
    /// backups.
    fn dirs(&self, _dir: &str) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

/// An object of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
}

/// A failure of the storage itself, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{dir} holds an unfinished backup ({marker}{why}): {hint}, or restore what is there with --allow-incomplete")]
    Unfinished {
        dir: String,
        marker: String,
        why: String,
        hint: String,
    },
    #[error("{0} holds no *.asb files")]
    NoFiles(String),
    #[error("{dir} is not a whole backup: {}", problems.join("; "))]
    NotWhole { dir: String, problems: Vec<String> },
    #[error("{path}: {why}")]
    Manifest { path: String, why: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    /// One backup file (a path or an object URL).
    File(String),
    /// A directory or cloud prefix.
    Dir(String),
    /// Several directories, restored as one backup.
    DirList(Vec<String>),
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// The path or URL; `None` is standard input.
    pub path: Option<String>,
    /// Bytes, when known.
    pub size: Option<u64>,
    /// What its manifest says of it (size, digests, records), when it has one.
    pub entry: Option<FileEntry>,
}

impl BackupFile {
    /// The name shown in messages.
    pub fn name(&self) -> &str {
        self.path.as_deref().unwrap_or("stdin")
    }
}

/// The files that make one backup, in the order they are restored: the one with the indexes
/// and UDFs first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSet {
    pub files: Vec<BackupFile>,
    /// The manifests read (path, manifest): one, or one per shard. Empty: a backup without a
    /// manifest, whose integrity nothing can check.
    pub manifests: Vec<(String, Manifest)>,
    /// Why this is not a whole backup, when opened with `allow_incomplete` (empty: whole as far
    /// as its layout tells).
    pub incomplete: Vec<String>,
}

impl BackupSet {
    /// Opens a backup: lists its files and refuses what is not whole (unless
    /// `allow_incomplete`, which keeps the reasons in [`BackupSet::incomplete`]).
    pub fn open(
        source: &Source,
        storage: &dyn Storage,
        allow_incomplete: bool,
    ) -> Result<BackupSet, BackupError> {
        let mut set = BackupSet {
            files: Vec::new(),
            manifests: Vec::new(),
            incomplete: Vec::new(),
        };
        match source {
            Source::Stdin => set.files.push(BackupFile {
                path: None,
                size: None,
                entry: None,
            }),
            Source::File(p) => set.add_file(p, storage, allow_incomplete)?,
            Source::Dir(d) => set.add_dirs(std::slice::from_ref(d), storage, allow_incomplete)?,
            Source::DirList(ds) => set.add_dirs(ds, storage, allow_incomplete)?,
        }
        Ok(set)
    }

    /// Whether a manifest describes the backup (its digests can be checked).
    pub fn has_manifest(&self) -> bool {
        !self.manifests.is_empty()
    }

    /// How the backup's files are stored, as its manifest says.
    pub fn stored(&self) -> Option<&manifest::Stored> {
        self.manifests.first().map(|(_, m)| &m.stored)
    }

    /// Records in all, as the manifests say.
    pub fn manifest_records(&self) -> Option<u64> {
        self.has_manifest()
            .then(|| self.manifests.iter().map(|(_, m)| m.totals.records).sum())
    }

    /// Bytes in all, when every size is known.
    pub fn total_size(&self) -> Option<u64> {
        self.files.iter().map(|f| f.size).sum()
    }

    /// One file, with the manifest beside it (FILE.manifest) if there is one.
    fn add_file(
        &mut self,
        path: &str,
        storage: &dyn Storage,
        allow_incomplete: bool,
    ) -> Result<(), BackupError> {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (if d.is_empty() { "/" } else { d }, n),
            None => (".", path),
        };
        let mut file = BackupFile {
            path: Some(path.to_string()),
            size: storage.size(path),
            entry: None,
        };
        let mpath = manifest::beside(path);
        let mname = manifest::beside(name);
        // A listing tells whether it is there (a cloud's read does not tell missing from failed).
        let listed = storage.list(dir)?;
        if let Some(e) = listed.iter().find(|e| e.name == name) {
            file.size = Some(e.size);
        }
        if listed.iter().any(|e| e.name == mname) {
            let m = read_manifest(&mpath, storage)?;
            let entries = [Entry {
                name: name.to_string(),
                size: file.size.unwrap_or(0),
            }];
            // The manifest's one file is this one, under whatever name it now has.
            let mut m2 = m.clone();
            if let [only] = m2.files.as_mut_slice() {
                only.name = name.to_string();
            }
            let problems = manifest::check_dir(&[(mname.clone(), m2.clone())], &entries);
            if !problems.is_empty() {
                let e = BackupError::NotWhole {
                    dir: path.to_string(),
                    problems,
                };
                if !allow_incomplete {
                    return Err(e);
                }
                self.incomplete.push(e.to_string());
            }
            file.entry = m2.files.first().cloned();
            self.manifests.push((mpath, m));
        }
        self.files.push(file);
        Ok(())
    }

    /// The files of one or several directories, in order; their manifests, if any, are
    /// checked together (the shards of one backup may sit in several directories).
    fn add_dirs(
        &mut self,
        dirs: &[String],
        storage: &dyn Storage,
        allow_incomplete: bool,
    ) -> Result<(), BackupError> {
        let mut manifests = Vec::new();
        let mut problems = Vec::new();
        for dir in dirs {
            let layout = DirLayout::read(dir, storage)?;
            if let Some(e) = layout.unfinished(dir, storage) {
                if !allow_incomplete {
                    return Err(e);
                }
                self.incomplete.push(e.to_string());
            }
            if layout.files.is_empty() {
                return Err(BackupError::NoFiles(dir.to_string()));
            }
            // Each directory against its own manifests (two directories may both hold a
            // test_00000.asb, of two backups).
            let here = layout.read_manifests(dir, storage)?;
            problems.extend(manifest::check_files(&here, &layout.files));
            self.files
                .extend(layout.files.into_iter().map(|e| BackupFile {
                    entry: here.iter().find_map(|(_, m)| m.file(&e.name).cloned()),
                    path: Some(join(dir, &e.name)),
                    size: Some(e.size),
                }));
            manifests.extend(here.into_iter().map(|(n, m)| (join(dir, &n), m)));
        }
        if manifests.is_empty() {
            return Ok(());
        }
        // A directory without a manifest among directories with: unproved, so not whole.
        if self.files.iter().any(|f| f.entry.is_none()) && problems.is_empty() {
            problems.push("some of its files are in no manifest".into());
        }
        problems.extend(manifest::check_shards(&manifests));
        self.manifests = manifests;
        if !problems.is_empty() {
            let e = BackupError::NotWhole {
                dir: dirs.join(", "),
                problems,
            };
            if !allow_incomplete {
                return Err(e);
            }
            self.incomplete.push(e.to_string());
        }
        Ok(())
    }
}

/// `dir/name`, for a local path or a prefix URL.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// The files of one directory, sorted into the backup's order, and what else it holds.
#[derive(Debug, Default)]
pub struct DirLayout {
    /// The backup files, metadata first.
    pub files: Vec<Entry>,
    /// Unfinished-backup markers (`PREFIX.asb.incomplete`).
    pub markers: Vec<String>,
    /// Resume states (`PREFIX.asb.state`).
    pub states: Vec<String>,
    /// Manifests (`PREFIX.manifest`).
    pub manifests: Vec<String>,
    /// Inventories of a catalog's backups (`PREFIX.inventory`).
    pub inventories: Vec<String>,
}

impl DirLayout {
    pub fn read(dir: &str, storage: &dyn Storage) -> Result<DirLayout, BackupError> {
        Ok(DirLayout::of(storage.list(dir)?))
    }

    /// The layout of a directory's entries.
    pub fn of(mut entries: Vec<Entry>) -> DirLayout {
        let mut l = DirLayout::default();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for e in entries {
            let n = &e.name;
            if n.starts_with('.') {
                // A file being written (.NAME.asb.partial), a temporary manifest: not the backup.
                continue;
            }
            if n.ends_with(layout::INCOMPLETE) {
                l.markers.push(e.name);
            } else if n.ends_with(layout::DIR_STATE) {
                l.states.push(e.name);
            } else if n.ends_with(manifest::SUFFIX) {
                l.manifests.push(e.name);
            } else if n.ends_with(crate::catalog::inventory::SUFFIX) {
                l.inventories.push(e.name);
            } else if n.ends_with(layout::ASB) {
                l.files.push(e);
            }
        }
        // absctl writes the indexes and UDFs into their own file: restored first.
        l.files.sort_by_key(|e| !e.name.starts_with("metadata"));
        l
    }

    /// Every name that belongs to a backup: its files, markers, states, manifests and
    /// inventories; with
    /// `prefix`, only those of the backup with that prefix (`PREFIX_*`, `PREFIX.*`), as the
    /// shards of a backup share a directory. What a writer clears before a new backup.
    pub fn names(&self, prefix: Option<&str>) -> Vec<&str> {
        let ours = |n: &&str| {
            prefix.is_none_or(|p| n.strip_prefix(p).is_some_and(|r| r.starts_with(['_', '.'])))
        };
        self.files
            .iter()
            .map(|e| e.name.as_str())
            .chain(self.markers.iter().map(String::as_str))
            .chain(self.states.iter().map(String::as_str))
            .chain(self.manifests.iter().map(String::as_str))
            .chain(self.inventories.iter().map(String::as_str))
            .filter(ours)
            .collect()
    }

    /// Why the directory is not a finished backup, if it is not: its marker (with the reason
    /// written in it) or a resume state.
    fn unfinished(&self, dir: &str, storage: &dyn Storage) -> Option<BackupError> {
        let marker = self.markers.first().or(self.states.first())?;
        let why = if self.markers.is_empty() {
            String::new()
        } else {
            let text = storage.read_small(&join(dir, marker)).unwrap_or_default();
            let text = String::from_utf8_lossy(&text).trim().to_string();
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        };
        // The state a resume starts from: in the directory, or (cloud prefixes) where the
        // backup was started, under the same prefix.
        let prefix = marker
            .strip_suffix(layout::INCOMPLETE)
            .or_else(|| marker.strip_suffix(layout::DIR_STATE))
            .unwrap_or(marker);
        let state = format!("{prefix}{}", layout::DIR_STATE);
        let hint = if self.states.contains(&state) {
            format!("resume it with --continue {}", join(dir, &state))
        } else {
            format!("resume it with --continue and its state file (by default {state})")
        };
        Some(BackupError::Unfinished {
            dir: dir.to_string(),
            marker: marker.clone(),
            why,
            hint,
        })
    }

    /// The manifests, read and parsed (name, manifest).
    pub fn read_manifests(
        &self,
        dir: &str,
        storage: &dyn Storage,
    ) -> Result<Vec<(String, Manifest)>, BackupError> {
        let mut out = Vec::new();
        for name in &self.manifests {
            let path = join(dir, name);
            match read_manifest(&path, storage) {
                Ok(m) => out.push((name.clone(), m)),
                // The shard manifests of the version before: they prove nothing of the files.
                Err(BackupError::Manifest { why, .. }) if why.contains(manifest::LEGACY_SHARD) => {
                    tracing::warn!("{path}: a shard manifest of an older version, ignored: the backup's files are not checked");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// A manifest, read and parsed; one that cannot be is an error naming it.
pub fn read_manifest(path: &str, storage: &dyn Storage) -> Result<Manifest, BackupError> {
    let text = storage.read_small(path)?;
    Manifest::parse(&text).map_err(|e| BackupError::Manifest {
        path: path.to_string(),
        why: e.to_string(),
    })
}

/// Local directories and files.
pub struct LocalStorage;

impl Storage for LocalStorage {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        let err = |e: std::io::Error| StorageError(format!("cannot list {dir}: {e}"));
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir).map_err(err)? {
            let e = e.map_err(err)?;
            // Following links: a linked file is a file of the backup, a broken link named as
            // one is an error.
            let meta = match std::fs::metadata(e.path()) {
                Ok(m) => m,
                Err(_) if !e.file_name().to_string_lossy().ends_with(layout::ASB) => continue,
                Err(x) => return Err(err(x)),
            };
            if meta.is_file() {
                v.push(Entry {
                    name: e.file_name().to_string_lossy().into_owned(),
                    size: meta.len(),
                });
            }
        }
        Ok(v)
    }

    fn read_small(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        std::fs::read(path).map_err(|e| StorageError(format!("cannot read {path}: {e}")))
    }

    fn is_dir(&self, path: &str) -> bool {
        Path::new(path).is_dir()
    }

    fn size(&self, path: &str) -> Option<u64> {
        std::fs::metadata(path).ok().map(|m| m.len())
    }

    fn dirs(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        let err = |e: std::io::Error| StorageError(format!("cannot list {dir}: {e}"));
        let mut v = Vec::new();
        for e in std::fs::read_dir(dir).map_err(err)? {
            let e = e.map_err(err)?;
            if e.path().is_dir() {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        v.sort();
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_storage::Mem;

    fn paths(s: &BackupSet) -> Vec<&str> {
        s.files.iter().map(BackupFile::name).collect()
    }

    fn open(m: &Mem, src: Source) -> Result<BackupSet, BackupError> {
        BackupSet::open(&src, m, false)
    }

    #[test]
    fn single_file_and_stdin() {
        let m = Mem::default();
        let s = open(&m, Source::File("b.asb".into())).unwrap();
        assert_eq!(paths(&s), ["b.asb"]);
        let s = open(&m, Source::Stdin).unwrap();
        assert_eq!(paths(&s), ["stdin"]);
        assert_eq!(s.total_size(), None);
    }

    #[test]
    fn a_directory_in_order_with_and_without_metadata() {
        let m = Mem::with(&[
            ("d/ns_00001.asb", "bb"),
            ("d/ns_00000.asb", "a"),
            ("d/.ns_00002.asb.partial", "x"),
            ("d/notes.txt", "x"),
        ]);
        let s = open(&m, Source::Dir("d/".into())).unwrap();
        assert_eq!(paths(&s), ["d/ns_00000.asb", "d/ns_00001.asb"]);
        assert_eq!(s.total_size(), Some(3));
        assert!(!s.has_manifest());

        // absctl: the metadata file first, whatever its name sorts as.
        let m = Mem::with(&[
            ("d/test_0_1.asb", ""),
            ("d/metadata_1.asb", ""),
            ("d/abc_0_1.asb", ""),
        ]);
        let s = open(&m, Source::Dir("d".into())).unwrap();
        assert_eq!(
            paths(&s),
            ["d/metadata_1.asb", "d/abc_0_1.asb", "d/test_0_1.asb"]
        );

        let m = Mem::with(&[("d/x.txt", "")]);
        let e = open(&m, Source::Dir("d".into())).unwrap_err();
        assert_eq!(e.to_string(), "d holds no *.asb files");
    }

    #[test]
    fn a_directory_list_is_one_backup() {
        let m = Mem::with(&[("a/ns_00000.asb", ""), ("b/ns_00000.asb", "")]);
        let s = open(&m, Source::DirList(vec!["a".into(), "b".into()])).unwrap();
        assert_eq!(paths(&s), ["a/ns_00000.asb", "b/ns_00000.asb"]);
        let m = Mem::with(&[("a/ns_00000.asb", ""), ("b/ns.asb.incomplete", "")]);
        assert!(open(&m, Source::DirList(vec!["a".into(), "b".into()])).is_err());
    }

    #[test]
    fn an_unfinished_backup_is_refused_unless_allowed() {
        let m = Mem::with(&[
            ("d/bar_00000.asb", ""),
            ("d/bar.asb.incomplete", "interrupted by SIGINT\n"),
            ("d/bar.asb.state", "..."),
        ]);
        let e = open(&m, Source::Dir("d".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "d holds an unfinished backup (bar.asb.incomplete: interrupted by SIGINT): resume it \
             with --continue d/bar.asb.state, or restore what is there with --allow-incomplete"
        );
        let s = BackupSet::open(&Source::Dir("d".into()), &m, true).unwrap();
        assert_eq!(paths(&s), ["d/bar_00000.asb"]);
        assert_eq!(s.incomplete.len(), 1);

        // A cloud prefix: the marker, with the state kept where the backup ran.
        let m = Mem::with(&[
            ("s3://b/p/bar_00000.asb", ""),
            ("s3://b/p/bar.asb.incomplete", ""),
        ]);
        let e = open(&m, Source::Dir("s3://b/p".into())).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "s3://b/p holds an unfinished backup (bar.asb.incomplete): resume it with \
                 --continue and its state file (by default bar.asb.state)"
            ),
            "{e}"
        );
        // A state alone: a resume is still due.
        let m = Mem::with(&[("d/bar_00000.asb", ""), ("d/bar.asb.state", "")]);
        let e = open(&m, Source::Dir("d".into())).unwrap_err();
        assert!(e.to_string().contains("(bar.asb.state)"), "{e}");
    }

    /// Shard K/N's manifest of its one empty file `sK_00000.asb`.
    fn manifest(k: u32, n: u32) -> String {
        let shard = crate::scope::Shard { k, n };
        let (begin, count) = shard.range();
        let scope = crate::scope::Scope {
            namespace: "test".into(),
            partitions: vec![crate::client::filter::PartFilter::Range { begin, count }],
            shard: Some(shard),
            ..Default::default()
        };
        crate::manifest::example(&format!("s{k}"), 0, scope).to_json()
    }

    #[test]
    fn sharded_directories_whole_missing_and_overlapping() {
        let m1 = manifest(1, 2);
        let m2 = manifest(2, 2);
        let whole = Mem::with(&[
            ("d/s1_00000.asb", ""),
            ("d/s2_00000.asb", ""),
            ("d/s1.manifest", &m1),
            ("d/s2.manifest", &m2),
        ]);
        let s = open(&whole, Source::Dir("d".into())).unwrap();
        assert_eq!(s.manifests.len(), 2);
        assert_eq!(paths(&s), ["d/s1_00000.asb", "d/s2_00000.asb"]);
        assert_eq!(s.files[1].entry.as_ref().unwrap().name, "s2_00000.asb");

        let missing = Mem::with(&[("d/s1_00000.asb", ""), ("d/s1.manifest", &m1)]);
        let e = open(&missing, Source::Dir("d".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "d is not a whole backup: shard 2/2 is missing (partitions 2048-4095)"
        );

        let twice = Mem::with(&[
            ("d/s1_00000.asb", ""),
            ("d/s2_00000.asb", ""),
            ("d/s1.manifest", &m1),
            ("d/s2.manifest", &m2),
            ("d/s3.manifest", &m2),
        ]);
        let e = open(&twice, Source::Dir("d".into())).unwrap_err();
        assert!(
            e.to_string().contains("overlap at partitions 2048-4095"),
            "{e}"
        );

        let file_gone = Mem::with(&[
            ("d/s1_00000.asb", ""),
            ("d/s1.manifest", &m1),
            ("d/s2.manifest", &m2),
        ]);
        let e = open(&file_gone, Source::Dir("d".into())).unwrap_err();
        assert!(
            e.to_string()
                .contains("s2_00000.asb is missing (listed in s2.manifest)"),
            "{e}"
        );

        // The shards of one backup in two directories (as two hosts wrote them).
        let apart = Mem::with(&[
            ("a/s1_00000.asb", ""),
            ("a/s1.manifest", &m1),
            ("b/s2_00000.asb", ""),
            ("b/s2.manifest", &m2),
        ]);
        let s = open(&apart, Source::DirList(vec!["a".into(), "b".into()])).unwrap();
        assert_eq!((s.manifests.len(), s.files.len()), (2, 2));
        let e = open(&apart, Source::Dir("a".into())).unwrap_err();
        assert!(e.to_string().contains("shard 2/2 is missing"), "{e}");

        let bad = Mem::with(&[("d/s1_00000.asb", ""), ("d/s1.manifest", "{}")]);
        let e = open(&bad, Source::Dir("d".into())).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("d/s1.manifest: not a backup manifest"),
            "{e}"
        );
    }

    #[test]
    fn the_names_of_a_backup_or_of_one_prefix() {
        let m = Mem::with(&[
            ("d/a_00000.asb", ""),
            ("d/ab_00000.asb", ""),
            ("d/a.asb.incomplete", ""),
            ("d/a.asb.state", ""),
            ("d/a.manifest", ""),
            ("d/ab.manifest", ""),
            ("d/.a_00001.asb.partial", ""),
            ("d/notes.txt", ""),
        ]);
        let l = DirLayout::read("d", &m).unwrap();
        assert_eq!(
            l.names(None),
            [
                "a_00000.asb",
                "ab_00000.asb",
                "a.asb.incomplete",
                "a.asb.state",
                "a.manifest",
                "ab.manifest"
            ]
        );
        assert_eq!(
            l.names(Some("a")),
            [
                "a_00000.asb",
                "a.asb.incomplete",
                "a.asb.state",
                "a.manifest"
            ]
        );
    }

    #[test]
    fn local_storage_lists_files_only() {
        let d = std::env::temp_dir().join(format!("as-backupset-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("ns_00000.asb"), "abc").unwrap();
        let dir = d.to_str().unwrap();
        let s = BackupSet::open(&Source::Dir(dir.into()), &LocalStorage, false).unwrap();
        assert_eq!(s.files.len(), 1);
        assert_eq!(s.files[0].size, Some(3));
        assert!(LocalStorage.is_dir(dir));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
