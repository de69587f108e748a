//! `as-split`: cut a record stream into a directory of size-limited backup files (asbackup's
//! directory mode), each made by a per-file filter command, and keep the state from which an
//! interrupted backup is resumed.

use anyhow::{bail, Context};
use as_cli::io::buffered;
use as_cli::process::{detached_shell, kill_group};
use as_cli::signals::{self, Interruptible};
use as_cli::BadInput;
use as_common::record::{partition_of, DIGEST_LEN};
use as_common::state::{self, BackupState, Progress};
use as_common::stream::{
    self, FrameBatch, Header, Kind, PartitionStatus, StreamReader, StreamWriter,
};
use clap::Parser;
use std::collections::{HashMap, VecDeque};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Cut a record stream into a directory of size-limited backup files.
///
/// Reads the record stream (as-stream(5)) and writes backup files named PREFIX_NNNNN.asb (from
/// 00000; PREFIX is the namespace unless -q is given) as asbackup's directory mode does. Each file
/// is a complete backup by itself: the stream for it is piped through FILTER (default
/// `as-encode`; for example `as-encode --compact | as-zstd -l 5`), and what comes out lands in the
/// file. Only the first file carries `# first-file` and the index and UDF lines.
///
/// --file-limit is measured on the bytes that come out of the filter (after compression) and
/// checked before each batch of records: a file is closed once it holds the limit, so files exceed
/// it by at most the filter's buffers and 64 KiB of stream (batches, and how often the size is
/// looked up).
/// With --parallel, each worker owns its own sequence of
/// files (numbered in the order they are opened) and every partition always goes to the same
/// worker, so the filters (compressors) run in parallel.
///
/// A file appears under its final name only when it is complete: the filter writes it as
/// .PREFIX_NNNNN.asb.partial, which is synced and renamed when the filter succeeded. With --sink, each
/// file's bytes are piped into a command instead (with FILE set to the file name, e.g.
/// `as-s3put s3://bucket/prefix/$FILE`), which must succeed for the file to count.
///
/// The state file (default DIR/PREFIX.asb.state) records, each time a file is complete, which
/// partitions are backed up and up to which digest; it is removed when the backup completes. If
/// the input ends early (the scanner failed or was stopped), a filter or sink fails, or as-split
/// gets SIGINT or SIGTERM, the files already open are finished when they can be, the state is
/// saved, and as-split exits non-zero saying how to resume: run the scanner and as-split again
/// with --continue STATE. Filters and sinks run in their own process group, so a Ctrl-C meant for
/// the pipeline does not cut the files being finished; a second signal ends as-split at once
/// (the state saved so far stays valid).
#[derive(Parser, Debug)]
#[command(name = "as-split", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The directory of the backup (created if missing).
    #[arg(short = 'd', long, required_unless_present_any = ["sink", "output_file"])]
    pub directory: Option<PathBuf>,

    /// One backup file instead of a directory (asbackup -o), written as FILE.partial and renamed
    /// when complete. It is built of segments, each piped through FILTER and appended (ASB text
    /// and zstd frames both concatenate): every --checkpoint MiB the file is synced and the state
    /// updated, and a resume cuts the file back to the last checkpoint and appends. One worker.
    #[arg(short = 'o', long, conflicts_with_all = ["directory", "sink", "remove_artifacts"])]
    pub output_file: Option<PathBuf>,

    /// With --output-file: sync the file and save the state every this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint: u64,

    /// File-name prefix (default: the namespace).
    #[arg(short = 'q', long)]
    pub output_file_prefix: Option<String>,

    /// Close a file once this many MiB have landed in it.
    #[arg(short = 'F', long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
    pub file_limit: u64,

    /// The command each file's record stream is piped through (run with bash -o pipefail -c, so that any of its stages failing fails the file).
    #[arg(long, default_value = "as-encode")]
    pub filter: String,

    /// Instead of writing files, pipe each file into this command (bash -o pipefail -c, with FILE set to the
    /// file name).
    #[arg(long, conflicts_with_all = ["remove_files", "remove_artifacts"])]
    pub sink: Option<String>,

    /// Send each file to the sink in frames and commit it with an empty frame once it is whole,
    /// for sinks that must not keep a partial file (as-s3put --framed).
    #[arg(long, requires = "sink")]
    pub framed_sink: bool,

    /// Workers, each with its own files and filter (1 to 100).
    #[arg(short = 'w', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub parallel: u32,

    /// Delete the backup files (and state) already in the directory first.
    #[arg(short = 'r', long)]
    pub remove_files: bool,

    /// Delete the *.asb files in the directory (and the directory, if then empty), and exit.
    #[arg(long)]
    pub remove_artifacts: bool,

    /// Where to keep the state of the backup (default: DIR/PREFIX.asb.state; none with --sink
    /// unless given).
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Resume the backup whose state is in this file (the input must come from a scan resumed
    /// from the same state: as-scan --continue). The state is kept up to date in the same file
    /// unless --state-file says otherwise.
    #[arg(short = 'c', long = "continue", value_name = "STATE", conflicts_with_all = ["remove_files", "remove_artifacts"])]
    pub resume: Option<PathBuf>,

    /// Print a line per finished file and a summary on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// The record stream; standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

/// Left in a directory whose backup did not finish: `<prefix>.asb.incomplete`, holding the
/// reason. Written when the backup starts, removed when it completes.
pub const INCOMPLETE_SUFFIX: &str = ".asb.incomplete";
/// The default state file of a directory backup: `<prefix>.asb.state`.
pub const STATE_SUFFIX: &str = ".asb.state";

fn asb_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.extension().is_some_and(|x| x == "asb")
            || name.ends_with(INCOMPLETE_SUFFIX)
            || name.ends_with(STATE_SUFFIX)
        {
            v.push(p);
        }
    }
    Ok(v)
}

