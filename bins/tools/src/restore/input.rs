//! What a restore reads, turned into writes: a record stream on standard input, or a backup
//! whose files are decoded `--parallel` at once, the first by itself, so that its UDFs and
//! indexes reach the cluster before the other files' records (as asrestore orders them).
//!
//! Each reading thread filters its records and encodes their writes ([`Prepare`]); the main
//! thread takes what they send ([`Input`]) in order: UDFs and indexes as they come, writes into
//! the one writer. A reader that fails sends why and stops the others.

use super::counts::Counts;
use super::items::Items;
use crate::backup::Layers;
use anyhow::Context;
use as_cli::signals;
use as_common::asb::{AsbItem, AsbReader};
use as_common::backup::BackupFile;
use as_common::client::write::{encode_row, restore_ttl, single_write_request, Policy, Row};
use as_common::record::{Record, SIndex, Udf};
use as_common::spares::Spares;
use as_common::stream::{Frame, StreamReader};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What the reading threads hand the restore, in the order it is to be applied.
pub enum Input {
    Udf(Udf<'static>),
    SIndex(SIndex),
    /// Records' writes, in order, and the bytes of their file read since the last item sent:
    /// the bytes read count as restored once their records are handed to the writer.
    Writes {
        items: Items,
        read: u64,
    },
    /// A file read whole: its name, and its last bytes read.
    FileDone {
        name: String,
        read: u64,
    },
    /// Why reading stopped.
    Failed(anyhow::Error),
    /// Everything was read. The channel closing without it means a reader died (a panic): the
    /// restore must not take that for the end of the backup.
    End,
}

/// A record's digest and generation, as an inventory keeps it.
type Entry = ([u8; 20], u16);

/// Which records are restored and how their writes are made (-s, -B, -l, the policies).
pub struct Prepare {
    pub sets: Vec<String>,
    pub bins: Vec<String>,
    pub extra_ttl: u32,
    pub no_records: bool,
    /// The namespace the backup's first file names: every file must name it too.
    pub backup_ns: Option<Vec<u8>>,
    /// The namespace the records are written into.
    pub namespace: Vec<u8>,
    /// Now, in seconds since the server's epoch (for the TTL left).
    pub now: u32,
    pub policy: Policy,
    pub batch: bool,
    pub counts: Arc<Counts>,
    /// Only the records it lists (--inventory).
    pub inventory: Option<Arc<as_common::catalog::Inventory>>,
    /// Records to leave out (--exclude, the files' inventories as one).
    pub exclude: Option<as_common::catalog::Inventory>,
    /// The digests of the records read, when kept (--seen-out).
    pub seen: Option<std::sync::Mutex<Vec<Entry>>>,
}

impl Prepare {
    /// Adds the write for a record to `out`; false when it is not to be written (counted here
    /// as read, and as expired or skipped). A write is counted as read when the restore takes
    /// it, so that records read ahead and dropped by an interruption are not counted.
    pub fn write(&self, r: &Record, out: &mut Items) -> bool {
        if self.exclude.as_ref().is_some_and(|x| x.contains(&r.digest)) {
            Counts::add(&self.counts.records, 1);
            Counts::add(&self.counts.skipped, 1);
            Counts::add(&self.counts.superseded, 1);
            return false;
        }
        if let Some(seen) = &self.seen {
            seen.lock().unwrap().push((r.digest, r.generation));
        }
        let Some(ttl) = restore_ttl(r.expiry, self.now, i64::from(self.extra_ttl)) else {
            Counts::add(&self.counts.records, 1);
            Counts::add(&self.counts.expired, 1);
            return false;
        };
        let wanted_set = self.sets.is_empty()
            || r.set
                .as_deref()
                .is_some_and(|s| self.sets.iter().any(|w| w.as_bytes() == s));
        let filtered;
        let record = if self.bins.is_empty() {
            r
        } else {
            filtered = Record {
                bins: r
                    .bins
                    .iter()
                    .filter(|b| self.bins.iter().any(|w| w.as_bytes() == &*b.name))
                    .cloned()
                    .collect(),
                ..r.clone()
            };
            &filtered
        };
        if !wanted_set || record.bins.is_empty() {
            Counts::add(&self.counts.records, 1);
            Counts::add(&self.counts.skipped, 1);
            return false;
        }
        if self
            .inventory
            .as_ref()
            .is_some_and(|i| !i.contains(&r.digest))
        {
            Counts::add(&self.counts.records, 1);
            Counts::add(&self.counts.skipped, 1);
            Counts::add(&self.counts.absent, 1);
            return false;
        }
        let row = Row { record, ttl };
        out.push_with(r.digest, false, |b| match self.batch {
            true => encode_row(b, &self.namespace, &row, &self.policy),
            false => b.extend_from_slice(&single_write_request(
                &self.namespace,
                &row,
                10000,
                &self.policy,
            )),
        });
        true
    }
}

/// Messages in flight between the readers and the restore (of up to [`BATCH`] writes each).
const QUEUE: usize = 64;

/// Writes go to the restore this many at a time: a hand-over between threads per record cost
/// as much as a tenth of the restore's CPU.
const BATCH: usize = 64;

/// A reader's writes not sent yet.
#[derive(Default)]
struct Pending {
    items: Items,
    read: u64,
}

/// The readers' side: where they send, and the flag that stops them.
#[derive(Clone)]
struct Feed {
    tx: Sender<Input>,
    stop: Arc<AtomicBool>,
    prep: Arc<Prepare>,
    /// The writes' buffers the restore has taken, handed back.
    spares: Spares<Items>,
}

impl Feed {
    /// Sends; false when the restore no longer listens or reading is to stop.
    fn send(&self, i: Input) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.tx.send(i).is_ok()
    }

