//! `as-decode`: ASB text → record stream, and offline validation of a backup.

use crate::backup::Layers;
use anyhow::{bail, Context};
use as_cli::io::{binary_stdout, CHUNK};
use as_cli::{BadInput, Usage};
use as_common::asb::{AsbItem, AsbReader};
use as_common::backup::{BackupFile, BackupSet, Source};
use as_common::stream::{Header, StreamWriter};
use clap::Parser;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Turn an ASB backup file into a record stream, or validate a backup offline.
///
/// Reads an ASB text backup (versions 3.0 and 3.1, as written by asbackup or by as-encode, and
/// absctl's 3.2 with its expression-index lines) and writes the framed record stream
/// (as-stream(5)) on standard output, so that
/// `as-decode < f.asb | as-encode > g.asb` reproduces `f.asb` byte for byte. Whether the file starts
/// with `# first-file` travels in the stream header.
///
/// With --validate, reads a whole backup (a file, standard input, a directory of `*.asb` files or
/// a cloud prefix), writes no stream, and prints the counts of records, secondary indexes and UDF
/// files; the exit status is 0 only when everything parsed. A directory or prefix holding an
/// unfinished backup (PREFIX.asb.incomplete, PREFIX.asb.state) is refused in one line.
///
/// Errors name the file, line and column. The exit status is 3 for invalid input and 1 for other
/// failures.
#[derive(Parser, Debug)]
#[command(name = "as-decode", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// Parse the whole backup and report counts instead of writing a stream. A directory
    /// holding manifests (PREFIX.manifest) is valid only when they list exactly the files
    /// there at their sizes and, for shards (asbackup --shard), cover every partition exactly
    /// once (one line naming each missing, resized or unlisted file and each missing or
    /// overlapping shard). The files' digests are as-verify's to check.
    #[arg(long)]
    pub validate: bool,

    /// With --validate on a directory or a cloud prefix: check only the manifests and that the
    /// files they list are there at their sizes, without reading the files (quick, before a
    /// restore).
    #[arg(long, requires = "validate")]
    pub shards_only: bool,

    /// The input is compressed (as asbackup -z zstd writes it).
    #[arg(short = 'z', long, value_enum)]
    pub compress: Option<Compression>,

    /// Print a summary line on stderr when done.
    #[arg(short, long)]
    pub verbose: bool,

    /// The input is encrypted (asbackup --encrypt): decrypted first, then decompressed.
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,

    #[command(flatten)]
    pub cloud: crate::cloud::CloudArgs,

    /// The backup file (or, with --validate, a directory of *.asb files, or a cloud prefix:
    /// s3://, gs://, az:// as as-get(1) takes them); standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

pub use crate::backup::Compression;

#[derive(Debug, Default, Clone, Copy)]
struct FileCounts {
    records: u64,
    sindexes: u64,
    udfs: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.validate {
        return validate(&args);
    }
    let path = args.input.as_deref().filter(|p| p.as_os_str() != "-");
    let name = path.map_or("stdin".to_string(), |p| p.display().to_string());
    if path.is_some_and(Path::is_dir) {
        bail!("{name} is a directory: decode its files one at a time, or check them all with --validate");
    }
    let layers = Layers::new(args.compress, &args.key, reader(&args))?;
    let file = BackupFile {
        path: path.map(|p| p.to_string_lossy().into_owned()),
        size: None,
        entry: None,
    };
    let input = layers.open(&file, None).with_context(|| name.clone())?;
    let mut reader = AsbReader::new(input).with_context(|| name.clone())?;
    let h = reader.header();
    let header = Header {
        namespace: h.namespace.clone(),
        first_file: h.first_file,
        producer: format!("as-decode {}", as_common::VERSION),
        scope: format!("ASB file {name} (version {})", h.version),
        append: false,
        origin: None,
    };
    let out = BufWriter::with_capacity(CHUNK, binary_stdout("a record stream")?);
    let mut w = StreamWriter::new(out, &header)?;
    // The trailer is written only after the whole file parsed: on error the stream stays
    // truncated, and every consumer rejects it.
    while let Some(item) = reader.next_item().with_context(|| name.clone())? {
        match item {
            AsbItem::Record(r) => w.record(&r)?,
            AsbItem::SIndex(s) => w.sindex(&s)?,
            AsbItem::Udf(u) => w.udf(&u)?,
        }
    }
    let (_, t) = w.finish()?;
    if args.verbose {
        tracing::info!(
            records = t.records,
            indexes = t.sindexes,
            udfs = t.udfs,
            "{} record(s), {} secondary index(es), {} UDF file(s)",
            t.records,
            t.sindexes,
            t.udfs
        );
    }
    Ok(())
}