/// `--remove-artifacts` and `-r`: delete the backup files of a directory.
fn remove_asb(dir: &Path) -> anyhow::Result<usize> {
    let files = asb_files(dir)?;
    for f in &files {
        std::fs::remove_file(f).with_context(|| format!("cannot remove {}", f.display()))?;
    }
    Ok(files.len())
}

/// Where the files go.
#[derive(Clone)]
enum Dest {
    Dir(PathBuf),
    Sink(String),
    /// One file: segments appended to FILE.partial, renamed to FILE at the end.
    File(Arc<OneFile>),
}

struct OneFile {
    path: PathBuf,
    partial: PathBuf,
    /// Opened for appending.
    file: std::fs::File,
}

/// `path` with `suffix` added to its name (FILE.partial, FILE.state).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// What a frame tells about the durability of a partition once its file is complete.
#[derive(Clone, Copy)]
enum Note {
    Nothing,
    Record(u16, [u8; DIGEST_LEN]),
    Done(u16),
}

/// What all workers share.
struct Shared {
    dest: Dest,
    prefix: String,
    filter: String,
    limit: u64,
    framed: bool,
    header: Header,
    /// File numbers to hand out before new ones: those a killed run may have left behind with a
    /// sink that cannot delete (they are overwritten).
    reuse: Mutex<VecDeque<u64>>,
    state: Mutex<BackupState>,
    state_path: Option<PathBuf>,
    /// A worker failed: stop reading.
    failed: AtomicBool,
    /// The input ended early or a worker failed.
    broken: AtomicBool,
    verbose: bool,
}

