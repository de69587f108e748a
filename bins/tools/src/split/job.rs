//! The backup job all workers share: where its files land, the filter, and the backup's state,
//! updated as files complete.

use super::landing::Landing;
use as_common::record::DIGEST_LEN;
use as_common::state::{BackupState, Progress};
use as_common::stream::Header;
use std::collections::{HashMap, VecDeque};
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
    /// Last digest written of each partition, and partitions whose end is in the file.
    progress: HashMap<u16, [u8; DIGEST_LEN]>,
    done: Vec<u16>,
}

impl Durable {
    pub fn new(number: u64, first: bool) -> Durable {
        Durable {
            number,
            first,
            records: 0,
            progress: HashMap::new(),
            done: Vec::new(),
        }
    }

    /// A batch of `records` went into the file, advancing partitions so.
    pub fn add(&mut self, records: u64, advances: &[Advance]) {
        self.records += records;
        for a in advances {
            match *a {
                Advance::Record(p, d) => {
                    self.progress.insert(p, d);
                }
                Advance::Done(p) => self.done.push(p),
                Advance::Nothing => {}
            }
        }
    }
}

/// What all workers share.
pub struct Job {
    pub landing: Box<dyn Landing>,
    pub filter: String,
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
}

impl Job {
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

    /// Records a complete file (or segment of the one file, `file_len` long now): its
    /// partitions' progress becomes durable.
    pub fn commit(&self, f: &Durable, bytes: u64, file_len: Option<u64>) -> anyhow::Result<()> {
        let mut st = self.state.lock().unwrap();
        if let Some(len) = file_len {
            st.file_len = len;
        }
        for (&p, &d) in &f.progress {
            if st.partitions[p as usize] != Progress::Complete {
                st.partitions[p as usize] = Progress::After(d);
            }
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
