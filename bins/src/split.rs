//! `as-split`: cut a record stream into a directory of size-limited backup files (asbackup's
//! directory mode), each made by a per-file filter command.

use crate::io::{buffered, open_input, BadInput};
use anyhow::{bail, Context};
use as_common::stream::{self, FrameBatch, Header, Kind, StreamReader, StreamWriter};
use clap::Parser;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
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
/// checked before each record: a file is closed once it holds the limit, so files exceed it by at
/// most a record and the filter's buffers. With --parallel, each worker owns its own sequence of
/// files (numbered in the order they are opened) and every partition always goes to the same
/// worker, so the filters (compressors) run in parallel.
///
/// A file appears under its final name only when it is complete: it is written as
/// .PREFIX_NNNNN.asb.partial and renamed when its filter succeeded. With --sink, each file's bytes
/// are piped into a command instead (with FILE set to the file name, e.g.
/// `as-s3put s3://bucket/prefix/$FILE`), which must succeed for the file to count.
///
/// If the input stream is truncated or corrupt, or a filter or sink fails, as-split stops with one
/// line on stderr and a non-zero exit; unfinished files are removed.
#[derive(Parser, Debug)]
#[command(name = "as-split", version, max_term_width = 100, after_long_help = crate::EXIT_STATUS_HELP)]
pub struct Args {
    /// The directory of the backup (created if missing).
    #[arg(short = 'd', long, required_unless_present = "sink")]
    pub directory: Option<PathBuf>,

    /// File-name prefix (default: the namespace).
    #[arg(short = 'q', long)]
    pub output_file_prefix: Option<String>,

    /// Close a file once this many MiB have landed in it.
    #[arg(short = 'F', long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
    pub file_limit: u64,

    /// The command each file's record stream is piped through (run with sh -c).
    #[arg(long, default_value = "as-encode")]
    pub filter: String,

    /// Instead of writing files, pipe each file into this command (sh -c, with FILE set to the
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

    /// Delete the *.asb files already in the directory first.
    #[arg(short = 'r', long)]
    pub remove_files: bool,

    /// Delete the *.asb files in the directory (and the directory, if then empty), and exit.
    #[arg(long)]
    pub remove_artifacts: bool,

    /// Print a line per finished file and a summary on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// The record stream; standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

/// Left in a directory whose backup did not finish: `<prefix>.asb.incomplete`, holding the reason.
pub const INCOMPLETE_SUFFIX: &str = ".asb.incomplete";

fn asb_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.extension().is_some_and(|x| x == "asb") || name.ends_with(INCOMPLETE_SUFFIX) {
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
}

/// What all workers share.
struct Shared {
    dest: Dest,
    prefix: String,
    filter: String,
    limit: u64,
    framed: bool,
    header: Header,
    next_number: AtomicU64,
    failed: AtomicBool,
    /// (file name, bytes) of every finished file.
    done: Mutex<Vec<(String, u64)>>,
    verbose: bool,
}

/// One file in the making: the filter process, the thread that moves its output to the
/// destination, and the count of bytes that came out.
struct OpenFile {
    name: String,
    writer: Option<StreamWriter<BufWriter<ChildStdin>>>,
    filter: Child,
    filter_err: Option<JoinHandle<String>>,
    /// Moves the filter's output to the destination; gives the destination back when done.
    pump: Option<JoinHandle<anyhow::Result<Box<dyn Write + Send>>>>,
    sink: Option<Child>,
    /// The sink reads frames and completes only on the commit frame (as-s3put --framed).
    framed: bool,
    landed: Arc<AtomicU64>,
    partial: Option<PathBuf>,
}

/// `sh -c cmd`, with this program's directory first on PATH so that the sibling tools
/// (as-encode, as-zstd, as-s3put) are found wherever the toolkit is installed.
fn sh(cmd: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(cmd);
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir];
        dirs.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            c.env("PATH", joined);
        }
    }
    c
}