impl Shared {
    /// Hands out the next file number, noting it as open in the state first: if it is left
    /// behind half-made, a resume knows to remove or overwrite it.
    fn take_number(&self) -> anyhow::Result<u64> {
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
    fn commit(&self, f: &OpenFile, bytes: u64, file_len: Option<u64>) -> anyhow::Result<()> {
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

    fn save(&self, st: &BackupState) -> anyhow::Result<()> {
        if let Some(p) = &self.state_path {
            st.save(p)?;
        }
        Ok(())
    }
}

/// One file in the making: the filter process, where its output lands (a file it writes
/// itself, or a pump thread that moves it to a sink), and what the file will make durable.
struct OpenFile {
    number: u64,
    name: String,
    first: bool,
    writer: Option<StreamWriter<BufWriter<ChildStdin>>>,
    filter: Child,
    filter_err: Option<JoinHandle<String>>,
    /// Moves the filter's output to a sink; gives the sink's input back when done.
    pump: Option<JoinHandle<anyhow::Result<Box<dyn Write + Send>>>>,
    sink: Option<Child>,
    /// The sink reads frames and completes only on the commit frame (as-s3put --framed).
    framed: bool,
    /// Bytes the pump moved.
    pumped: Arc<AtomicU64>,
    /// The file the filter writes into directly (no copy through this process), and its
    /// length when this file (segment) began.
    direct: Option<(std::fs::File, u64)>,
    /// Stream bytes sent since the size of `direct` was last looked at, and what it was.
    unmeasured: usize,
    measured: u64,
    partial: Option<PathBuf>,
    /// Last digest written of each partition, partitions whose end is in the file, records.
    progress: HashMap<u16, [u8; DIGEST_LEN]>,
    done: Vec<u16>,
    records: u64,
}

/// Moves a filter's output into a sink (framed for as-s3put --framed), counting the bytes;
/// gives the sink's input back at the end of the output.
fn pump(
    mut out: std::process::ChildStdout,
    mut dest: Box<dyn Write + Send>,
    framed: bool,
    counter: Arc<AtomicU64>,
    name: String,
) -> JoinHandle<anyhow::Result<Box<dyn Write + Send>>> {
    signals::spawn(move || {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("reading the filter output of {name}")))
                }
            };
            if framed {
                dest.write_all(&(n as u32).to_be_bytes())
                    .with_context(|| format!("writing {name}"))?;
            }
            dest.write_all(&buf[..n])
                .with_context(|| format!("writing {name}"))?;
            counter.fetch_add(n as u64, Ordering::SeqCst);
        }
        dest.flush().with_context(|| format!("writing {name}"))?;
        Ok(dest)
    })
}

impl OpenFile {
    fn open(s: &Shared, first: bool) -> anyhow::Result<OpenFile> {
        let number = s.take_number()?;
        let name = match &s.dest {
            Dest::File(one) => format!("{} (segment {number})", one.path.display()),
            _ => format!("{}_{number:05}.asb", s.prefix),
        };
        // A file's bytes go from the filter straight into it; a sink's through a pump here.
        let (partial, direct): (Option<PathBuf>, Option<(std::fs::File, u64)>) = match &s.dest {
            Dest::Dir(dir) => {
                let p = dir.join(format!(".{name}.partial"));
                let f = std::fs::File::create(&p)
                    .with_context(|| format!("cannot create {}", p.display()))?;
                (Some(p), Some((f, 0)))
            }
            Dest::File(one) => {
                let f = one.file.try_clone()?;
                let start = f.metadata()?.len();
                (None, Some((f, start)))
            }
            Dest::Sink(_) => (None, None),
        };
        let stdout = match &direct {
            Some((f, _)) => Stdio::from(f.try_clone()?),
            None => Stdio::piped(),
        };
        let mut filter = detached_shell(&s.filter)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the filter {:?}", s.filter))?;
        // The filter's complaints become part of our one error line, or vanish when we
        // stopped it ourselves.
        let mut err_pipe = filter.stderr.take().expect("piped");
        let filter_err = signals::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        let pumped = Arc::new(AtomicU64::new(0));
        let (pump, sink, framed) = match &s.dest {
            Dest::Sink(cmd) => {
                let mut child = detached_shell(cmd)
                    .env("FILE", &name)
                    .stdin(Stdio::piped())
                    .spawn()
                    .with_context(|| format!("cannot run the sink {cmd:?}"))?;
                let stdin: Box<dyn Write + Send> = Box::new(child.stdin.take().expect("piped"));
                let out = filter.stdout.take().expect("piped");
                let pump = pump(out, stdin, s.framed, pumped.clone(), name.clone());
                (Some(pump), Some(child), s.framed)
            }
            _ => (None, None, false),
        };
        let stdin = filter.stdin.take().expect("piped");
        let header = Header {
            first_file: first,
            // A segment after the first goes on where the file ends: no header lines.
            append: match &s.dest {
                Dest::File(_) => s.state.lock().unwrap().file_len > 0,
                _ => false,
            },
            ..s.header.clone()
        };
        let writer = StreamWriter::new(BufWriter::with_capacity(64 << 10, stdin), &header)
            .with_context(|| format!("writing to the filter of {name}"))?;
        Ok(OpenFile {
            number,
            name,
            first,
            writer: Some(writer),
            filter,
            filter_err: Some(filter_err),
            pump,
            sink,
            framed,
            pumped,
            direct,
            unmeasured: 0,
            measured: 0,
            partial,
            progress: HashMap::new(),
            done: Vec::new(),
            records: 0,
        })
    }

