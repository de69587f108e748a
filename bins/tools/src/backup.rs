//! Reading a backup wherever it is: the storage behind [`as_common::backup::BackupSet`] for
//! local paths and the three clouds, the options that name a backup (`-i`, `-d`,
//! `--directory-list`, how its files are compressed and encrypted), and one file of it opened
//! as ASB text (downloaded, decrypted, decompressed).

use crate::cloud::{self, Url};
use anyhow::Context;
use as_cli::io::buffered;
use as_cli::{BadInput, Usage};
use as_common::backup::{BackupError, BackupFile, BackupSet, Entry, LocalStorage, Source};
use as_common::backup::{Storage, StorageError};
use as_common::crypt::{Decryptor, Key, Mode};
use as_common::manifest::{Digester, FileDigest, FileEntry};
use clap::ValueEnum;
use std::io::{self, BufRead, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    Zstd,
}

/// Whether `path` is an object store's URL (s3://, gs://, az://, Azure's https form).
pub fn is_cloud(path: &str) -> bool {
    Url::parse(path, true).is_ok()
}

/// The backup a path names: standard input (`-`), a directory or cloud prefix, or one file (a
/// cloud URL names one object when its parent lists an object of that name).
pub fn source_of(path: &str, reader: &cloud::Reader) -> anyhow::Result<Source> {
    Ok(match path {
        "-" => Source::Stdin,
        p if is_cloud(p) && !p.ends_with('/') => {
            let (parent, name) = p.rsplit_once('/').unwrap_or((p, ""));
            let listed = Stores::new(reader.clone())?.list(parent)?;
            match listed.iter().any(|e| e.name == name) {
                true => Source::File(p.into()),
                false => Source::Dir(p.into()),
            }
        }
        p if is_cloud(p) || Path::new(p).is_dir() => Source::Dir(p.into()),
        p => Source::File(p.into()),
    })
}

/// What kind of place a backup is in (the metrics' `destination` label): a directory or one
/// file (`-d`/`-o`, `-i` for a restore), `-` standard input or output, s3, gcs or azure for a
/// cloud URL of either; none of them, a record stream.
pub fn kind(directory: Option<&str>, file: Option<&str>, stdio: &'static str) -> &'static str {
    let place = directory.or(file);
    match place.map(|p| Url::parse(p, true)) {
        Some(Ok((url, _))) => match url.scheme {
            crate::cloud::Scheme::S3 => "s3",
            crate::cloud::Scheme::Gs => "gcs",
            crate::cloud::Scheme::Az => "azure",
        },
        _ if place == Some("-") => stdio,
        _ if directory.is_some() => "directory",
        _ if file.is_some() => "file",
        _ => "stream",
    }
}

/// The options that say which backup to read and how its files are written.
#[derive(clap::Args, Debug, Clone)]
pub struct BackupArgs {
    /// A backup directory: local, or a cloud prefix (s3://BUCKET/PREFIX, gs://..., az://...).
    /// Its *.asb files are restored as one backup, the file with the indexes and UDFs first;
    /// an unfinished backup (PREFIX.asb.incomplete, PREFIX.asb.state) or an incomplete set of
    /// shards is refused.
    #[arg(short = 'd', long, value_name = "DIR|URL", conflicts_with_all = ["input_file", "directory_list"])]
    pub directory: Option<String>,

    /// A backup file, or an object's URL; `-` is standard input.
    #[arg(
        short = 'i',
        long,
        value_name = "FILE|URL|-",
        conflicts_with = "directory_list"
    )]
    pub input_file: Option<String>,

    /// Several backup directories (comma-separated), restored as one backup.
    #[arg(long, value_delimiter = ',', value_name = "DIR,...")]
    pub directory_list: Vec<String>,

    /// The directory that --directory-list's directories are in.
    #[arg(long, value_name = "DIR", requires = "directory_list")]
    pub parent_directory: Option<String>,

    /// Read what is there of an unfinished backup (after saying what is missing).
    #[arg(long)]
    pub allow_incomplete: bool,

    /// The backup's files are compressed (as asbackup -z zstd writes them).
    #[arg(short = 'z', long, value_enum)]
    pub compress: Option<Compression>,

    /// The backup's files are encrypted (asbackup --encrypt).
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,

    #[command(flatten)]
    pub cloud: cloud::CloudArgs,
}

