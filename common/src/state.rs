//! The state of an interrupted directory backup, from which `--continue` finishes it.
//!
//! Only what is durable is claimed: the stage that completes files (as-split) records a
//! partition's progress once the files holding its records are complete and synced, or uploaded.
//! The scanner reads the state to skip finished partitions and to resume the others after their
//! last durable digest. The file is replaced atomically (written beside, synced, renamed), so a
//! state read after any crash is one that was whole when written.

use crate::client::filter::Work;
use crate::record::{DIGEST_LEN, PARTITIONS};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 16] = b"as-tools state\n\x00";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the state file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a backup state file of this toolkit")]
    Foreign { path: String },
    #[error("the state file {path} is damaged ({why})")]
    Corrupt { path: String, why: String },
    #[error("the state file {path} is of version {version}; this tool reads version {VERSION}")]
    Version { path: String, version: u32 },
}

/// How far a partition has been backed up durably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Progress {
    #[default]
    NotStarted,
    /// Records up to and including this digest are in complete files.
    After(#[serde(with = "serde_bytes")] [u8; DIGEST_LEN]),
    Complete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupState {
    pub namespace: String,
    /// File-name prefix of the backup's files.
    pub prefix: String,
    /// What was backed up, as the scanner described it: a resume must describe the same.
    pub scope: String,
    /// Progress of each of the 4096 partitions.
    pub partitions: Vec<Progress>,
    /// How many files (or segments of the one file) are complete, synced or uploaded. A count,
    /// not a list: the state is rewritten per file and must not grow with the backup.
    pub files: u64,
    /// Numbers of files opened and not committed: they may hold a leftover that a resume must
    /// remove or overwrite.
    pub open: Vec<u64>,
    /// The next file number never handed out.
    pub next_number: u64,
    /// Whether a complete file carries `# first-file` and the index and UDF definitions.
    pub first_file_done: bool,
    /// Records and bytes in the complete files.
    pub records: u64,
    pub bytes: u64,
    /// How many times the backup was resumed.
    pub resumes: u32,
    /// A single-file backup: the length of its partial file that is complete (a resume cuts
    /// what lies beyond and appends).
    #[serde(default)]
    pub file_len: u64,
    /// What the backup is written into (a resume must be written into the same).
    #[serde(default)]
    pub kind: Kind,
    /// When the first run's scan started (the manifest's `started`).
    #[serde(default)]
    pub started: Option<String>,
    /// Records of each partition in the complete files (empty in states from before it was
    /// kept).
    #[serde(default)]
    pub counts: Vec<u64>,
    /// The complete files, as the manifest lists them (a directory's or a sink's).
    #[serde(default)]
    pub entries: Vec<crate::manifest::FileEntry>,
    /// The indexes and UDF modules of the first file, once it is complete.
    #[serde(default)]
    pub indexes: Vec<String>,
    #[serde(default)]
    pub udfs: Vec<String>,
    /// The backup's place in a catalog, as its first run was told.
    #[serde(default)]
    pub catalog: Option<crate::manifest::CatalogInfo>,
}

/// What a backup is written into; kept in the state as its name, so states stay readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Kind {
    /// A state from before the kind was recorded.
    #[default]
    Unrecorded,
    /// Files `PREFIX_NNNNN.asb` in a directory.
    Directory,
    /// One file, appended to on resume.
    File,
    /// Each file piped into a command (an upload).
    Sink,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Unrecorded => "",
            Kind::Directory => "directory",
            Kind::File => "file",
            Kind::Sink => "sink",
        }
    }
}

impl From<Kind> for String {
    fn from(k: Kind) -> String {
        k.name().into()
    }
}

