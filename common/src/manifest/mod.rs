//! The manifest of a backup: what it is (tool, times, cluster, scope as data), how its files are
//! stored (compact, compression, encryption and a key check value), and per file the stored
//! size, the SHA-256 of the stored bytes (and for an encrypted backup an HMAC-SHA-256 keyed from
//! the encryption key), the records, indexes and UDFs, with the records of each partition. It is
//! written last, atomically, beside what it describes (`PREFIX.manifest` in a directory or cloud
//! prefix, `FILE.manifest` beside one file): a backup with one is whole and can be proved so
//! (as-verify); readers that predate it (asrestore, absctl) ignore it.

mod check;
mod counts;
mod digest;

pub use check::{check_dir, check_files, check_shards, covered};
pub use counts::PartitionCounts;
pub use digest::{Digester, FileDigest, HashingReader};

use crate::scope::Scope;
use serde::{Deserialize, Serialize};

/// What the `format` field says.
pub const FORMAT: &str = "as-tools backup manifest";
/// The version this toolkit writes; readers refuse a later one.
pub const VERSION: u32 = 1;
/// The format of the shard manifests of the version before this one (ignored by readers).
pub const LEGACY_SHARD: &str = "as-tools shard manifest 1";
/// The manifest's name beside a directory's files (PREFIX.manifest) or one file (FILE.manifest).
pub const SUFFIX: &str = ".manifest";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The tool that wrote the manifest and its version (`as-split 0.1.0`).
    pub tool: String,
    /// The tool that read the cluster (the stream header's producer).
    pub producer: String,
    /// The ASB format version of the files.
    pub asb_version: String,
    /// When the scan started, UTC RFC 3339 on the client's clock (a resumed backup: its first
    /// run's start). Absent when the stream did not say (a hand-made stream).
    #[serde(default)]
    pub started: Option<String>,
    /// When the manifest was written.
    pub finished: String,
    /// How many times the backup was resumed.
    #[serde(default)]
    pub resumes: u32,
    #[serde(default)]
    pub cluster: Option<ClusterInfo>,
    /// What was backed up.
    pub scope: Scope,
    pub stored: Stored,
    /// The backup's files, in the order they were numbered.
    pub files: Vec<FileEntry>,
    /// Names of the secondary indexes and UDF modules backed up (in the first file).
    pub indexes: Vec<String>,
    pub udfs: Vec<String>,
    pub totals: Totals,
    /// Records of each of the 4096 partitions.
    pub partitions: PartitionCounts,
    /// Its place in a catalog (`crate::catalog`): absent for a backup on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogInfo>,
}

/// A backup of a catalog: full or incremental, the backup an incremental follows (its
/// directory's name in the catalog), and the inventory taken at its start, when asked for.
/// (Every field always written: the state keeps this as positional MessagePack.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogInfo {
    pub kind: BackupKind,
    pub parent: Option<String>,
    #[serde(default)]
    pub inventory: Option<InventoryEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    Full,
    Incremental,
}

impl BackupKind {
    pub fn name(self) -> &'static str {
        match self {
            BackupKind::Full => "full",
            BackupKind::Incremental => "incremental",
        }
    }
}

/// The inventory file of a backup (`crate::catalog::inventory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// Records it lists.
    pub records: u64,
}

/// The cluster the backup was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub name: String,
    pub nodes: Vec<String>,
}

/// How the files are stored: the layers a reader must undo, in order (decrypt, decompress).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub compact: bool,
    /// `zstd`, or none.
    pub compression: Option<String>,
    pub compression_level: Option<i32>,
    /// `aes128` or `aes256`, or none.
    pub encryption: Option<String>,
    /// Identifies the key without revealing it (`crate::crypt::Key::check_value`).
    pub key_check: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    /// Bytes as stored.
    pub size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// HMAC-SHA-256 of the stored bytes keyed from the encryption key, hex (encrypted backups).
    /// Always written (null when none): the state keeps entries as positional MessagePack.
    #[serde(default)]
    pub hmac: Option<String>,
    pub records: u64,
    pub indexes: u64,
    pub udfs: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    pub records: u64,
    pub indexes: u64,
    pub udfs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a backup manifest: {0}")]
    Syntax(String),
    #[error("not a backup manifest (its format is {0:?})")]
    Foreign(String),
    #[error("a manifest of version {0}; this tool reads version {VERSION} and older")]
    Version(u32),
    #[error("the manifest contradicts itself: {0}")]
    Inconsistent(String),
}

impl Manifest {
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        // The format first: a foreign JSON file is told from a damaged manifest.
        let v: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            f => return Err(ManifestError::Foreign(f.unwrap_or("").to_string())),
        }
        let m: Manifest =
            serde_json::from_value(v).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        if m.version > VERSION {
            return Err(ManifestError::Version(m.version));
        }
        m.consistent()?;
        Ok(m)
    }

    /// The totals agree with the files and the partitions: an edit of one count is caught
    /// before any file is read.
    fn consistent(&self) -> Result<(), ManifestError> {
        let sum = |f: fn(&FileEntry) -> u64| self.files.iter().map(f).sum::<u64>();
        let t = &self.totals;
        let checks = [
            ("files", self.files.len() as u64, t.files),
            ("bytes", sum(|f| f.size), t.bytes),
            ("records", sum(|f| f.records), t.records),
            (
                "records of the partitions",
                self.partitions.total(),
                t.records,
            ),
            ("indexes", sum(|f| f.indexes), t.indexes),
            ("udfs", sum(|f| f.udfs), t.udfs),
        ];
        for (what, found, total) in checks {
            if found != total {
                return Err(ManifestError::Inconsistent(format!(
                    "its {what} add up to {found}, its totals say {total}"
                )));
            }
        }
        Ok(())
    }

    /// Pretty JSON, one field a line (the partition counts on one).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("serializable");
        s.push('\n');
        s
    }

    /// The entry of the file `name`.
    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The scope of the whole backup a shard belongs to: what the shards of one backup share.
    pub fn whole_scope(&self) -> Scope {
        self.scope.whole()
    }
}

/// `PATH.manifest`, the manifest beside one backup file.
pub fn beside(path: &str) -> String {
    format!("{path}{SUFFIX}")
}

/// Now, UTC RFC 3339 to the millisecond, as manifests and stream headers write times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A manifest of one file `NAME_00000.asb` of `size` bytes with `scope`.
#[cfg(test)]
pub(crate) fn example(name: &str, size: u64, scope: Scope) -> Manifest {
    Manifest {
        format: FORMAT.into(),
        version: VERSION,
        tool: "test".into(),
        producer: "test".into(),
        asb_version: "3.1".into(),
        started: None,
        finished: "2026-12-06T00:00:00.000Z".into(),
        resumes: 0,
        cluster: None,
        scope,
        stored: Stored::default(),
        files: vec![FileEntry {
            name: format!("{name}_00000.asb"),
            size,
            sha256: "00".into(),
            hmac: None,
            records: 0,
            indexes: 0,
            udfs: 0,
        }],
        indexes: vec![],
        udfs: vec![],
        totals: Totals {
            files: 1,
            bytes: size,
            ..Totals::default()
        },
        partitions: PartitionCounts::default(),
        catalog: None,
    }
}