    fn fail(&self, e: anyhow::Error) {
        let _ = self.tx.send(Input::Failed(e));
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Queues a record's write, if it is to be written (`read`: the bytes read since the last
    /// one queued), sending the batch once it is full; false when reading is to stop.
    fn write(&self, p: &mut Pending, r: &Record, read: impl FnOnce() -> u64) -> bool {
        if !self.prep.write(r, &mut p.items) {
            return true;
        }
        p.read += read();
        p.items.len() < BATCH || self.flush(p)
    }

    /// Sends the queued writes: before anything else is sent, so that the order holds, and
    /// before a failure, so that every record read whole is written.
    fn flush(&self, p: &mut Pending) -> bool {
        if p.items.is_empty() {
            return true;
        }
        let items = std::mem::replace(&mut p.items, self.spares.take());
        let read = std::mem::take(&mut p.read);
        self.send(Input::Writes { items, read })
    }
}

/// The restore's side: what the readers send, and the flag that stops them (set when the
/// restore stops early). Readers still blocked in a read are not waited for.
pub struct Inputs {
    pub rx: Receiver<Input>,
    stop: Arc<AtomicBool>,
    /// Where the writes' buffers go back once taken (see [`Inputs::give`]).
    spares: Spares<Items>,
}

impl Inputs {
    /// Hands back the buffer of writes taken from an [`Input::Writes`].
    pub fn give(&self, items: Items) {
        self.spares.give(items);
    }
}

impl Drop for Inputs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn channel(prep: Arc<Prepare>) -> (Feed, Inputs) {
    let (tx, rx) = bounded(QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    // As many as can be out at once: in the queue, and one being taken.
    let spares = Spares::new(QUEUE + 1);
    let feed = Feed {
        tx,
        stop: stop.clone(),
        prep,
        spares: spares.clone(),
    };
    (feed, Inputs { rx, stop, spares })
}

/// A record stream, read by one thread.
pub fn stream<R: Read + Send + 'static>(mut reader: StreamReader<R>, prep: Arc<Prepare>) -> Inputs {
    let (feed, inputs) = channel(prep);
    signals::spawn(move || {
        let mut p = Pending::default();
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => {
                    if feed.flush(&mut p) {
                        feed.send(Input::End);
                    }
                    return;
                }
                Err(e) => {
                    feed.flush(&mut p);
                    return feed.fail(anyhow::Error::new(e).context("reading the record stream"));
                }
            };
            let go = match frame {
                Frame::Udf(u) => feed.flush(&mut p) && feed.send(Input::Udf(u.into_owned())),
                Frame::SIndex(s) => feed.flush(&mut p) && feed.send(Input::SIndex(s)),
                Frame::Record(_) if feed.prep.no_records => {
                    feed.send(Input::End);
                    return;
                }
                Frame::Record(r) => feed.write(&mut p, &r, || 0),
                Frame::PartitionDone(_) => true,
            };
            if !go {
                return;
            }
        }
    });
    inputs
}

/// A file of a backup, opened as ASB text (its header read).
pub struct Opened {
    pub name: String,
    pub reader: AsbReader<Box<dyn Read + Send>>,
    /// The bytes taken from storage so far.
    read: Arc<AtomicU64>,
    /// The records its manifest says it holds.
    records: Option<u64>,
    /// How to tell, when it fails to read, whether it is damaged.
    file: BackupFile,
    layers: Layers,
}