impl TryFrom<String> for Kind {
    type Error = String;
    fn try_from(s: String) -> Result<Kind, String> {
        [Kind::Unrecorded, Kind::Directory, Kind::File, Kind::Sink]
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown backup kind {s:?}"))
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl BackupState {
    pub fn new(namespace: &str, prefix: &str, scope: &str) -> Self {
        BackupState {
            namespace: namespace.into(),
            prefix: prefix.into(),
            scope: scope.into(),
            partitions: vec![Progress::NotStarted; PARTITIONS as usize],
            files: 0,
            open: Vec::new(),
            next_number: 0,
            first_file_done: false,
            records: 0,
            bytes: 0,
            resumes: 0,
            file_len: 0,
            kind: Kind::Unrecorded,
            started: None,
            counts: vec![0; PARTITIONS as usize],
            entries: Vec::new(),
            indexes: Vec::new(),
            udfs: Vec::new(),
            catalog: None,
        }
    }

    /// Partitions not yet complete.
    pub fn remaining(&self) -> usize {
        self.partitions
            .iter()
            .filter(|p| **p != Progress::Complete)
            .count()
    }

    /// Narrows scan jobs to what is left: complete partitions dropped, started ones resumed
    /// after their last durable digest; jobs left empty are dropped.
    pub fn narrow(&self, jobs: Vec<Vec<Work>>) -> Vec<Vec<Work>> {
        jobs.into_iter()
            .map(|job| {
                job.into_iter()
                    .filter_map(|(p, after)| match self.partitions[p as usize] {
                        Progress::Complete => None,
                        Progress::After(d) => Some((p, Some(d))),
                        Progress::NotStarted => Some((p, after)),
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|j| !j.is_empty())
            .collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        let body = rmp_serde::to_vec(self).expect("state serializes");
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        out
    }

    pub fn from_bytes(b: &[u8], path: &str) -> Result<Self, StateError> {
        let corrupt = |why: &str| StateError::Corrupt {
            path: path.into(),
            why: why.into(),
        };
        let rest = b
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| StateError::Foreign { path: path.into() })?;
        if rest.len() < 8 {
            return Err(corrupt("truncated"));
        }
        let version = u32::from_le_bytes(rest[..4].try_into().unwrap());
        if version != VERSION {
            return Err(StateError::Version {
                path: path.into(),
                version,
            });
        }
        let (body, crc) = rest[4..].split_at(rest.len() - 8);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return Err(corrupt("checksum mismatch"));
        }
        let s: BackupState = rmp_serde::from_slice(body).map_err(|e| corrupt(&e.to_string()))?;
        if s.partitions.len() != PARTITIONS as usize {
            return Err(corrupt("wrong partition count"));
        }
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Self, StateError> {
        let name = path.display().to_string();
        let b = std::fs::read(path).map_err(|source| StateError::Read {
            path: name.clone(),
            source,
        })?;
        Self::from_bytes(&b, &name)
    }

    /// Replaces the file at `path` with this state: written beside it, synced, renamed over
    /// it, and the directory synced, so the old state stays whole until the new one is.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: path.display().to_string(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path.file_name().ok_or_else(|| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
        let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        let written = f
            .write_all(&self.to_bytes())
            .and_then(|_| f.sync_all())
            .and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e));
        }
        sync_dir(dir).map_err(err)
    }
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BackupState {
        let mut s = BackupState::new("test", "test", "namespace=test");
        s.partitions[7] = Progress::Complete;
        s.partitions[9] = Progress::After([9; DIGEST_LEN]);
        s.files = 1;
        s.open.push(1);
        s.next_number = 2;
        s
    }

    #[test]
    fn round_trip_and_damage() {
        let s = sample();
        let b = s.to_bytes();
        assert_eq!(BackupState::from_bytes(&b, "x").unwrap(), s);
        let mut bad = b.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        assert!(matches!(
            BackupState::from_bytes(&bad, "x"),
            Err(StateError::Corrupt { .. })
        ));
        assert!(matches!(
            BackupState::from_bytes(&b[..b.len() - 3], "x"),
            Err(StateError::Corrupt { .. })
        ));
        assert!(matches!(
            BackupState::from_bytes(b"hello", "x"),
            Err(StateError::Foreign { .. })
        ));
    }

    #[test]
    fn narrow_skips_done_and_resumes_started() {
        let s = sample();
        let jobs = vec![vec![(7, None), (8, None), (9, None)], vec![(7, None)]];
        assert_eq!(
            s.narrow(jobs),
            vec![vec![(8, None), (9, Some([9; DIGEST_LEN]))]]
        );
    }

    #[test]
    fn save_replaces_atomically() {
        let dir = std::env::temp_dir().join(format!("state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("test.asb.state");
        let mut s = sample();
        s.save(&p).unwrap();
        s.records = 5;
        s.save(&p).unwrap();
        assert_eq!(BackupState::load(&p).unwrap().records, 5);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
