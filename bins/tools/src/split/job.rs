//! The backup job all workers share: where its files land, the filter, and the backup's state,
//! updated as files complete.

use super::landing::Landing;
use as_common::manifest::{FileDigest, FileEntry};
use as_common::record::{DIGEST_LEN, PARTITIONS};
use as_common::state::{BackupState, Progress};
use as_common::stream::Header;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

/// How a frame advances its partition, once its file is complete.
#[derive(Clone, Copy)]
pub enum Advance {
    Nothing,
    Record(u16, [u8; DIGEST_LEN]),
    Done(u16),
}

/// What a file makes durable once it is complete.
pub struct Durable {
    pub number: u64,
    /// Whether the file carries `# first-file` and the metadata.
    pub first: bool,
    pub records: u64,
    pub indexes: u64,
    pub udfs: u64,
    /// Records of each partition in the file and the last digest written of it, by partition
    /// number (a table, not a map: this runs for every record), and the partitions it holds.
    partitions: Vec<(u64, [u8; DIGEST_LEN])>,
    touched: Vec<u16>,
    /// Partitions whose end is in the file.
    done: Vec<u16>,
}

impl Durable {
    pub fn new(number: u64, first: bool) -> Durable {
        Durable {
            number,
            first,
            records: 0,
            indexes: 0,
            udfs: 0,
            partitions: Vec::new(),
            touched: Vec::new(),
            done: Vec::new(),
        }
    }

    /// A batch went into the file, advancing partitions so.
    pub fn add(&mut self, counts: &as_common::stream::Trailer, advances: &[Advance]) {
        self.records += counts.records;
        self.indexes += counts.sindexes;
        self.udfs += counts.udfs;
        for a in advances {
            match *a {
                Advance::Record(p, d) => {
                    if self.partitions.is_empty() {
                        self.partitions = vec![(0, [0; DIGEST_LEN]); PARTITIONS as usize];
                    }
                    let (n, last) = &mut self.partitions[usize::from(p)];
                    if *n == 0 {
                        self.touched.push(p);
                    }
                    (*n, *last) = (*n + 1, d);
                }
                Advance::Done(p) => self.done.push(p),
                Advance::Nothing => {}
            }
        }
    }
}

/// A file (or segment) that has landed: its bytes, the one file's whole length, and the digest
/// of what landed (none for a segment: the one file is hashed whole at the end).
pub struct Landed {
    pub bytes: u64,
    pub file_len: Option<u64>,
    pub digest: Option<FileDigest>,
}

/// What all workers share.
pub struct Job {
    pub landing: Box<dyn Landing>,
    pub filter: String,
    /// The filter's stages run on as-split's own threads (--in-process).
    pub in_process: Option<super::inprocess::Stages>,
    /// Bytes after which a file (or the one file's segment) is closed.
    pub limit: u64,
    pub header: Header,
    /// File numbers to hand out before new ones: those a killed run may have left behind with a
    /// sink that cannot delete (they are overwritten).
    pub reuse: Mutex<VecDeque<u64>>,
    pub state: Mutex<BackupState>,
    pub state_path: Option<PathBuf>,
    /// A worker failed: stop reading.
    pub failed: AtomicBool,
    /// The input ended early or a worker failed.
    pub broken: AtomicBool,
    pub verbose: bool,
    /// The key of the files' HMAC (an encrypted backup).
    pub mac_key: Option<[u8; 32]>,
    /// The index and UDF names of the first file, as its stream went by.
    pub metadata: Mutex<(Vec<String>, Vec<String>)>,
    /// Bytes landed and stream bytes sent of the files completed so far (see
    /// [`Job::predicted`]).
    pub landed_of_sent: Mutex<(u64, u64)>,
}

impl Job {
    /// What a file will hold once the stream bytes `sent` to its filter have landed, as the
    /// files completed so far went: a filter holds a few MiB in its pipes and buffers, which its
    /// file's size does not show yet (0 before any file is complete).
    pub fn predicted(&self, sent: u64) -> u64 {
        let (landed, of) = *self.landed_of_sent.lock().unwrap();
        match of {
            0 => 0,
            _ => (sent as u128 * landed as u128 / of as u128) as u64,
        }
    }

    /// A file is complete: `landed` bytes of the stream bytes `sent` to its filter.
    pub fn file_completed(&self, landed: u64, sent: u64) {
        let mut c = self.landed_of_sent.lock().unwrap();
        (c.0, c.1) = (c.0 + landed, c.1 + sent);
    }

    /// Hands out the next file number, noting it as open in the state first: if it is left
    /// behind half-made, a resume knows to remove or overwrite it.
    pub fn take_number(&self) -> anyhow::Result<u64> {
        let mut st = self.state.lock().unwrap();
        let n = match self.reuse.lock().unwrap().pop_front() {
            Some(n) => n,
            None => {
                let n = st.next_number;
                st.next_number += 1;
                n
            }
        };
        if !st.open.contains(&n) {
            st.open.push(n);
        }
        self.save(&st)?;
        Ok(n)
    }

    /// Records a complete file (or segment of the one file): its partitions' progress becomes
    /// durable, and it takes its place in the manifest.
    pub fn commit(&self, f: &Durable, name: &str, landed: Landed) -> anyhow::Result<()> {
        let mut st = self.state.lock().unwrap();
        let bytes = landed.bytes;
        if let Some(len) = landed.file_len {
            st.file_len = len;
        }
        if let Some(d) = landed.digest {
            // A leftover's name written again (a sink) replaces its entry.
            st.entries.retain(|e| e.name != name);
            st.entries.push(FileEntry {
                name: name.to_string(),
                size: d.size,
                sha256: d.sha256,
                hmac: d.hmac,
                records: f.records,
                indexes: f.indexes,
                udfs: f.udfs,
            });
        }
        // (A state begun by an older version has no counts: its backup gets no manifest.)
        let counted = st.counts.len() == PARTITIONS as usize;
        for &p in &f.touched {
            let (n, d) = f.partitions[usize::from(p)];
            if counted {
                st.counts[usize::from(p)] += n;
            }
            if st.partitions[usize::from(p)] != Progress::Complete {
                st.partitions[usize::from(p)] = Progress::After(d);
            }
        }
        if f.first {
            let (i, u) = self.metadata.lock().unwrap().clone();
            (st.indexes, st.udfs) = (i, u);
        }
        for &p in &f.done {
            st.partitions[p as usize] = Progress::Complete;
        }
        st.open.retain(|&n| n != f.number);
        st.files += 1;
        st.records += f.records;
        st.bytes += bytes;
        st.first_file_done |= f.first;
        self.save(&st)
    }

    pub fn save(&self, st: &BackupState) -> anyhow::Result<()> {
        if let Some(p) = &self.state_path {
            st.save(p)?;
        }
        Ok(())
    }
}
