//! `as-split`: cut a record stream into a directory of size-limited backup files (asbackup's
//! directory mode), each made by a per-file filter command, and keep the state from which an
//! interrupted backup is resumed.

mod dir;
mod file;
mod follow;
mod inprocess;
mod job;
mod landing;
mod manifest;
mod resume;
mod route;
mod single;
mod sink;
mod stdout;

use anyhow::Context;
use as_cli::io::open_input_interruptible;
use as_cli::signals;
use as_cli::summary::Summary;
use as_cli::{BadInput, Usage};
use as_common::layout;
use as_common::stream::StreamReader;
use clap::Parser;
use job::Job;
use landing::Landing;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Cut a record stream into a directory of size-limited backup files.
///
/// Reads the record stream (as-stream(5)) and writes backup files named PREFIX_NNNNN.asb (from
/// 00000; PREFIX is the namespace unless -q is given) as asbackup's directory mode does. Each file
/// is a complete backup by itself: the stream for it is piped through FILTER (default
/// `as-encode`; for example `as-encode --compact | as-zstd -l 5`), and what comes out lands in the
/// file. Only the first file carries `# first-file` and the index and UDF lines.
///
/// --file-limit is measured on the bytes that come out of the filter (after compression) and
/// checked before each batch of records: a file is closed once it holds the limit, or once the
/// stream sent to its filter will make it hold that much at the rate of the files already complete
/// (a filter holds a few MiB in flight). A worker's first file may exceed the limit by what its
/// filter held; later files by about a batch (32 KiB of stream).
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
    /// when complete (`-`: standard output, in one piece, with no state; its manifest only
    /// where --manifest says). It is built of segments, each piped through FILTER and appended (ASB text
    /// and zstd frames both concatenate): every --checkpoint MiB the file is synced and the state
    /// updated, and a resume cuts the file back to the last checkpoint and appends. One worker.
    /// Each segment's filter runs with PARTIAL set to the path of FILE.partial, for a stage
    /// that must go on from what the file holds (`as-crypt ... --append "$PARTIAL"`).
    #[arg(short = 'o', long, conflicts_with_all = ["directory", "sink"])]
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

    /// The command each file's record stream is piped through (run with bash -o pipefail -c, so
    /// that any of its stages failing fails the file). Default: the one --compact, --compress
    /// and --encrypt describe (`as-encode [--compact] [| as-zstd -l N] [| as-crypt ...]`); a
    /// filter given here must store the files as those options say, for the manifest says so.
    #[arg(long)]
    pub filter: Option<String>,

    /// Run the filter the options describe (as-encode [--compact] [| as-zstd -l N] [| as-crypt
    /// ...]) on as-split's own threads instead of as processes: the same bytes (the tools' own
    /// code; an encrypted file's IV is random either way), without the processes and pipes of
    /// each file. zstd gets the cores the files written at once leave it (up to 4 threads for
    /// -o FILE), which changes no byte. For files (-d DIR, -o FILE); not with --filter or --sink.
    #[arg(long, conflicts_with_all = ["filter", "sink"])]
    pub in_process: bool,

    /// The files are compact ASB (as-encode --compact).
    #[arg(long)]
    pub compact: bool,

    /// The files are compressed (zstd).
    #[arg(short = 'z', long, value_enum)]
    pub compress: Option<crate::backup::Compression>,

    /// The zstd level (default 3, as asbackup's).
    #[arg(
        long,
        value_name = "N",
        requires = "compress",
        allow_negative_numbers = true
    )]
    pub compression_level: Option<i32>,

    /// The files are encrypted (as-crypt, asbackup --encrypt): the manifest records the mode, a
    /// check value of the key and an HMAC of each file under a key derived from it.
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,

    /// Instead of writing files, pipe each file into this command (bash -o pipefail -c, with FILE set to the
    /// file name).
    #[arg(long, conflicts_with_all = ["remove_files", "remove_artifacts"])]
    pub sink: Option<String>,

    /// Send each file to the sink in frames and commit it with an empty frame once it is whole,
    /// for sinks that must not keep a partial file (as-s3put --framed).
    #[arg(long, requires = "sink")]
    pub framed_sink: bool,

    /// With --sink: the command that deletes the file FILE from where the sink puts it (bash -o
    /// pipefail -c, with FILE set; e.g. `as-put --delete s3://bucket/prefix/$FILE`). The sink
    /// then keeps PREFIX.asb.incomplete as a directory does: written through the sink before
    /// the first file, rewritten with the reason when the backup fails or is stopped, and
    /// deleted with this command once the backup is complete (if that fails, so does as-split).
    #[arg(long, value_name = "CMD", requires = "sink")]
    pub sink_remove: Option<String>,

    /// Workers, each with its own files and filter (1 to 100).
    #[arg(short = 'w', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub parallel: u32,

    /// Delete the backup files (and state) already in the directory first.
    #[arg(short = 'r', long)]
    pub remove_files: bool,

    /// Delete the *.asb files in the directory (and the directory, if then empty), or the one
    /// file with its .partial and .state, and exit.
    #[arg(long)]
    pub remove_artifacts: bool,

    /// Where to keep the state of the backup (default: DIR/PREFIX.asb.state; none with --sink
    /// unless given); a directory, or a path ending in /, gets PREFIX.asb.state in it.
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Resume the backup whose state is in this file (the input must come from a scan resumed
    /// from the same state: as-scan --continue). The state is kept up to date in the same file
    /// unless --state-file says otherwise.
    #[arg(short = 'c', long = "continue", value_name = "STATE", conflicts_with_all = ["remove_files", "remove_artifacts"])]
    pub resume: Option<PathBuf>,

    /// Where to write the backup's manifest once it is complete (default: DIR/PREFIX.manifest,
    /// FILE.manifest; with --sink, it is sent through the sink as PREFIX.manifest, and written
    /// here too when given): JSON with the scope, how the files are stored, and each file's
    /// size, SHA-256 and records, with the records of each partition; written last and
    /// atomically (see as-verify(1)).
    #[arg(long, value_name = "FILE", conflicts_with = "no_manifest")]
    pub manifest: Option<PathBuf>,

    /// Write no manifest (the backup is then as asbackup's: nothing proves it whole). Files on
    /// this machine are then not hashed; a resume without this option reads them back.
    #[arg(long)]
    pub no_manifest: bool,

    /// The backup is one of a catalog, full or incremental: its manifest says so
    /// (scripts/asbackup --catalog passes this; see as-catalog(1)).
    #[arg(long, value_name = "KIND", value_parser = parse_kind, conflicts_with = "no_manifest")]
    pub catalog_kind: Option<as_common::manifest::BackupKind>,

    /// The catalog backup an incremental follows (its name in the catalog).
    #[arg(long, value_name = "NAME", requires = "catalog_kind")]
    pub catalog_parent: Option<String>,

    /// The inventory taken at the backup's start (as-catalog inventory): delivered beside the
    /// files as PREFIX.inventory, before them, and recorded in the manifest.
    #[arg(
        long,
        value_name = "FILE",
        requires = "catalog_kind",
        conflicts_with = "output_file"
    )]
    pub inventory: Option<PathBuf>,

    /// Write into this file, one `key=value` per line, the state file to resume from (state) and
    /// complete=false once the input's header is read, and when as-split ends: files, bytes,
    /// records, complete (true or false), and state when not complete.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Check the options and exit without reading the input: 0 when they are good, 2 with the
    /// reason when not.
    #[arg(long)]
    pub check_options: bool,

    /// Print a line per finished file and a summary on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// The record stream; standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(p) = args
        .output_file_prefix
        .as_deref()
        .filter(|p| p.contains('/'))
    {
        return Err(Usage(format!("invalid file prefix {p:?} (no /)")).into());
    }
    if args.in_process
        && args
            .output_file
            .as_ref()
            .is_some_and(|f| f.as_os_str() == "-")
    {
        return Err(Usage("--in-process writes files: not with -o -".into()).into());
    }
    let storage = manifest::Storage::new(&args)?;
    if args.check_options {
        return Ok(());
    }
    if args.remove_artifacts {
        return resume::remove_artifacts(&args);
    }
    signals::install();
    let input = open_input_interruptible(args.input.as_deref())?;
    let mut reader = StreamReader::new(input).context("reading the input")?;
    let header = reader.header().clone();
    let prefix = match &args.output_file_prefix {
        Some(p) => p.clone(),
        None => String::from_utf8(header.namespace.clone().unwrap_or_default())
            .ok()
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| {
                BadInput("the stream names no namespace usable as a file prefix: give --output-file-prefix".into())
            })?,
    };
    let mac_key = storage.key.as_ref().map(|k| k.mac_key());
    let (mut landing, parallel, limit) = landing(&args, &prefix, mac_key)?;
    let state_path = match (&args.state_file, &args.resume) {
        // A directory (or a path ending in /) gets PREFIX.asb.state in it.
        (Some(p), ..) if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') => {
            // (components: no doubled or trailing separators in the name shown to resume with)
            Some(layout::dir_state(
                &p.components().collect::<PathBuf>(),
                &prefix,
            ))
        }
        (Some(p), _) | (None, Some(p)) => Some(p.clone()),
        (None, None) => landing.default_state(),
    };
    // Where the state is, before anything can fail (even a SIGKILL): the summary says it.
    let mut summary = Summary::new();
    if let Some(p) = &state_path {
        summary.set("state", p.display());
    }
    summary
        .set("complete", false)
        .write(args.summary.as_deref())?;
    let (mut state, reuse) = match &args.resume {
        Some(path) => resume::resume(path, landing.as_mut(), &header, &prefix)?,
        None => resume::fresh(&args, landing.as_mut(), &header, &prefix)?,
    };
    if state.started.is_none() {
        state.started = header.origin.as_ref().map(|o| o.started.clone());
    }
    // Until the backup completes, the directory (or the sink's prefix) says it is not a
    // backup to restore.
    landing.mark_incomplete("backup in progress\n")?;
    // A resumed backup keeps its place in the catalog, and its inventory is already there.
    if state.catalog.is_none() {
        state.catalog = manifest::catalog_info(&args, landing.as_ref(), &prefix)?;
    }
    let first = header.first_file && !state.first_file_done;
    let job = Arc::new(Job {
        landing,
        filter: args.filter.clone().unwrap_or_else(|| storage.filter(&args)),
        in_process: args.in_process.then(|| storage.stages(&args)),
        limit,
        header,
        reuse: Mutex::new(reuse),
        state: Mutex::new(state),
        state_path: state_path.clone(),
        failed: AtomicBool::new(false),
        broken: AtomicBool::new(false),
        verbose: args.verbose,
        mac_key,
        metadata: Default::default(),
        landed_of_sent: Default::default(),
    });
    job.save(&job.state.lock().unwrap())?;

    // Worker 0 opens its first file at once: the file with `# first-file` and the metadata.
    let result = route::split(&job, &mut reader, parallel, first).and_then(|()| job.landing.seal());
    let st = job.state.lock().unwrap().clone();
    // The manifest last, once every file is complete: a backup without one is not proved whole.
    let result = result
        .and_then(|()| match args.no_manifest {
            true => Ok(()),
            false => write_manifest(&args, &job, &prefix, &st, &storage),
        })
        .and_then(|()| job.landing.clear_marker());
    let mut summary = Summary::new();
    summary
        .set("files", st.files)
        .set("bytes", st.bytes)
        .set("records", st.records)
        .set("complete", result.is_ok());
    if let (Err(_), Some(p)) = (&result, &state_path) {
        summary.set("state", p.display());
    }
    summary.write(args.summary.as_deref())?;
    match result {
        Ok(()) => {
            if let Some(p) = &state_path {
                let _ = std::fs::remove_file(p);
            }
            if args.verbose {
                tracing::info!(
                    files = st.files,
                    bytes = st.bytes,
                    records = st.records,
                    "{} file(s), {} byte(s), {} record(s)",
                    st.files,
                    st.bytes,
                    st.records
                );
            }
            Ok(())
        }
        Err(e) => {
            // Best effort: the marker written at the start says as much.
            let why = format!("{}\n", as_cli::io::one_line(&e));
            let _ = job.landing.mark_incomplete(&why);
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

/// Where the files land, resolved once from the options, with the workers and the bytes that
/// make a file: the one file is written by one worker, checkpointed every --checkpoint MiB.
fn landing(
    args: &Args,
    prefix: &str,
    mac_key: Option<[u8; 32]>,
) -> anyhow::Result<(Box<dyn Landing>, usize, u64)> {
    let (workers, limit) = (args.parallel as usize, args.file_limit << 20);
    Ok(match (&args.sink, &args.directory, &args.output_file) {
        (Some(cmd), ..) => {
            let sink = sink::Sink {
                cmd: cmd.clone(),
                framed: args.framed_sink,
                remove: args.sink_remove.clone(),
                prefix: prefix.to_string(),
            };
            (Box::new(sink), workers, limit)
        }
        // Created once a stream arrives: a scan that fails to start leaves nothing behind.
        (None, Some(dir), _) => {
            // Hashed as they land when our filters write them, read back when a filter given
            // by hand does (it might write out of order), not at all without a manifest.
            let digests = match (args.no_manifest, args.filter.is_none()) {
                (true, _) => dir::Digests::Skipped,
                (false, true) => dir::Digests::AsTheyLand,
                (false, false) => dir::Digests::ReadBack,
            };
            let d = dir::Directory::create(dir, prefix, digests)?;
            (Box::new(d), workers, limit)
        }
        // The one file on standard output: no limit, no state.
        (None, None, Some(f)) if f.as_os_str() == "-" => (Box::new(stdout::Stdout), 1, u64::MAX),
        // Hashed as it lands for its manifest: with none to write (--no-manifest), not hashed
        // at all (a resume without --no-manifest reads the file back whole).
        (None, None, Some(f)) => (
            Box::new(single::SingleFile::new(
                f,
                mac_key,
                args.filter.is_none() && !args.no_manifest,
            )),
            1,
            args.checkpoint << 20,
        ),
        (None, None, None) => unreachable!("clap requires a destination"),
    })
}

/// The backup's manifest, where the options say: beside the files, and through a sink.
fn write_manifest(
    args: &Args,
    job: &Job,
    prefix: &str,
    st: &as_common::state::BackupState,
    storage: &manifest::Storage,
) -> anyhow::Result<()> {
    // The one file (on standard output, hashed as it went).
    let single = match (&args.output_file, job.landing.single_file_digest()?) {
        (Some(f), Some(digest)) => {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            Some(as_common::manifest::FileEntry {
                name,
                size: digest.size,
                sha256: digest.sha256,
                hmac: digest.hmac,
                records: st.records,
                indexes: st.indexes.len() as u64,
                udfs: st.udfs.len() as u64,
            })
        }
        _ => None,
    };
    // A state from before manifests were kept: what the runs before wrote is unknown.
    if st.counts.len() != as_common::record::PARTITIONS as usize {
        tracing::warn!("the backup was begun by a version that kept no manifest: none is written");
        return Ok(());
    }
    // A filter given by hand may compress what no option says: the first file's bytes tell
    // (not through a sink or to standard output: then the options must say).
    let described = args.compress.is_some() || args.key.encrypt.is_some();
    let to_stdout = args
        .output_file
        .as_ref()
        .is_some_and(|f| f.as_os_str() == "-");
    if args.filter.is_some() && !described && (args.sink.is_some() || to_stdout) {
        tracing::warn!("--filter through --sink or to standard output, and no option says how its files are stored (-z, --encrypt): no manifest is written");
        return Ok(());
    }
    let mut m = manifest::build(job, st, storage, single);
    job.landing.fill_in(&mut m.files, job.mac_key.as_ref())?;
    if args.filter.is_some() {
        let first = match (&args.directory, &args.output_file) {
            (Some(d), _) => m.files.first().map(|f| d.join(&f.name)),
            (None, Some(f)) if f.as_os_str() != "-" => Some(f.clone()),
            _ => None,
        };
        if let Some(path) = first {
            if !manifest::sniff(&mut m.stored, &path)? {
                tracing::warn!(
                    "the files --filter makes are neither ASB text nor zstd, and no option says how they are stored (--encrypt): no manifest is written"
                );
                return Ok(());
            }
        }
    }
    if let (Some(p), Some(_)) = (&args.manifest, &args.output_file) {
        // On standard output the file is named by where it goes: the manifest's name without
        // .manifest (`-o - --manifest b.asb.manifest`), else "-".
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let name = name
            .strip_suffix(as_common::manifest::SUFFIX)
            .unwrap_or("-");
        if let [only] = m.files.as_mut_slice() {
            if args
                .output_file
                .as_ref()
                .is_some_and(|f| f.as_os_str() == "-")
            {
                only.name = name.to_string();
            }
        }
    }
    let text = m.to_json();
    let path = match (&args.manifest, &args.directory, &args.output_file) {
        (Some(p), ..) => Some(p.clone()),
        (None, None, Some(f)) if f.as_os_str() == "-" => None,
        (None, Some(d), _) => Some(d.join(format!("{prefix}{}", as_common::manifest::SUFFIX))),
        (None, None, Some(f)) => Some(PathBuf::from(as_common::manifest::beside(
            &f.to_string_lossy(),
        ))),
        (None, None, None) => None,
    };
    if let Some(p) = &path {
        manifest::write_atomically(p, text.as_bytes())?;
    }
    let published = format!("{prefix}{}", as_common::manifest::SUFFIX);
    job.landing
        .publish(&published, text.as_bytes())
        .with_context(|| format!("cannot deliver the manifest {published}"))
}

fn parse_kind(s: &str) -> Result<as_common::manifest::BackupKind, String> {
    use as_common::manifest::BackupKind;
    match s {
        "full" => Ok(BackupKind::Full),
        "incremental" => Ok(BackupKind::Incremental),
        _ => Err("expected full or incremental".into()),
    }
}