impl BackupArgs {
    /// The backup these options name; `None` when they name none (a record stream on stdin).
    pub fn source(&self) -> Option<Source> {
        if let Some(d) = &self.directory {
            return Some(Source::Dir(d.clone()));
        }
        if let Some(f) = &self.input_file {
            return Some(match f.as_str() {
                "-" => Source::Stdin,
                _ => Source::File(f.clone()),
            });
        }
        if self.directory_list.is_empty() {
            return None;
        }
        let dirs = self
            .directory_list
            .iter()
            .map(|d| match &self.parent_directory {
                Some(p) => as_common::backup::join(p, d),
                None => d.clone(),
            });
        Some(Source::DirList(dirs.collect()))
    }

    pub fn reader(&self) -> cloud::Reader {
        cloud::Reader {
            s3: self.s3.clone(),
            cloud: self.cloud.clone(),
        }
    }

    /// Opens the backup: its files, in order, or one line saying why it is not whole.
    pub fn open(&self, source: &Source) -> anyhow::Result<BackupSet> {
        open(source, &self.reader(), self.allow_incomplete)
    }

    /// How a file of this backup is read: as its manifest says, or the options.
    pub fn layers(&self, set: &BackupSet) -> anyhow::Result<Layers> {
        Layers::for_set(set, self.compress, &self.key, self.reader())
    }
}

/// Opens a backup through [`Stores`]; a backup that is not whole is bad input (exit 3).
pub fn open(source: &Source, reader: &cloud::Reader, allow: bool) -> anyhow::Result<BackupSet> {
    if let Source::Dir(d) | Source::File(d) = source {
        if !is_cloud(d) && !Path::new(d).exists() {
            return Err(Usage(format!("{d} does not exist")).into());
        }
    }
    if let Source::File(f) = source {
        if !is_cloud(f) && Path::new(f).is_dir() {
            return Err(Usage(format!("{f} is a directory: give it with -d")).into());
        }
    }
    let stores = Stores::new(reader.clone())?;
    BackupSet::open(source, &stores, allow).map_err(|e| match e {
        BackupError::Storage(s) => anyhow::anyhow!(s),
        e => BadInput(e.to_string()).into(),
    })
}

/// Local directories and the clouds' prefixes, behind one [`Storage`].
pub struct Stores {
    reader: cloud::Reader,
    rt: tokio::runtime::Runtime,
    /// The last tree listed by `dirs` (a catalog's): the URL and its keys, from which the
    /// listings of its backups are answered (a cloud lists a prefix whole, at any depth: one
    /// listing of a catalog, not one more per backup).
    tree: std::sync::Mutex<Option<(String, Keys)>>,
}

/// Keys of a bucket and their sizes.
type Keys = Vec<(String, u64)>;

impl Stores {
    pub fn new(reader: cloud::Reader) -> anyhow::Result<Stores> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Stores {
            reader,
            rt,
            tree: Default::default(),
        })
    }

    /// Every key under the prefix `dir` (from the tree listed last when it holds `dir`).
    fn keys(&self, dir: &str) -> Result<Keys, StorageError> {
        let err = |e: anyhow::Error| StorageError(as_cli::io::one_line(&e));
        if let Some((root, keys)) = &*self.tree.lock().unwrap() {
            if dir
                .strip_prefix(root.as_str())
                .is_some_and(|r| r.starts_with('/'))
            {
                let (u, _) = Url::parse(dir, true).map_err(err)?;
                let under = as_common::backup::join(&u.key, "");
                return Ok(keys
                    .iter()
                    .filter(|(k, _)| k.starts_with(&under))
                    .cloned()
                    .collect());
            }
        }
        self.rt.block_on(self.reader.list_sized(dir)).map_err(err)
    }
}