/// Opens a file of a backup.
pub fn open(layers: &Layers, file: &BackupFile) -> anyhow::Result<Opened> {
    let name = file.name().to_string();
    let read = Arc::new(AtomicU64::new(0));
    let input = layers
        .open(file, Some(read.clone()))
        .with_context(|| name.clone())?;
    let reader = AsbReader::new(input).with_context(|| name.clone())?;
    let records = file.entry.as_ref().map(|e| e.records);
    Ok(Opened {
        name,
        reader,
        read,
        records,
        file: file.clone(),
        layers: layers.clone(),
    })
}

/// The files of a backup: `first` by itself, then the others `parallel` at once.
pub fn files(
    first: Opened,
    rest: Vec<BackupFile>,
    parallel: usize,
    layers: Layers,
    prep: Arc<Prepare>,
) -> Inputs {
    let (feed, inputs) = channel(prep);
    signals::spawn(move || {
        if !decode(&feed, first) {
            return;
        }
        let (todo, queue) = bounded(rest.len());
        for f in rest {
            let _ = todo.send(f);
        }
        drop(todo);
        let readers: Vec<_> = (0..parallel.max(1))
            .map(|_| {
                let (feed, queue, layers) = (feed.clone(), queue.clone(), layers.clone());
                signals::spawn(move || {
                    while let Ok(f) = queue.recv() {
                        let ok = match open(&layers, &f) {
                            Ok(opened) => decode(&feed, opened),
                            Err(e) => {
                                feed.fail(e.context("the restore failed"));
                                false
                            }
                        };
                        if !ok {
                            return;
                        }
                    }
                })
            })
            .collect();
        let mut whole = true;
        for r in readers {
            whole &= r.join().is_ok();
        }
        match whole {
            true => feed.send(Input::End),
            false => {
                feed.fail(anyhow::anyhow!("the restore failed: a reading thread died"));
                false
            }
        };
    });
    inputs
}

/// Sends every item of one file; false when reading is to stop.
fn decode(feed: &Feed, file: Opened) -> bool {
    let Opened {
        name,
        mut reader,
        read,
        records,
        file,
        layers,
    } = file;
    let mut found = 0u64;
    let ns = reader.header().namespace.as_deref();
    if let (Some(ns), Some(want)) = (ns, feed.prep.backup_ns.as_deref()) {
        if ns != want {
            let (ns, want) = (String::from_utf8_lossy(ns), String::from_utf8_lossy(want));
            feed.fail(anyhow::anyhow!(
                "the restore failed on {name}: it is a backup of namespace {ns:?}, the first \
                 file's of {want:?}"
            ));
            return false;
        }
    }
    let mut p = Pending::default();
    let mut sent = 0;
    let mut since = || {
        let now = read.load(Ordering::Relaxed);
        std::mem::replace(&mut sent, now).abs_diff(now)
    };
    loop {
        let item = match reader.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => {
                if !feed.flush(&mut p) {
                    return false;
                }
                if let Some(want) = records.filter(|&w| w != found) {
                    feed.fail(anyhow::Error::new(as_cli::BadInput(format!(
                        "the restore failed on {name}: it holds {found} record(s), its manifest says {want}"
                    ))));
                    return false;
                }
                let read = since();
                return feed.send(Input::FileDone { name, read });
            }
            Err(e) => {
                feed.flush(&mut p);
                let e = match layers.damaged(&file) {
                    Some(why) => anyhow::Error::new(as_cli::BadInput(why)).context(format!(
                        "the restore failed on {name} ({})",
                        as_cli::io::one_line(&anyhow::Error::new(e))
                    )),
                    None => anyhow::Error::new(e).context(format!("the restore failed on {name}")),
                };
                feed.fail(e);
                return false;
            }
        };
        let go = match item {
            AsbItem::Udf(u) => feed.flush(&mut p) && feed.send(Input::Udf(u.into_owned())),
            AsbItem::SIndex(s) => feed.flush(&mut p) && feed.send(Input::SIndex(s)),
            // Records follow the metadata: a file with none to restore is done.
            AsbItem::Record(_) if feed.prep.no_records => {
                let read = since();
                return feed.flush(&mut p) && feed.send(Input::FileDone { name, read });
            }
            AsbItem::Record(rec) => {
                found += 1;
                feed.write(&mut p, &rec, &mut since)
            }
        };
        if !go {
            return false;
        }
    }
}
