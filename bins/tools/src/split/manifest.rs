//! How as-split's files are stored (the options that describe the filter, or make it), and the
//! backup's manifest, written last once every file is complete.

use super::job::Job;
use super::landing::Landing;
use super::Args;
use crate::backup::Compression;
use anyhow::Context;
use as_cli::BadInput;
use as_common::catalog::inventory::{self, Inventory};
use as_common::crypt::Key;
use as_common::manifest::{
    self, CatalogInfo, ClusterInfo, FileEntry, InventoryEntry, Manifest, PartitionCounts, Stored,
    Totals,
};
use as_common::scope::Scope;
use as_common::state::BackupState;
use std::path::Path;

/// What the options say of the files: how to make them, and what the manifest records.
pub struct Storage {
    pub stored: Stored,
    pub key: Option<Key>,
}

/// The most zstd workers a file gets. One encoding thread makes about 700 MB/s of ASB and one
/// worker compresses about 200 MB/s of it at level 3 (docs/performance.md): with more workers
/// than that takes, they would only hold their buffers.
const ZSTD_THREADS: u32 = 4;

impl Storage {
    pub fn new(args: &Args) -> anyhow::Result<Storage> {
        let key = args.key.key()?;
        Ok(Storage {
            stored: Stored {
                compact: args.compact,
                compression: args.compress.map(|Compression::Zstd| "zstd".to_string()),
                compression_level: args.compress.map(|_| args.compression_level.unwrap_or(3)),
                encryption: key.as_ref().map(|k| k.mode().name().to_string()),
                key_check: key.as_ref().map(Key::check_value),
            },
            key,
        })
    }

    /// The stages of [`Storage::filter`], for as-split's own threads (--in-process). zstd gets
    /// the cores the files written at once leave it: all of them for the one file (-o FILE) and
    /// one each for as many files as cores, at most [`ZSTD_THREADS`].
    pub fn stages(&self, args: &Args) -> super::inprocess::Stages {
        let files = match args.output_file {
            Some(_) => 1,
            None => args.parallel,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        super::inprocess::Stages {
            compact: self.stored.compact,
            level: self.stored.compression_level,
            key: self.key.clone(),
            threads: (cores / files).clamp(1, ZSTD_THREADS),
        }
    }

    /// The filter that stores files so: `as-encode [--compact] [| as-zstd -l N] [| as-crypt
    /// ...]`; the one file's segments go on from what the file holds (as-crypt --append).
    pub fn filter(&self, args: &Args) -> String {
        let s = &self.stored;
        let mut f = String::from("as-encode");
        if s.compact {
            f += " --compact";
        }
        if let Some(level) = s.compression_level {
            f += &format!(" | as-zstd -l {level}");
        }
        if let Some(mode) = &s.encryption {
            f += &format!(" | as-crypt --encrypt {mode}");
            match (&args.key.encryption_key_file, &args.key.encryption_key_env) {
                (Some(file), _) => {
                    f += &format!(" --encryption-key-file {}", quote(&file.to_string_lossy()))
                }
                (None, Some(var)) => f += &format!(" --encryption-key-env {}", quote(var)),
                (None, None) => unreachable!("a mode needs a key (KeyArgs::key)"),
            }
            if args
                .output_file
                .as_ref()
                .is_some_and(|f| f.as_os_str() != "-")
            {
                f += r#" --append "$PARTIAL""#;
            }
        }
        f
    }
}

/// `s` as one word of a shell command.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The manifest of the backup `st` describes; `single`: the one file's entry (its files are
/// otherwise the state's).
pub fn build(
    job: &Job,
    st: &BackupState,
    storage: &Storage,
    single: Option<FileEntry>,
) -> Manifest {
    let header = &job.header;
    let origin = header.origin.as_ref();
    let files: Vec<FileEntry> = match single {
        Some(e) => vec![e],
        None => {
            let mut v = st.entries.clone();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v
        }
    };
    let sum = |f: fn(&FileEntry) -> u64| files.iter().map(f).sum::<u64>();
    let totals = Totals {
        files: files.len() as u64,
        bytes: sum(|f| f.size),
        records: sum(|f| f.records),
        indexes: sum(|f| f.indexes),
        udfs: sum(|f| f.udfs),
    };
    Manifest {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        tool: format!("as-split {}", as_common::VERSION),
        producer: header.producer.clone(),
        asb_version: as_common::asb::VERSION.into(),
        started: st.started.clone(),
        finished: manifest::now(),
        resumes: st.resumes,
        cluster: origin.map(|o| ClusterInfo {
            name: o.cluster.clone(),
            nodes: o.nodes.clone(),
        }),
        // A stream that does not say (as-decode's, as-gen's): its namespace.
        scope: origin.map(|o| o.scope.clone()).unwrap_or_else(|| Scope {
            namespace: st.namespace.clone(),
            ..Scope::default()
        }),
        stored: storage.stored.clone(),
        files,
        indexes: st.indexes.clone(),
        udfs: st.udfs.clone(),
        totals,
        partitions: PartitionCounts::from_vec(st.counts.clone()).unwrap_or_default(),
        catalog: st.catalog.clone(),
    }
}

/// Checks what the options say of the files against the first bytes of one (a `--filter`
/// given by hand): a zstd frame where no compression is said makes it zstd (level unknown).
/// False when the bytes are neither ASB nor zstd and the options do not say they are
/// encrypted: the manifest would misdescribe them.
pub fn sniff(stored: &mut Stored, path: &Path) -> anyhow::Result<bool> {
    if stored.encryption.is_some() {
        return Ok(true);
    }
    let mut head = Vec::new();
    {
        use std::io::Read;
        std::fs::File::open(path)
            .and_then(|f| f.take(8).read_to_end(&mut head))
            .with_context(|| format!("cannot read back {}", path.display()))?;
    }
    if head.starts_with(&as_common::stream::ZSTD_MAGIC) {
        if stored.compression.is_none() {
            stored.compression = Some("zstd".into());
        }
        return Ok(true);
    }
    Ok(stored.compression.is_none() && (head.starts_with(b"Version ") || head.is_empty()))
}

/// The backup's place in a catalog, from the options; the inventory, when given, is read
/// (refused if damaged), delivered where the files land (`PREFIX.inventory`) and described.
pub fn catalog_info(
    args: &Args,
    landing: &dyn Landing,
    prefix: &str,
) -> anyhow::Result<Option<CatalogInfo>> {
    let Some(kind) = args.catalog_kind else {
        return Ok(None);
    };
    let inventory = match &args.inventory {
        None => None,
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the inventory {}", path.display()))?;
            let inv = Inventory::read_from(&bytes[..])
                .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
            let name = format!("{prefix}{}", inventory::SUFFIX);
            if let Some(d) = &args.directory {
                write_atomically(&d.join(&name), &bytes)?;
            }
            landing
                .publish(&name, &bytes)
                .with_context(|| format!("cannot deliver the inventory {name}"))?;
            let digest = manifest::Digester::of(&bytes[..], None)?;
            Some(InventoryEntry {
                name,
                size: digest.size,
                sha256: digest.sha256,
                records: inv.len() as u64,
            })
        }
    };
    Ok(Some(CatalogInfo {
        kind,
        parent: args.catalog_parent.clone(),
        inventory,
    }))
}

/// Writes `bytes` at `path`: a temporary beside it, synced, renamed, the directory synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .context("the path names no file")?
        .to_string_lossy();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        as_common::state::sync_dir(dir)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