impl Storage for Stores {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        if !is_cloud(dir) {
            return LocalStorage.list(dir);
        }
        let err = |e: anyhow::Error| StorageError(as_cli::io::one_line(&e));
        let (u, _) = Url::parse(dir, true).map_err(err)?;
        Ok(children(&u.key, self.keys(dir)?))
    }

    fn read_small(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        if !is_cloud(path) {
            return LocalStorage.read_small(path);
        }
        let mut out = Vec::new();
        self.rt
            .block_on(self.reader.read(path, &mut out))
            .map_err(|e| StorageError(as_cli::io::one_line(&e)))?;
        Ok(out)
    }

    fn is_dir(&self, path: &str) -> bool {
        is_cloud(path) || LocalStorage.is_dir(path)
    }

    fn size(&self, path: &str) -> Option<u64> {
        (!is_cloud(path)).then(|| LocalStorage.size(path)).flatten()
    }

    fn dirs(&self, dir: &str) -> Result<Vec<String>, StorageError> {
        if !is_cloud(dir) {
            return LocalStorage.dirs(dir);
        }
        let err = |e: anyhow::Error| StorageError(as_cli::io::one_line(&e));
        let (u, _) = Url::parse(dir, true).map_err(err)?;
        let keys = self.rt.block_on(self.reader.list_sized(dir)).map_err(err)?;
        let prefix = as_common::backup::join(&u.key, "");
        let mut v: Vec<String> = keys
            .iter()
            .filter_map(|(k, _)| {
                let (first, _) = k.strip_prefix(&prefix)?.split_once('/')?;
                (!first.is_empty()).then(|| first.to_string())
            })
            .collect();
        v.sort();
        v.dedup();
        *self.tree.lock().unwrap() = Some((dir.trim_end_matches('/').to_string(), keys));
        Ok(v)
    }
}

/// The objects directly under the prefix `key` (a listing is recursive: keys of the whole
/// bucket under it), as a directory's entries; `key` with or without its trailing `/`.
pub fn children(key: &str, keys: Vec<(String, u64)>) -> Vec<Entry> {
    // `KEY/` (the bucket's root: nothing).
    let prefix = as_common::backup::join(key, "");
    keys.into_iter()
        .filter_map(|(k, size)| {
            let name = k.strip_prefix(&prefix)?;
            (!name.is_empty() && !name.contains('/')).then(|| Entry {
                name: name.to_string(),
                size,
            })
        })
        .collect()
}

/// How the files of a backup are read: downloaded if in a cloud, decrypted, decompressed; with
/// a manifest, each file's digests checked as it is read.
#[derive(Clone)]
pub struct Layers {
    pub compress: Option<Compression>,
    pub key: Option<Arc<Key>>,
    pub reader: cloud::Reader,
    /// Check each file's size and digests against its manifest entry (at its end).
    pub check: bool,
}

impl Layers {
    /// The layers the options ask for (the key read now: a bad one is a usage error).
    pub fn new(
        compress: Option<Compression>,
        key: &crate::keys::KeyArgs,
        reader: cloud::Reader,
    ) -> anyhow::Result<Layers> {
        Ok(Layers {
            compress,
            key: key.key()?.map(Arc::new),
            reader,
            check: false,
        })
    }