    /// Bytes in the file (segment) so far.
    fn landed(&self) -> u64 {
        match &self.direct {
            Some((f, start)) => f.metadata().map_or(0, |m| m.len().saturating_sub(*start)),
            None => self.pumped.load(Ordering::SeqCst),
        }
    }

    /// `landed`, looked up again only after every 64 KiB sent to the filter: the limit check
    /// runs before each record, and a file's size is a system call away.
    fn landed_about(&mut self) -> u64 {
        if self.direct.is_none() || self.unmeasured >= 64 << 10 {
            self.measured = self.landed();
            self.unmeasured = 0;
        }
        self.measured
    }

    fn write(&mut self, b: &FrameBatch, notes: &[Note], s: &Shared) -> anyhow::Result<()> {
        let w = self.writer.as_mut().expect("open");
        match w.batch(b) {
            Ok(()) => {}
            // The filter stopped reading: its exit, or the destination, says why.
            Err(e) => {
                return match self.filter.wait() {
                    Ok(st) if !st.success() => Err(self.filter_failed(s, st)),
                    _ => Err(anyhow::Error::new(e)
                        .context(format!("writing to the filter of {}", self.name))),
                };
            }
        }
        self.records += b.counts.records;
        self.unmeasured += b.len();
        for note in notes {
            match *note {
                Note::Record(p, d) => {
                    self.progress.insert(p, d);
                }
                Note::Done(p) => self.done.push(p),
                Note::Nothing => {}
            }
        }
        Ok(())
    }

