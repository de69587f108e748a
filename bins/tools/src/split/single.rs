//! One file (`-o FILE`): segments appended to FILE.partial, each synced and recorded in the
//! state; FILE.partial becomes FILE once the backup is complete.

use super::follow::{self, Follow, Shared};
use super::job::Landed;
use super::landing::{Arrival, Landing, Output};
use anyhow::{bail, Context};
use as_common::layout;
use as_common::manifest::FileDigest;
use as_common::state::{self, BackupState, Kind};
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct SingleFile {
    path: PathBuf,
    partial: PathBuf,
    /// FILE.partial opened for appending, once the backup is fresh or resumed.
    file: Option<File>,
    /// The digest of FILE.partial as far as its segments have landed (an HMAC too, under the
    /// key of an encrypted backup). None for a filter given by hand (see
    /// [`super::follow::Follow`]) or a resumed backup (hashing what the runs before wrote would
    /// hold the stream up): the file is then read back whole once complete; and none for a
    /// backup without a manifest, which needs no digest.
    digest: Option<Shared>,
    mac_key: Option<[u8; 32]>,
}

impl SingleFile {
    pub fn new(path: &Path, mac_key: Option<[u8; 32]>, hash_as_it_lands: bool) -> SingleFile {
        SingleFile {
            path: path.to_path_buf(),
            partial: layout::with_suffix(path, layout::PARTIAL),
            file: None,
            digest: hash_as_it_lands.then(|| follow::shared(mac_key.as_ref())),
            mac_key,
        }
    }

    /// Opens FILE.partial for appending: new, or (resuming) cut back to the length the state
    /// says is complete.
    fn open(&mut self, resume_at: Option<u64>) -> anyhow::Result<()> {
        let partial = &self.partial;
        let mut opts = std::fs::OpenOptions::new();
        // Read too: a filter process's segments are hashed as they land (super::follow).
        opts.read(true).append(true);
        let file = match resume_at {
            Some(len) => {
                let f = opts.open(partial).with_context(|| {
                    format!(
                        "cannot resume: {} (the partial file) cannot be opened",
                        partial.display()
                    )
                })?;
                f.set_len(len).with_context(|| {
                    format!("cannot cut {} back to {len} bytes", partial.display())
                })?;
                f
            }
            None => opts
                .create(true)
                .truncate(false)
                .open(partial)
                .and_then(|f| f.set_len(0).map(|()| f))
                .with_context(|| format!("cannot create {}", partial.display()))?,
        };
        self.file = Some(file);
        Ok(())
    }
}

impl Landing for SingleFile {
    fn kind(&self) -> Kind {
        Kind::File
    }

    fn default_state(&self) -> Option<PathBuf> {
        Some(layout::with_suffix(&self.path, layout::STATE))
    }

    fn fresh(&mut self, remove: bool, _shard: bool) -> anyhow::Result<()> {
        let f = &self.path;
        if f.exists() {
            if !remove {
                bail!(
                    "output file {} already exists; use -r to overwrite it",
                    f.display()
                );
            }
            std::fs::remove_file(f).with_context(|| format!("cannot remove {}", f.display()))?;
            // Its manifest too: it describes the file removed.
            let m = layout::with_suffix(f, as_common::manifest::SUFFIX);
            match std::fs::remove_file(&m) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", m.display()))
                }
                _ => {}
            }
        }
        self.open(None)
    }

    /// The file is cut back to its last checkpoint.
    fn resume(&mut self, st: &mut BackupState) -> anyhow::Result<VecDeque<u64>> {
        st.open.clear();
        self.open(Some(st.file_len))?;
        self.digest = None;
        Ok(VecDeque::new())
    }

    fn name(&self, n: u64) -> String {
        format!("{} (segment {n})", self.path.display())
    }

    fn start(
        &self,
        _name: &str,
        _mac_key: Option<[u8; 32]>,
    ) -> anyhow::Result<(Output, Box<dyn Arrival>)> {
        let file = self.file.as_ref().expect("opened by fresh or resume");
        let start = file.metadata()?.len();
        let output = Output::File {
            file: file.try_clone()?,
            partial: Some(self.partial.clone()),
        };
        let arrival = Box::new(Segment {
            follow: Follow::new(file.try_clone()?, start, self.digest.clone()),
            file: file.try_clone()?,
            partial: self.partial.clone(),
            start,
        });
        Ok((output, arrival))
    }

    /// FILE.partial becomes FILE.
    fn seal(&self) -> anyhow::Result<()> {
        std::fs::rename(&self.partial, &self.path).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.partial.display(),
                self.path.display()
            )
        })?;
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        state::sync_dir(dir.unwrap_or(Path::new("."))).context("cannot sync the directory")
    }

    /// Hashed as the segments landed, else read back now that FILE is complete.
    fn single_file_digest(&self) -> anyhow::Result<Option<FileDigest>> {
        follow::finished(self.digest.as_ref(), &self.path, self.mac_key.as_ref()).map(Some)
    }
}

/// A segment: the filter appends to the one file, whose length was `start` when it began.
struct Segment {
    follow: Follow,
    file: File,
    partial: PathBuf,
    start: u64,
}

impl Arrival for Segment {
    fn hashed_by_writer(&mut self) -> Option<Shared> {
        self.follow.give_digest()
    }

    fn landed(&mut self) -> u64 {
        self.follow
            .catch_up(false)
            .map_or(0, |len| len.saturating_sub(self.start))
    }

    /// A segment after the first goes on where the file ends.
    fn continues(&self) -> bool {
        self.start > 0
    }

    fn finish(&mut self, written: anyhow::Result<()>) -> anyhow::Result<Landed> {
        written?;
        self.follow
            .catch_up(true)
            .with_context(|| format!("cannot read back {}", self.partial.display()))?;
        self.file
            .sync_all()
            .with_context(|| format!("cannot sync {}", self.partial.display()))?;
        let len = self.file.metadata()?.len();
        Ok(Landed {
            bytes: len.saturating_sub(self.start),
            file_len: Some(len),
            digest: None,
        })
    }

    // abort: nothing; the one file is cut back to its last checkpoint on resume.
}
