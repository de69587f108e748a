//! Where a finished file lands: a file of a directory ([`super::dir`]), a segment of the one
//! file ([`super::single`]) or a sink command per file ([`super::sink`]). The rest of as-split
//! knows only these two interfaces, resolved once from the options.

use super::job::Landed;
use as_common::manifest::{FileDigest, FileEntry};
use as_common::state::{BackupState, Kind};
use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::process::Child;

/// Where the backup's files land, and the marks it leaves there while it is unfinished.
pub trait Landing: Send + Sync {
    /// What the state records the backup is written into (a resume must land the same way).
    fn kind(&self) -> Kind;

    /// Where the state is kept when no option says.
    fn default_state(&self) -> Option<PathBuf>;

    /// A new backup: refuses to overwrite one already there unless `remove` (-r), which clears
    /// it; `shard`: the backup is one shard of several, which share a directory.
    fn fresh(&mut self, remove: bool, shard: bool) -> anyhow::Result<()>;

    /// A resumed backup: clears what the interrupted run may have left half-made (the files
    /// `st.open`); returns the file numbers to write again before new ones.
    fn resume(&mut self, st: &mut BackupState) -> anyhow::Result<VecDeque<u64>>;

    /// The name of file `n`, in messages (and FILE for a sink).
    fn name(&self, n: u64) -> String;

    /// Makes the place of the file `name`: returns where its filter writes, and what follows
    /// the file's bytes until they have landed (and hashes them, with an HMAC under `mac_key`
    /// if given).
    fn start(
        &self,
        name: &str,
        mac_key: Option<[u8; 32]>,
    ) -> anyhow::Result<(Output, Box<dyn Arrival>)>;

    /// Every file has landed.
    fn seal(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// The digest of the one file the segments went into, once sealed (none where each file
    /// has its own, in [`super::job::Landed`], or the file is standard output).
    fn single_file_digest(&self) -> anyhow::Result<Option<FileDigest>> {
        Ok(None)
    }

    /// Gives the manifest's entries that have no digest (files a run with --no-manifest left
    /// unhashed, which this one resumed) their digests, where this landing can read the files
    /// back; every file landed elsewhere was hashed.
    fn fill_in(&self, _files: &mut [FileEntry], _mac_key: Option<&[u8; 32]>) -> anyhow::Result<()> {
        Ok(())
    }

    /// Writes (or overwrites) `PREFIX.asb.incomplete`, the marker that says the backup is not
    /// one to restore, holding `text`, where this landing can delete it again.
    fn mark_incomplete(&self, _text: &str) -> anyhow::Result<()> {
        Ok(())
    }

    /// Removes the marker once the backup is complete. A marker that cannot be removed fails
    /// the backup: it is whole, but would look unfinished.
    fn clear_marker(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Delivers a small file written beside the backup (its manifest) where the backup's files
    /// land, before the marker is cleared; a directory or the one file has it already.
    fn publish(&self, _name: &str, _data: &[u8]) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Where a file's filter writes.
pub enum Output {
    /// Into the file itself; `partial`: its path, given to a filter process as PARTIAL (for a
    /// stage that goes on from what the file holds: `as-crypt --append "$PARTIAL"`).
    File {
        file: File,
        partial: Option<PathBuf>,
    },
    /// Into a pipe that the arrival reads ([`Arrival::attach`]).
    Piped,
}

/// One file's bytes on their way into a [`Landing`].
pub trait Arrival: Send {
    /// Once the filter runs (a sink is then fed from its output).
    fn attach(&mut self, _filter: &mut Child) -> anyhow::Result<()> {
        Ok(())
    }

    /// Bytes landed so far (a file the filter writes itself is followed up to there: see
    /// [`super::follow`]).
    fn landed(&mut self) -> u64;

    /// The digest the file's bytes go into, for a writer of ours that hashes them as it writes
    /// them (in order): the arrival no longer reads them back for it.
    fn hashed_by_writer(&mut self) -> Option<super::follow::Shared> {
        None
    }

    /// Whether [`Arrival::landed`] costs no system call (else it is asked less often).
    fn cheap_to_measure(&self) -> bool {
        false
    }

    /// Whether the file already holds what comes before this part (no header lines then).
    fn continues(&self) -> bool {
        false
    }

    /// Why the landing stopped taking the filter's output, if it did (a failed sink).
    fn failure(&mut self) -> Option<anyhow::Error> {
        None
    }

    /// After the filter succeeded (`written`: whether all the stream reached it): makes the
    /// file durable. Returns what landed.
    fn finish(&mut self, written: anyhow::Result<()>) -> anyhow::Result<Landed>;

    /// Gives up on the file (its filter already stopped).
    fn abort(&mut self) {}
}