/// The backup `--validate` reads: a file, standard input, a directory or a cloud prefix.
fn source(args: &Args, reader: &crate::cloud::Reader) -> anyhow::Result<Source> {
    let path = args.input.as_deref().map(|p| p.to_string_lossy());
    crate::backup::source_of(path.as_deref().unwrap_or("-"), reader)
}

fn validate(args: &Args) -> anyhow::Result<()> {
    let reader = reader(args);
    let source = source(args, &reader)?;
    if args.shards_only {
        let Source::Dir(dir) = &source else {
            return Err(Usage("--shards-only needs a directory or a cloud prefix".into()).into());
        };
        let set = crate::backup::open(&source, &reader, false)?;
        if !set.has_manifest() {
            return Err(BadInput(format!("{dir} holds no manifest")).into());
        }
        println!("{}", whole(&set));
        return Ok(());
    }
    let set = crate::backup::open(&source, &reader, false)?;
    // As its manifest says it is stored (each file's digests checked as it is read), or as
    // the options say.
    validate_set(
        &set,
        &Layers::for_set(&set, args.compress, &args.key, reader)?,
    )
}

/// Reads from the clouds with the storage options given.
fn reader(args: &Args) -> crate::cloud::Reader {
    crate::cloud::Reader {
        s3: args.s3.clone(),
        cloud: args.cloud.clone(),
    }
}

/// Parses every file of a backup: one line per file on stdout (when several), one per invalid
/// file on stderr (`prog: error: ...`), then the counts; an error when any file is invalid.
pub fn validate_set(set: &BackupSet, layers: &Layers) -> anyhow::Result<()> {
    let files = &set.files;
    let mut total = FileCounts::default();
    let (mut failed, mut first_files) = (0usize, 0usize);
    for f in files {
        let name = f.name();
        match validate_one(layers, f) {
            Ok((c, first)) => {
                total.records += c.records;
                total.sindexes += c.sindexes;
                total.udfs += c.udfs;
                first_files += first as usize;
                if files.len() > 1 {
                    println!(
                        "{name}: ok: {} record(s), {} secondary index(es), {} UDF file(s)",
                        c.records, c.sindexes, c.udfs
                    );
                }
            }
            Err(e) if files.len() > 1 => {
                failed += 1;
                println!("{name}: invalid");
                tracing::error!(file = %name, "{}", as_cli::io::one_line(&e));
            }
            Err(e) => return Err(e),
        }
    }
    if failed > 0 {
        return Err(BadInput(format!("{failed} of {} file(s) are not valid", files.len())).into());
    }
    if !set.has_manifest() && files.len() > 1 && first_files != 1 {
        tracing::warn!(
            "{first_files} of {} files carry '# first-file' (a backup has one)",
            files.len()
        );
    }
    println!(
        "valid: {} record(s), {} secondary index(es), {} UDF file(s) in {} file(s)",
        total.records,
        total.sindexes,
        total.udfs,
        files.len()
    );
    if set.has_manifest() {
        println!("{}", whole(set));
    }
    Ok(())
}

/// What opening a backup with manifests proved.
fn whole(set: &BackupSet) -> String {
    let shards = set
        .manifests
        .iter()
        .filter(|(_, m)| m.scope.shard.is_some())
        .count();
    let mut s = format!(
        "{} manifest(s): every file listed present at its size",
        set.manifests.len()
    );
    if shards > 0 {
        s += &format!(", {shards} shard(s) with every partition in exactly one");
    }
    s
}

/// Parses one file whole: its counts, and whether it carries `# first-file`.
fn validate_one(layers: &Layers, file: &BackupFile) -> anyhow::Result<(FileCounts, bool)> {
    let name = file.name();
    let input = layers.open(file, None).with_context(|| name.to_string())?;
    let mut reader = AsbReader::new(input).with_context(|| name.to_string())?;
    let first = reader.header().first_file;
    let mut c = FileCounts::default();
    while let Some(item) = reader.next_item().with_context(|| name.to_string())? {
        match item {
            AsbItem::Record(_) => c.records += 1,
            AsbItem::SIndex(_) => c.sindexes += 1,
            AsbItem::Udf(_) => c.udfs += 1,
        }
    }
    Ok((c, first))
}
