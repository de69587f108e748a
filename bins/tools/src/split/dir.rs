//! `PREFIX_NNNNN.asb` files in a directory: each written as `.PREFIX_NNNNN.asb.partial` by its
//! filter, synced and renamed into place once complete.

use super::follow::{self, Follow, Shared};
use super::job::Landed;
use super::landing::{Arrival, Landing, Output};
use super::resume;
use anyhow::{bail, Context};
use as_common::layout;
use as_common::manifest::{FileDigest, FileEntry};
use as_common::state::{self, BackupState, Kind};
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct Directory {
    dir: PathBuf,
    prefix: String,
    digests: Digests,
}

/// How the files get the digests their manifest lists.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Digests {
    /// Hashed as they land (not those of a filter given by hand: see [`Follow`]).
    AsTheyLand,
    /// Read back once synced.
    ReadBack,
    /// Not hashed (--no-manifest): a resume that writes a manifest reads them back then
    /// ([`Landing::fill_in`]).
    Skipped,
}

impl Directory {
    /// Creates the directory if missing.
    pub fn create(dir: &Path, prefix: &str, digests: Digests) -> anyhow::Result<Directory> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Directory {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            digests,
        })
    }

    fn marker(&self) -> PathBuf {
        layout::incomplete_marker(&self.dir, &self.prefix)
    }
}

impl Landing for Directory {
    fn kind(&self) -> Kind {
        Kind::Directory
    }

    fn default_state(&self) -> Option<PathBuf> {
        Some(layout::dir_state(&self.dir, &self.prefix))
    }

    fn fresh(&mut self, remove: bool, shard: bool) -> anyhow::Result<()> {
        // The shards of a backup share a directory: a shard minds only its own files.
        let there = resume::backup_files(&self.dir, shard.then_some(self.prefix.as_str()))?;
        if there.is_empty() {
            return Ok(());
        }
        if !remove {
            bail!(
                "directory {} seems to contain an existing backup; use -r to clear it, or --continue to resume it",
                self.dir.display()
            );
        }
        resume::remove_all(&there)
    }

    fn resume(&mut self, st: &mut BackupState) -> anyhow::Result<VecDeque<u64>> {
        for n in std::mem::take(&mut st.open) {
            let _ = std::fs::remove_file(self.dir.join(self.name(n)));
        }
        resume::remove_partials(&self.dir, &self.prefix)?;
        Ok(VecDeque::new())
    }

    fn name(&self, n: u64) -> String {
        layout::file_name(&self.prefix, n)
    }

    fn start(
        &self,
        name: &str,
        mac_key: Option<[u8; 32]>,
    ) -> anyhow::Result<(Output, Box<dyn Arrival>)> {
        let partial = self.dir.join(layout::partial_name(name));
        // Read too: a filter process's file is hashed as it lands (super::follow).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let output = Output::File {
            file: file.try_clone()?,
            partial: None,
        };
        let digest =
            (self.digests == Digests::AsTheyLand).then(|| follow::shared(mac_key.as_ref()));
        let arrival = Box::new(DirFile {
            follow: Follow::new(file.try_clone()?, 0, digest.clone()),
            digest,
            digests: self.digests,
            mac_key,
            file,
            partial: Some(partial),
            dir: self.dir.clone(),
            name: name.to_string(),
        });
        Ok((output, arrival))
    }

    fn fill_in(&self, files: &mut [FileEntry], mac_key: Option<&[u8; 32]>) -> anyhow::Result<()> {
        for f in files.iter_mut().filter(|f| f.sha256.is_empty()) {
            let d = follow::read_back(&self.dir.join(&f.name), mac_key)?;
            if d.size != f.size {
                bail!(
                    "{} changed since it was written ({} bytes, now {})",
                    f.name,
                    f.size,
                    d.size
                );
            }
            (f.sha256, f.hmac) = (d.sha256, d.hmac);
        }
        Ok(())
    }

    fn mark_incomplete(&self, text: &str) -> anyhow::Result<()> {
        let m = self.marker();
        std::fs::write(&m, text).with_context(|| format!("cannot write {}", m.display()))
    }

    fn clear_marker(&self) -> anyhow::Result<()> {
        let m = self.marker();
        match std::fs::remove_file(&m) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", m.display()))
            }
            _ => Ok(()),
        }
    }
}

/// A file the filter writes itself, as `partial` until it is renamed to `dir/name`.
struct DirFile {
    file: File,
    /// Kept until renamed: a failure before that removes it (abort).
    partial: Option<PathBuf>,
    dir: PathBuf,
    name: String,
    follow: Follow,
    /// Given when `digests` is [`Digests::AsTheyLand`].
    digest: Option<Shared>,
    digests: Digests,
    mac_key: Option<[u8; 32]>,
}

impl Arrival for DirFile {
    fn hashed_by_writer(&mut self) -> Option<Shared> {
        self.follow.give_digest()
    }

    fn landed(&mut self) -> u64 {
        self.follow.catch_up(false).unwrap_or(0)
    }

    /// The digest is of the file as it was written (by an in-process filter) or read back as it
    /// grew, or else read back once synced.
    fn finish(&mut self, written: anyhow::Result<()>) -> anyhow::Result<Landed> {
        written?;
        let p = self.partial.clone().expect("not finished");
        let fin = self.dir.join(&self.name);
        let len = self
            .follow
            .catch_up(true)
            .with_context(|| format!("cannot read back {}", p.display()))?;
        self.file
            .sync_all()
            .with_context(|| format!("cannot sync {}", p.display()))?;
        std::fs::rename(&p, &fin)
            .with_context(|| format!("cannot rename {} to {}", p.display(), fin.display()))?;
        self.partial = None;
        state::sync_dir(&self.dir)
            .with_context(|| format!("cannot sync {}", self.dir.display()))?;
        let digest = match self.digests {
            Digests::Skipped => FileDigest::unhashed(len),
            _ => follow::finished(self.digest.as_ref(), &fin, self.mac_key.as_ref())?,
        };
        Ok(Landed {
            bytes: digest.size,
            file_len: None,
            digest: Some(digest),
        })
    }

    fn abort(&mut self) {
        if let Some(p) = self.partial.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