    /// The layers of a backup: what its manifest says (an option that disagrees is refused;
    /// the key given must be the one whose check value it records), else the options.
    pub fn for_set(
        set: &BackupSet,
        compress: Option<Compression>,
        key: &crate::keys::KeyArgs,
        reader: cloud::Reader,
    ) -> anyhow::Result<Layers> {
        let Some(stored) = set.stored() else {
            return Layers::new(compress, key, reader);
        };
        // One way of reading for all the files: backups stored otherwise are read apart.
        if let Some((path, _)) = set.manifests.iter().find(|(_, m)| m.stored != *stored) {
            return Err(Usage(format!(
                "{path} says its files are stored otherwise than {}'s (compression, encryption or key): restore or verify them apart",
                set.manifests[0].0
            ))
            .into());
        }
        let mode = stored
            .encryption
            .as_deref()
            .map(|m| {
                Mode::parse(m).ok_or_else(|| {
                    BadInput(format!("the manifest names an unknown encryption {m:?}"))
                })
            })
            .transpose()?;
        let key = key.key_for(Some(mode))?;
        if let (Some(k), Some(want)) = (&key, &stored.key_check) {
            if &k.check_value() != want {
                return Err(Usage(format!(
                    "the key given is not the backup's (its check value is {}, the manifest's {want})",
                    k.check_value()
                ))
                .into());
            }
        }
        let zstd = match stored.compression.as_deref() {
            None => None,
            Some("zstd") => Some(Compression::Zstd),
            Some(c) => {
                return Err(
                    BadInput(format!("the manifest names an unknown compression {c:?}")).into(),
                )
            }
        };
        if compress.is_some() && zstd.is_none() {
            return Err(Usage(
                "-z given, but the backup's manifest says it is not compressed".into(),
            )
            .into());
        }
        Ok(Layers {
            compress: zstd,
            key: key.map(Arc::new),
            reader,
            check: true,
        })
    }

    /// The file as ASB text. `read` counts the bytes taken from storage (for progress).
    pub fn open(
        &self,
        file: &BackupFile,
        read: Option<Arc<AtomicU64>>,
    ) -> anyhow::Result<Box<dyn Read + Send>> {
        let raw = self.open_stored(file)?;
        let raw: Box<dyn Read + Send> = match read {
            Some(n) => Box::new(Counted { inner: raw, n }),
            None => raw,
        };
        let raw: Box<dyn Read + Send> = match (&file.entry, self.check) {
            (Some(e), true) => Box::new(Checked::new(raw, file.name(), e.clone(), self.mac_key())),
            _ => raw,
        };
        self.over(raw)
    }

    /// The file's stored bytes (downloaded if in a cloud), as they are.
    pub fn open_stored(&self, file: &BackupFile) -> anyhow::Result<Box<dyn Read + Send>> {
        Ok(match file.path.as_deref() {
            None => Box::new(as_cli::signals::Interruptible(io::stdin())),
            Some(url) if is_cloud(url) => Box::new(Download::start(self.reader.clone(), url)?),
            Some(p) => {
                Box::new(std::fs::File::open(p).with_context(|| format!("cannot open {p}"))?)
            }
        })
    }

    /// Why a file that failed to read is damaged, if its digest says so (read again whole):
    /// a reader's error then names the cause, not only its symptom.
    pub fn damaged(&self, file: &BackupFile) -> Option<String> {
        let entry = file.entry.as_ref()?;
        let digest = Digester::of(self.open_stored(file).ok()?, self.mac_key().as_ref()).ok()?;
        mismatch(file.name(), entry, &digest)
    }

    /// The key of the files' HMAC, for an encrypted backup.
    pub fn mac_key(&self) -> Option<[u8; 32]> {
        self.key.as_ref().map(|k| k.mac_key())
    }

    /// The decryption and decompression asked for, over `input`.
    pub fn over(&self, input: Box<dyn Read + Send>) -> anyhow::Result<Box<dyn Read + Send>> {
        let raw: Box<dyn BufRead + Send> = match &self.key {
            Some(k) => Box::new(buffered(Decryptor::new(buffered(input), k)?)),
            None => Box::new(buffered(input)),
        };
        Ok(match self.compress {
            None => Box::new(raw),
            Some(Compression::Zstd) => Box::new(
                zstd::stream::read::Decoder::with_buffer(raw)
                    .context("cannot start the zstd decoder")?,
            ),
        })
    }
}

/// A file read through, its digests compared with its manifest entry at its end: a mismatch is
/// an error there (invalid data), which every reader of the file reports with the file's name.
pub struct Checked {
    inner: Box<dyn Read + Send>,
    digester: Option<Digester>,
    name: String,
    entry: FileEntry,
}