    fn filter_failed(&mut self, s: &Shared, st: std::process::ExitStatus) -> anyhow::Error {
        // A filter whose output could not be written (a full disk, a failed sink) fails
        // with a broken pipe: the destination's error is the cause.
        if let Some(Ok(Err(e))) = self.pump.take().map(JoinHandle::join) {
            return e;
        }
        let complaint = self
            .filter_err
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let last = complaint.lines().last().unwrap_or("").trim().to_string();
        let why = if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        };
        anyhow::anyhow!(
            "the filter {:?} failed for {} ({st}){why}",
            s.filter,
            self.name
        )
    }

    /// Ends the file's stream, waits for its filter and destination, makes the file durable
    /// (synced and renamed into place, or accepted by the sink) and records it in the state.
    fn close(mut self, s: &Shared) -> anyhow::Result<()> {
        let result = self.finish(s);
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn finish(&mut self, s: &Shared) -> anyhow::Result<()> {
        let w = self.writer.take().expect("open");
        let res = w
            .finish()
            .map(|_| ())
            .with_context(|| format!("writing to the filter of {}", self.name));
        let st = self.filter.wait()?;
        if !st.success() {
            return Err(self.filter_failed(s, st));
        }
        if let Some(pump) = self.pump.take() {
            let mut dest = pump
                .join()
                .map_err(|_| anyhow::anyhow!("pump thread panicked"))??;
            res?;
            if self.framed {
                // The file is whole: tell the sink to complete it.
                dest.write_all(&[0, 0, 0, 0])
                    .and_then(|_| dest.flush())
                    .with_context(|| format!("writing {}", self.name))?;
            }
        } else {
            res?;
        }
        if let Some(mut child) = self.sink.take() {
            let st = child.wait()?;
            if !st.success() {
                let cmd = match &s.dest {
                    Dest::Sink(c) => c.as_str(),
                    _ => "",
                };
                bail!("the sink {cmd:?} failed for {} ({st})", self.name);
            }
        }
        let bytes = self.landed();
        if let (Some(p), Some((file, _)), Dest::Dir(dir)) = (&self.partial, &self.direct, &s.dest) {
            let fin = dir.join(&self.name);
            file.sync_all()
                .with_context(|| format!("cannot sync {}", p.display()))?;
            std::fs::rename(p, &fin)
                .with_context(|| format!("cannot rename {} to {}", p.display(), fin.display()))?;
            self.partial = None;
            state::sync_dir(dir).with_context(|| format!("cannot sync {}", dir.display()))?;
        }
        let file_len = match &s.dest {
            Dest::File(one) => {
                one.file
                    .sync_all()
                    .with_context(|| format!("cannot sync {}", one.partial.display()))?;
                Some(one.file.metadata()?.len())
            }
            _ => None,
        };
        s.commit(self, bytes, file_len)?;
        if s.verbose {
            eprintln!("as-split: {} ({bytes} bytes)", self.name);
        }
        Ok(())
    }

    /// Gives up on the file: stops its filter and removes what it wrote.
    fn abort(&mut self) {
        // Stop the filter before closing its input, so it never sees (and reports) a cut stream:
        // the whole of it (sh and the pipeline it runs), which has a process group of its own,
        // so that nothing of it writes into the file afterwards.
        kill_group(&self.filter);
        drop(self.writer.take());
        let _ = self.filter.wait();
        if let Some(h) = self.filter_err.take() {
            let _ = h.join();
        }
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
        if let Some(mut sink) = self.sink.take() {
            // A framed sink sees no commit and gives up by itself; others are stopped.
            if !self.framed {
                kill_group(&sink);
            }
            let _ = sink.wait();
        }
        if let Some(p) = self.partial.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A worker: owns its current file; receives frames to append. When its input ends, even
/// early, the file it holds is finished: every frame in it is whole, and the state says what
/// the file holds.
fn worker(
    s: &Shared,
    rx: crossbeam_channel::Receiver<(Vec<Note>, FrameBatch)>,
    mut current: Option<OpenFile>,
) -> anyhow::Result<()> {
    let result = (|| -> anyhow::Result<()> {
        for (notes, batch) in rx.iter() {
            // The limit is checked before each batch (of up to BATCH bytes).
            if batch.counts.records > 0
                && current
                    .as_mut()
                    .is_some_and(|f| f.landed_about() >= s.limit)
            {
                current.take().expect("checked").close(s)?;
            }
            if current.is_none() {
                current = Some(OpenFile::open(s, false)?);
            }
            current.as_mut().expect("opened").write(&batch, &notes, s)?;
        }
        if let Some(mut f) = current.take() {
            // Without a state to resume from, what a broken backup finished would only
            // look like a backup: the file is dropped.
            if s.broken.load(Ordering::SeqCst) && s.state_path.is_none() {
                f.abort();
            } else {
                f.close(s)?;
            }
        }
        Ok(())
    })();
    if result.is_err() {
        s.failed.store(true, Ordering::SeqCst);
        s.broken.store(true, Ordering::SeqCst);
        if let Some(mut f) = current.take() {
            f.abort();
        }
    }
    result
}

fn remove_artifacts(args: &Args) -> anyhow::Result<()> {
    let dir = args
        .directory
        .as_deref()
        .context("--remove-artifacts needs --directory")?;
    if dir.is_dir() {
        let n = remove_asb(dir)?;
        // Like asbackup: the directory goes too once nothing else is in it.
        let _ = std::fs::remove_dir(dir);
        if args.verbose {
            eprintln!(
                "as-split: removed {n} backup file(s) from {}",
                dir.display()
            );
        }
    }
    Ok(())
}

/// What a backup is written into, as its state records it (the one file's `Dest` is made
/// later, so `None` is the file).
fn kind_of(dest: Option<&Dest>) -> &'static str {
    match dest {
        Some(Dest::Dir(_)) => "directory",
        Some(Dest::Sink(_)) => "sink",
        Some(Dest::File(_)) | None => "file",
    }
}

/// Opens the one file's FILE.partial for appending: new, or (resuming) cut back to the length
/// the state says is complete.
fn open_one_file(path: &Path, resume_at: Option<u64>) -> anyhow::Result<OneFile> {
    let partial = with_suffix(path, ".partial");
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true);
    let file = match resume_at {
        Some(len) => {
            let f = opts.open(&partial).with_context(|| {
                format!(
                    "cannot resume: {} (the partial file) cannot be opened",
                    partial.display()
                )
            })?;
            f.set_len(len)
                .with_context(|| format!("cannot cut {} back to {len} bytes", partial.display()))?;
            f
        }
        None => opts
            .create(true)
            .truncate(false)
            .open(&partial)
            .and_then(|f| f.set_len(0).map(|()| f))
            .with_context(|| format!("cannot create {}", partial.display()))?,
    };
    Ok(OneFile {
        path: path.to_path_buf(),
        partial,
        file,
    })
}