impl OpenFile {
    fn open(s: &Shared, first: bool) -> anyhow::Result<OpenFile> {
        let n = s.next_number.fetch_add(1, Ordering::SeqCst);
        let name = format!("{}_{n:05}.asb", s.prefix);
        let mut filter = sh(&s.filter)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the filter {:?}", s.filter))?;
        // The filter's complaints become part of our one error line, or vanish when we
        // stopped it ourselves.
        let mut err_pipe = filter.stderr.take().expect("piped");
        let filter_err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        let mut out = filter.stdout.take().expect("piped");
        let landed = Arc::new(AtomicU64::new(0));
        let (partial, mut dest, sink): (Option<PathBuf>, Box<dyn Write + Send>, Option<Child>) =
            match &s.dest {
                Dest::Dir(dir) => {
                    let p = dir.join(format!(".{name}.partial"));
                    let f = std::fs::File::create(&p)
                        .with_context(|| format!("cannot create {}", p.display()))?;
                    (Some(p), Box::new(f), None)
                }
                Dest::Sink(cmd) => {
                    let mut child = sh(cmd)
                        .env("FILE", &name)
                        .stdin(Stdio::piped())
                        .spawn()
                        .with_context(|| format!("cannot run the sink {cmd:?}"))?;
                    let stdin = child.stdin.take().expect("piped");
                    (None, Box::new(stdin), Some(child))
                }
            };
        let counter = landed.clone();
        let fname = name.clone();
        let framed = s.framed && sink.is_some();
        let pump = std::thread::spawn(move || -> anyhow::Result<Box<dyn Write + Send>> {
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = match out.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("reading the filter output of {fname}")))
                    }
                };
                if framed {
                    dest.write_all(&(n as u32).to_be_bytes())
                        .with_context(|| format!("writing {fname}"))?;
                }
                dest.write_all(&buf[..n])
                    .with_context(|| format!("writing {fname}"))?;
                counter.fetch_add(n as u64, Ordering::SeqCst);
            }
            dest.flush().with_context(|| format!("writing {fname}"))?;
            Ok(dest)
        });
        let stdin = filter.stdin.take().expect("piped");
        let header = Header {
            first_file: first && s.header.first_file,
            ..s.header.clone()
        };
        let writer = StreamWriter::new(BufWriter::with_capacity(64 << 10, stdin), &header)
            .with_context(|| format!("writing to the filter of {name}"))?;
        Ok(OpenFile {
            name,
            writer: Some(writer),
            filter,
            filter_err: Some(filter_err),
            pump: Some(pump),
            sink,
            framed,
            landed,
            partial,
        })
    }

    fn write(&mut self, b: &FrameBatch, s: &Shared) -> anyhow::Result<()> {
        let w = self.writer.as_mut().expect("open");
        match w.batch(b) {
            Ok(()) => Ok(()),
            // The filter stopped reading: its exit says why.
            Err(e) => match self.filter.wait() {
                Ok(st) if !st.success() => Err(self.filter_failed(s, st)),
                _ => Err(anyhow::Error::new(e)
                    .context(format!("writing to the filter of {}", self.name))),
            },
        }
    }

    fn filter_failed(&mut self, s: &Shared, st: std::process::ExitStatus) -> anyhow::Error {
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

    /// Ends the file's stream, waits for its filter and destination, and renames it into place.
    fn close(mut self, s: &Shared) -> anyhow::Result<()> {
        let w = self.writer.take().expect("open");
        let res = w
            .finish()
            .map(|_| ())
            .with_context(|| format!("writing to the filter of {}", self.name));
        let st = self.filter.wait()?;
        let pumped = self
            .pump
            .take()
            .expect("running")
            .join()
            .map_err(|_| anyhow::anyhow!("pump thread panicked"))?;
        if !st.success() {
            return Err(self.filter_failed(s, st));
        }
        res?;
        let mut dest = pumped?;
        if self.framed {
            // The file is whole: tell the sink to complete it.
            dest.write_all(&[0, 0, 0, 0])
                .and_then(|_| dest.flush())
                .with_context(|| format!("writing {}", self.name))?;
        }
        drop(dest);
        if let Some(mut child) = self.sink.take() {
            let st = child.wait()?;
            if !st.success() {
                let cmd = match &s.dest {
                    Dest::Sink(c) => c.as_str(),
                    Dest::Dir(_) => "",
                };
                bail!("the sink {cmd:?} failed for {} ({st})", self.name);
            }
        }
        if let (Some(p), Dest::Dir(dir)) = (self.partial.take(), &s.dest) {
            let fin = dir.join(&self.name);
            std::fs::rename(&p, &fin)
                .with_context(|| format!("cannot rename {} to {}", p.display(), fin.display()))?;
        }
        let bytes = self.landed.load(Ordering::SeqCst);
        if s.verbose {
            eprintln!("as-split: {} ({bytes} bytes)", self.name);
        }
        s.done.lock().unwrap().push((self.name.clone(), bytes));
        Ok(())
    }

    /// Gives up on the file: stops its filter and removes what it wrote.
    fn abort(mut self) {
        // Stop the filter before closing its input, so it never sees (and reports) a cut stream.
        let _ = self.filter.kill();
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
                let _ = sink.kill();
            }
            let _ = sink.wait();
        }
        if let Some(p) = self.partial.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A worker: owns its current file; receives batches of frames to append.