impl Checked {
    pub fn new(
        inner: Box<dyn Read + Send>,
        name: &str,
        entry: FileEntry,
        mac_key: Option<[u8; 32]>,
    ) -> Checked {
        Checked {
            inner,
            digester: Some(Digester::new(mac_key.as_ref())),
            name: name.to_string(),
            entry,
        }
    }
}

/// What is wrong with a file whose bytes hash to `d`, against its manifest entry (None: nothing).
pub fn mismatch(name: &str, entry: &FileEntry, d: &FileDigest) -> Option<String> {
    if d.size != entry.size {
        return Some(format!(
            "{name}: {} bytes, the manifest says {} (truncated or replaced)",
            d.size, entry.size
        ));
    }
    if d.sha256 != entry.sha256 {
        return Some(format!(
            "{name}: damaged: its SHA-256 is not the manifest's"
        ));
    }
    match (&d.hmac, &entry.hmac) {
        (Some(got), Some(want)) if got != want => Some(format!(
            "{name}: tampered: its SHA-256 is the manifest's but its HMAC is not (the file and the manifest were changed together)"
        )),
        // Read with the key of an encrypted backup: its entry must carry the HMAC.
        (Some(_), None) => Some(format!(
            "{name}: tampered: its manifest entry has no HMAC, which an encrypted backup's always has"
        )),
        _ => None,
    }
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(d) = &mut self.digester {
            d.update(&buf[..n]);
            if n == 0 && !buf.is_empty() {
                let digest = self.digester.take().expect("some").finish();
                if let Some(why) = mismatch(&self.name, &self.entry, &digest) {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, BadInput(why)));
                }
            }
        }
        Ok(n)
    }
}

/// Counts the bytes read.
struct Counted {
    inner: Box<dyn Read + Send>,
    n: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.n.fetch_add(got as u64, Ordering::Relaxed);
        Ok(got)
    }
}

/// An object streamed from a download thread (which resumes broken reads) through a pipe; the
/// download's failure, if any, is what the reader sees at the end.
pub struct Download {
    pipe: io::PipeReader,
    fetch: Option<JoinHandle<anyhow::Result<u64>>>,
}

impl Download {
    pub fn start(reader: cloud::Reader, url: &str) -> anyhow::Result<Download> {
        let (r, mut w) = io::pipe()?;
        let url = url.to_string();
        let fetch = std::thread::spawn(move || -> anyhow::Result<u64> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(reader.read(&url, &mut w))
        });
        Ok(Download {
            pipe: r,
            fetch: Some(fetch),
        })
    }

    /// The download's outcome: its error, once it ended. (Not after an interrupted read: the
    /// download may be blocked on the pipe, and the caller is stopping.)
    fn outcome(&mut self) -> io::Result<()> {
        match self.fetch.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(io::Error::other(as_cli::io::one_line(&e))),
            Some(Err(_)) => Err(io::Error::other("the download failed")),
            _ => Ok(()),
        }
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.pipe.read(buf) {
            Ok(0) if !buf.is_empty() => self.outcome().map(|()| 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => self.outcome().and(Err(e)),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_lists_its_own_objects_only() {
        let keys = |v: &[&str]| v.iter().map(|k| (k.to_string(), 7)).collect::<Vec<_>>();
        let listed = keys(&["p/a.asb", "p/sub/b.asb", "p/", "pq/c.asb", "p/m.manifest"]);
        let names: Vec<String> = children("p/", listed.clone())
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["a.asb", "m.manifest"]);
        assert_eq!(children("p", listed).len(), 2);
        let root = children("", keys(&["a.asb", "d/b.asb"]));
        assert_eq!(
            root,
            [Entry {
                name: "a.asb".into(),
                size: 7
            }]
        );
        assert!(is_cloud("s3://b/p") && is_cloud("gs://b") && !is_cloud("/tmp/b"));
    }
}