/// Loads the state to resume from and clears what the interrupted run may have left half-made.
fn resume(
    path: &Path,
    dest: Option<&Dest>,
    header: &Header,
    prefix: &str,
) -> anyhow::Result<(BackupState, VecDeque<u64>)> {
    let mut st = BackupState::load(path)?;
    let ns = String::from_utf8_lossy(header.namespace.as_deref().unwrap_or_default());
    let kind = kind_of(dest);
    if st.namespace != ns || st.prefix != prefix || st.scope != header.scope || st.kind != kind {
        bail!(
            "{} is the state of another backup ({} of namespace {} into a {} with prefix {}); resume with the same options",
            path.display(),
            st.scope,
            st.namespace,
            st.kind,
            st.prefix
        );
    }
    st.resumes += 1;
    let mut reuse = VecDeque::new();
    match dest {
        Some(Dest::Dir(dir)) => {
            for n in std::mem::take(&mut st.open) {
                let _ = std::fs::remove_file(dir.join(format!("{prefix}_{n:05}.asb")));
            }
            for e in std::fs::read_dir(dir)? {
                let name = e?.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!(".{prefix}_")) && name.ends_with(".asb.partial") {
                    std::fs::remove_file(dir.join(&name))?;
                }
            }
        }
        // A sink may have completed a file whose commit was never recorded: the same names
        // are written again, so nothing is left twice.
        Some(Dest::Sink(_)) => {
            st.open.sort_unstable();
            reuse.extend(st.open.iter().copied());
        }
        // The one file is cut back to its last checkpoint when it is opened.
        Some(Dest::File(_)) | None => st.open.clear(),
    }
    Ok((st, reuse))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.remove_artifacts {
        return remove_artifacts(&args);
    }
    signals::install();
    // The one file (--output-file) is opened once the state says where it ends.
    let dest = match (&args.sink, &args.directory) {
        (Some(cmd), _) => Some(Dest::Sink(cmd.clone())),
        (None, Some(dir)) => Some(Dest::Dir(dir.clone())),
        (None, None) => None,
    };

    let input: Box<dyn Read> = match args.input.as_deref() {
        None => Box::new(Interruptible(std::io::stdin())),
        Some(p) if p.as_os_str() == "-" => Box::new(Interruptible(std::io::stdin())),
        Some(p) => Box::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ),
    };
    let mut reader = StreamReader::new(buffered(input)).context("reading the input")?;
    let header = reader.header().clone();
    let prefix = match &args.output_file_prefix {
        Some(p) => p.clone(),
        None => String::from_utf8(header.namespace.clone().unwrap_or_default())
            .ok()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                BadInput("the stream names no namespace: give --output-file-prefix".into())
            })?,
    };
    if prefix.contains('/') {
        bail!("invalid file prefix {prefix:?}");
    }
    // Created once a stream arrives: a scan that fails to start leaves nothing behind.
    if let Some(Dest::Dir(dir)) = &dest {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let state_path =
        args.state_file
            .clone()
            .or(args.resume.clone())
            .or(match (&dest, &args.output_file) {
                (Some(Dest::Dir(dir)), _) => Some(dir.join(format!("{prefix}{STATE_SUFFIX}"))),
                (None, Some(f)) => Some(with_suffix(f, ".state")),
                _ => None,
            });
    let (state, reuse) = match &args.resume {
        Some(path) => resume(path, dest.as_ref(), &header, &prefix)?,
        None => {
            if let Some(f) = &args.output_file {
                if f.exists() {
                    if !args.remove_files {
                        bail!(
                            "output file {} already exists; use -r to overwrite it",
                            f.display()
                        );
                    }
                    std::fs::remove_file(f)
                        .with_context(|| format!("cannot remove {}", f.display()))?;
                }
            }
            if let Some(Dest::Dir(dir)) = &dest {
                if !asb_files(dir)?.is_empty() {
                    if !args.remove_files {
                        bail!(
                            "directory {} seems to contain an existing backup; use -r to clear it, or --continue to resume it",
                            dir.display()
                        );
                    }
                    remove_asb(dir)?;
                }
            }
            let ns = String::from_utf8_lossy(header.namespace.as_deref().unwrap_or_default());
            let mut st = BackupState::new(&ns, &prefix, &header.scope);
            st.kind = kind_of(dest.as_ref()).into();
            (st, VecDeque::new())
        }
    };
    let dest = match (dest, &args.output_file) {
        (Some(d), _) => d,
        (None, Some(path)) => Dest::File(Arc::new(open_one_file(
            path,
            args.resume.is_some().then_some(state.file_len),
        )?)),
        (None, None) => unreachable!("clap requires a destination"),
    };
    let marker = match &dest {
        Dest::Dir(dir) => Some(dir.join(format!("{prefix}{INCOMPLETE_SUFFIX}"))),
        _ => None,
    };
    // One file is written by one worker, checkpointed every --checkpoint MiB.
    let (parallel, limit) = match &dest {
        Dest::File(_) => (1, args.checkpoint << 20),
        _ => (args.parallel as usize, args.file_limit << 20),
    };
    // Until the backup completes, the directory says it is not a backup to restore.
    if let Some(m) = &marker {
        std::fs::write(m, "backup in progress\n")
            .with_context(|| format!("cannot write {}", m.display()))?;
    }
    let first = header.first_file && !state.first_file_done;
    let shared = Arc::new(Shared {
        dest,
        prefix,
        filter: args.filter.clone(),
        limit,
        framed: args.framed_sink,
        header,
        reuse: Mutex::new(reuse),
        state: Mutex::new(state),
        state_path: state_path.clone(),
        failed: AtomicBool::new(false),
        broken: AtomicBool::new(false),
        verbose: args.verbose,
    });
    shared.save(&shared.state.lock().unwrap())?;

    // Worker 0 opens its first file at once: the file with `# first-file` and the metadata.
    let result = split(&shared, &mut reader, parallel, first).and_then(|()| match &shared.dest {
        Dest::File(one) => {
            std::fs::rename(&one.partial, &one.path).with_context(|| {
                format!(
                    "cannot rename {} to {}",
                    one.partial.display(),
                    one.path.display()
                )
            })?;
            let dir = one.path.parent().filter(|d| !d.as_os_str().is_empty());
            state::sync_dir(dir.unwrap_or(Path::new("."))).context("cannot sync the directory")
        }
        _ => Ok(()),
    });
    let st = shared.state.lock().unwrap().clone();
    match result {
        Ok(()) => {
            if let Some(p) = &state_path {
                let _ = std::fs::remove_file(p);
            }
            if let Some(m) = &marker {
                let _ = std::fs::remove_file(m);
            }
            if args.verbose {
                eprintln!(
                    "as-split: {} file(s), {} byte(s), {} record(s)",
                    st.files, st.bytes, st.records
                );
            }
            Ok(())
        }
        Err(e) => {
            if let Some(m) = &marker {
                let _ = std::fs::write(m, format!("{}\n", as_cli::io::one_line(&e)));
            }
            match &state_path {
                Some(p) => Err(e.context(format!(
                    "backup incomplete, resume it with --continue {} ({} record(s) in {} complete file(s), {} of 4096 partitions left)",
                    p.display(),
                    st.records,
                    st.files,
                    st.remaining()
                ))),
                None => Err(e),
            }
        }
    }
}