fn worker(
    s: &Shared,
    rx: crossbeam_channel::Receiver<FrameBatch>,
    mut current: Option<OpenFile>,
) -> anyhow::Result<()> {
    let result = (|| -> anyhow::Result<()> {
        for batch in rx.iter() {
            // The limit is checked before each record (each batch holds one record, or
            // metadata and markers).
            if current.as_ref().is_some_and(|f| {
                f.landed.load(Ordering::SeqCst) >= s.limit && batch.counts.records > 0
            }) {
                current.take().expect("checked").close(s)?;
            }
            if current.is_none() {
                current = Some(OpenFile::open(s, false)?);
            }
            current.as_mut().expect("opened").write(&batch, s)?;
        }
        // When the input failed, the file must not end like a complete one.
        if let Some(f) = current.take() {
            if s.failed.load(Ordering::SeqCst) {
                f.abort();
            } else {
                f.close(s)?;
            }
        }
        Ok(())
    })();
    if result.is_err() {
        s.failed.store(true, Ordering::SeqCst);
        if let Some(f) = current.take() {
            f.abort();
        }
    }
    result
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.remove_artifacts {
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
        return Ok(());
    }
    let dest = match (&args.sink, &args.directory) {
        (Some(cmd), _) => Dest::Sink(cmd.clone()),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let existing = asb_files(dir)?;
            if !existing.is_empty() {
                if !args.remove_files {
                    bail!(
                        "directory {} seems to contain an existing backup; use -r to clear it",
                        dir.display()
                    );
                }
                remove_asb(dir)?;
            }
            Dest::Dir(dir.clone())
        }
        (None, None) => unreachable!("clap requires one"),
    };

    let mut reader = StreamReader::new(buffered(open_input(args.input.as_deref())?))
        .context("reading the input")?;
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
    let shared = Arc::new(Shared {
        dest,
        prefix,
        filter: args.filter.clone(),
        limit: args.file_limit << 20,
        framed: args.framed_sink,
        header,
        next_number: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        done: Mutex::new(Vec::new()),
        verbose: args.verbose,
    });

    // Worker 0 opens file 00000 first: the file with `# first-file` and the metadata.
    let first = OpenFile::open(&shared, true)?;
    let n = args.parallel as usize;
    let mut txs = Vec::new();
    let mut handles = Vec::new();
    let mut first = Some(first);
    for _ in 0..n {
        let (tx, rx) = crossbeam_channel::bounded::<FrameBatch>(256);
        let s = shared.clone();
        let f = first.take();
        handles.push(std::thread::spawn(move || worker(&s, rx, f)));
        txs.push(tx);
    }

    let read_result = (|| -> anyhow::Result<()> {
        let mut frame = Vec::with_capacity(1 << 16);
        loop {
            frame.clear();
            let Some(kind) = reader
                .next_sealed(&mut frame)
                .context("reading the input")?
            else {
                break;
            };
            let to = match kind {
                Kind::Record => stream::record_digest(&frame)
                    .map(|d| as_common::record::partition_of(&d) as usize % n),
                Kind::PartitionDone => {
                    stream::partition_done_of(&frame).map(|p| p.partition as usize % n)
                }
                // Index and UDF definitions belong to the first file.
                _ => Some(0),
            }
            .ok_or_else(|| BadInput("malformed frame in the input".into()))?;
            let mut b = FrameBatch::default();
            b.sealed(kind, &frame);
            if txs[to].send(b).is_err() {
                // The worker stopped: its error is reported below.
                break;
            }
            if shared.failed.load(Ordering::SeqCst) {
                break;
            }
        }
        Ok(())
    })();
    if read_result.is_err() {
        shared.failed.store(true, Ordering::SeqCst);
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
    if let Some(e) = read_result.err().or(worker_error) {
        // The files already finished are whole, but the backup is not: say so in the directory,
        // where as-decode --validate (and a look with ls) will see it.
        if let Dest::Dir(dir) = &shared.dest {
            let marker = dir.join(format!("{}{INCOMPLETE_SUFFIX}", shared.prefix));
            let _ = std::fs::write(&marker, format!("{}\n", crate::io::one_line(&e)));
        }
        return Err(e);
    }
    let done = shared.done.lock().unwrap();
    if args.verbose {
        let total: u64 = done.iter().map(|(_, b)| b).sum();
        eprintln!("as-split: {} file(s), {total} byte(s)", done.len());
    }
    Ok(())
}