/// Frames are handed to a worker in batches of about this many bytes; a file may pass its limit
/// by one batch.
const BATCH: usize = 32 << 10;

/// Routes the input's frames to the workers until the input ends, fails or a signal arrives;
/// the workers then finish their files.
fn split<R: Read>(
    shared: &Arc<Shared>,
    reader: &mut StreamReader<R>,
    n: usize,
    first: bool,
) -> anyhow::Result<()> {
    let first_file = OpenFile::open(shared, first)?;
    let mut txs = Vec::new();
    let mut handles = Vec::new();
    let mut first_file = Some(first_file);
    for _ in 0..n {
        let (tx, rx) = crossbeam_channel::bounded::<(Vec<Note>, FrameBatch)>(32);
        let s = shared.clone();
        let f = first_file.take();
        handles.push(signals::spawn(move || worker(&s, rx, f)));
        txs.push(tx);
    }

    // Frames go to a worker in batches (fewer hand-overs between threads), each with what it
    // tells about durability.
    let mut pending: Vec<(Vec<Note>, FrameBatch)> = (0..n).map(|_| Default::default()).collect();
    let read_result = (|| -> anyhow::Result<()> {
        let mut frame = Vec::with_capacity(1 << 16);
        loop {
            if let Some(i) = signals::received() {
                return Err(i.into());
            }
            frame.clear();
            let Some(kind) = reader
                .next_sealed(&mut frame)
                .context("reading the input")?
            else {
                return Ok(());
            };
            let malformed = || BadInput("malformed frame in the input".into());
            let (to, note) = match kind {
                Kind::Record => {
                    let d = stream::record_digest(&frame).ok_or_else(malformed)?;
                    let p = partition_of(&d);
                    (p as usize % n, Note::Record(p, d))
                }
                Kind::PartitionDone => {
                    let m = stream::partition_done_of(&frame).ok_or_else(malformed)?;
                    let note = match m.status {
                        PartitionStatus::Complete => Note::Done(m.partition),
                        PartitionStatus::Partial => Note::Nothing,
                    };
                    (m.partition as usize % n, note)
                }
                // Index and UDF definitions belong to the first file, once.
                _ if !first => continue,
                _ => (0, Note::Nothing),
            };
            let slot = &mut pending[to];
            slot.1.sealed(kind, &frame);
            slot.0.push(note);
            if slot.1.len() >= BATCH
                && (txs[to].send(std::mem::take(slot)).is_err()
                    || shared.failed.load(Ordering::SeqCst))
            {
                // A worker stopped: its error is reported below.
                return Ok(());
            }
        }
    })();
    // Whatever was read is whole: it goes to the files, even when the input broke off.
    for (tx, slot) in txs.iter().zip(pending) {
        if !slot.1.is_empty() {
            let _ = tx.send(slot);
        }
    }
    // A read cut short by a signal is the signal's doing.
    let read_result = read_result.map_err(|e| match signals::received() {
        Some(i) => anyhow::Error::new(i),
        None => e,
    });
    if read_result.is_err() {
        shared.broken.store(true, Ordering::SeqCst);
    }
    drop(txs);
    let mut worker_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => worker_error = worker_error.or(Some(e)),
            Err(_) => worker_error = worker_error.or(Some(anyhow::anyhow!("a worker panicked"))),
        }
    }
    read_result?;
    if let Some(e) = worker_error {
        return Err(e);
    }
    // Numbers a killed run left open and this one did not reuse: overwrite them with files
    // holding no record.
    loop {
        let next = shared.reuse.lock().unwrap().front().copied();
        if next.is_none() {
            break;
        }
        OpenFile::open(shared, false)?.close(shared)?;
    }
    Ok(())
}
