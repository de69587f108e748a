//! `as-decode`: ASB text → record stream, and offline validation of a backup.

use anyhow::{bail, Context};
use as_cli::io::{binary_stdout, buffered, open_input, CHUNK};
use as_cli::BadInput;
use as_common::asb::{AsbItem, AsbReader};
use as_common::crypt::{Decryptor, Key};
use as_common::stream::{Header, StreamWriter};
use clap::{Parser, ValueEnum};
use std::io::{BufRead, BufWriter, Read};
use std::path::{Path, PathBuf};

/// Turn an ASB backup file into a record stream, or validate a backup offline.
///
/// Reads an ASB text backup (versions 3.0 and 3.1, as written by asbackup or by as-encode, and
/// absctl's 3.2 with its expression-index lines) and writes the framed record stream
/// (as-stream(5)) on standard output, so that
/// `as-decode < f.asb | as-encode > g.asb` reproduces `f.asb` byte for byte. Whether the file starts
/// with `# first-file` travels in the stream header.
///
/// With --validate, reads a whole backup (a file, standard input, or a directory of `*.asb` files),
/// writes no stream, and prints the counts of records, secondary indexes and UDF files; the exit
/// status is 0 only when everything parsed.
///
/// Errors name the file, line and column. The exit status is 3 for invalid input and 1 for other
/// failures.
#[derive(Parser, Debug)]
#[command(name = "as-decode", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// Parse the whole backup and report counts instead of writing a stream. A directory
    /// holding shard manifests (PREFIX.manifest, asbackup --shard) is valid only when they
    /// cover every partition exactly once and every file they list is there (one line per
    /// missing or overlapping shard, or missing file).
    #[arg(long)]
    pub validate: bool,

    /// With --validate on a directory or a cloud prefix: check only the shard manifests and that
    /// the files they list are there, without reading the files (quick, before a restore).
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
    pub s3: crate::s3::S3Args,

    #[command(flatten)]
    pub cloud: crate::cloud::CloudArgs,

    /// The backup file (or, with --validate, a directory of *.asb files, or a cloud prefix:
    /// s3://, gs://, az:// as as-get(1) takes them); standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

/// How many shard manifests there are, and what is wrong with them (none: one whole backup).
type Sharded = Option<(usize, Vec<String>)>;

/// One file to validate: local (None: standard input), or an object in a cloud.
enum Item {
    Local(Option<PathBuf>),
    Remote(String),
}

impl Item {
    fn name(&self) -> String {
        match self {
            Item::Local(p) => p
                .as_ref()
                .map_or("stdin".to_string(), |p| p.display().to_string()),
            Item::Remote(u) => u.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Compression {
    Zstd,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    records: u64,
    sindexes: u64,
    udfs: u64,
}

fn open(
    path: Option<&Path>,
    compress: Option<Compression>,
    key: Option<&Key>,
) -> anyhow::Result<Box<dyn Read>> {
    layers(Box::new(open_input(path)?), compress, key)
}

/// The decryption and decompression the options ask for, over `input`.
fn layers(
    input: Box<dyn Read>,
    compress: Option<Compression>,
    key: Option<&Key>,
) -> anyhow::Result<Box<dyn Read>> {
    let raw: Box<dyn BufRead> = match key {
        Some(k) => Box::new(buffered(Decryptor::new(buffered(input), k)?)),
        None => Box::new(buffered(input)),
    };
    Ok(match compress {
        None => Box::new(raw),
        Some(Compression::Zstd) => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw)
                .context("cannot start the zstd decoder")?,
        ),
    })
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
    let key = args.key.key()?;
    let input = open(path, args.compress, key.as_ref()).with_context(|| name.clone())?;
    let mut reader = AsbReader::new(input).with_context(|| name.clone())?;
    let h = reader.header();
    let header = Header {
        namespace: h.namespace.clone(),
        first_file: h.first_file,
        producer: format!("as-decode {}", as_common::VERSION),
        scope: format!("ASB file {name} (version {})", h.version),
        append: false,
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
        eprintln!(
            "as-decode: {} record(s), {} secondary index(es), {} UDF file(s)",
            t.records, t.sindexes, t.udfs
        );
    }
    Ok(())
}

fn validate_one(
    item: &Item,
    args: &Args,
    key: Option<&Key>,
    name: &str,
) -> anyhow::Result<(Counts, bool)> {
    let url = match item {
        Item::Local(path) => return validate_read(open(path.as_deref(), args.compress, key), name),
        Item::Remote(url) => url.clone(),
    };
    // The object streams through a pipe from a download thread; its failure, if any, is the
    // cause of what the reader saw.
    let (r, mut w) = std::io::pipe()?;
    let reader = crate::cloud::Reader {
        s3: args.s3.clone(),
        cloud: args.cloud.clone(),
    };
    let fetch = std::thread::spawn(move || -> anyhow::Result<u64> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(reader.read(&url, &mut w))
    });
    let seen = validate_read(layers(Box::new(r), args.compress, key), name);
    match fetch.join() {
        // A broken pipe: the validator stopped reading first, and says why.
        Ok(Err(e)) if !as_cli::io::is_broken_pipe(&e) => Err(e),
        Err(_) => bail!("the download of {name} failed"),
        _ => seen,
    }
}

fn validate_read(
    input: anyhow::Result<Box<dyn Read>>,
    name: &str,
) -> anyhow::Result<(Counts, bool)> {
    let input = input.with_context(|| name.to_string())?;
    let mut reader = AsbReader::new(input).with_context(|| name.to_string())?;
    let first = reader.header().first_file;
    let mut c = Counts::default();
    while let Some(item) = reader.next_item().with_context(|| name.to_string())? {
        match item {
            AsbItem::Record(_) => c.records += 1,
            AsbItem::SIndex(_) => c.sindexes += 1,
            AsbItem::Udf(_) => c.udfs += 1,
        }
    }
    Ok((c, first))
}

/// The shard manifests of a directory, and what is wrong with them (see
/// [`as_common::shards::check`]); none: not a sharded backup.
fn shards(dir: &Path) -> anyhow::Result<Sharded> {
    use as_common::shards::{check, Manifest, SUFFIX};
    let (mut manifests, mut files) = (Vec::new(), std::collections::BTreeSet::new());
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(SUFFIX) && !name.starts_with('.') {
            let text = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            let m =
                Manifest::parse(&text).map_err(|e| BadInput(format!("{}: {e}", p.display())))?;
            manifests.push((name, m));
        } else if name.ends_with(".asb") {
            files.insert(name);
        }
    }
    if manifests.is_empty() {
        return Ok(None);
    }
    manifests.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some((manifests.len(), check(&manifests, &files))))
}

/// One line per problem on stderr and a non-zero exit, or the good news on stdout.
fn shards_verdict(n: usize, problems: &[String]) -> anyhow::Result<()> {
    for p in problems {
        eprintln!("as-decode: error: {p}");
    }
    if !problems.is_empty() {
        return Err(BadInput(format!(
            "the {n} shard(s) do not make one whole backup ({} problem(s) above)",
            problems.len()
        ))
        .into());
    }
    println!("{n} shard(s): every partition in exactly one, every file listed present");
    Ok(())
}

/// The objects of a cloud prefix, and what is wrong with its shard manifests, if it has any.
fn cloud_items(args: &Args, url: &str) -> anyhow::Result<(Vec<Item>, Sharded)> {
    use as_common::shards::{check, Manifest, SUFFIX};
    let reader = crate::cloud::Reader {
        s3: args.s3.clone(),
        cloud: args.cloud.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let files = rt.block_on(reader.list(url, ".asb"))?;
    if files.is_empty() {
        return Err(BadInput(format!("{url} holds no *.asb objects")).into());
    }
    let base = |u: &str| u.rsplit('/').next().unwrap_or(u).to_string();
    let mut manifests = Vec::new();
    for m in rt.block_on(reader.list(url, SUFFIX))? {
        let mut text = Vec::new();
        rt.block_on(reader.read(&m, &mut text))?;
        let parsed = Manifest::parse(&text).map_err(|e| BadInput(format!("{m}: {e}")))?;
        manifests.push((base(&m), parsed));
    }
    let names = files.iter().map(|f| base(f)).collect();
    let sharded = (!manifests.is_empty()).then(|| (manifests.len(), check(&manifests, &names)));
    Ok((files.into_iter().map(Item::Remote).collect(), sharded))
}

fn validate(args: &Args) -> anyhow::Result<()> {
    let path = args.input.as_deref().filter(|p| p.as_os_str() != "-");
    let cloud_url = path
        .and_then(|p| p.to_str())
        .filter(|s| crate::cloud::Url::parse(s, true).is_ok());
    if let Some(url) = cloud_url {
        let (items, sharded) = cloud_items(args, url)?;
        if args.shards_only {
            let Some((n, problems)) = sharded else {
                return Err(BadInput(format!("{url} holds no shard manifests")).into());
            };
            return shards_verdict(n, &problems);
        }
        return validate_items(args, items, sharded);
    }
    let sharded = match path {
        Some(dir) if dir.is_dir() => shards(dir)?,
        _ => None,
    };
    if args.shards_only {
        let dir = path
            .filter(|p| p.is_dir())
            .context("--shards-only needs a directory")?;
        let Some((n, problems)) = sharded else {
            return Err(BadInput(format!("{} holds no shard manifests", dir.display())).into());
        };
        return shards_verdict(n, &problems);
    }
    let files: Vec<Item> = match path {
        Some(dir) if dir.is_dir() => {
            // A directory backup that did not finish carries a marker with the reason.
            for e in
                std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
            {
                let p = e?.path();
                if p.to_string_lossy().ends_with(as_common::layout::INCOMPLETE) {
                    let why = std::fs::read_to_string(&p).unwrap_or_default();
                    return Err(BadInput(format!(
                        "{} is an incomplete backup ({}): {}",
                        dir.display(),
                        p.file_name().unwrap_or_default().to_string_lossy(),
                        why.trim()
                    ))
                    .into());
                }
            }
            let mut v = Vec::new();
            for e in
                std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
            {
                let p = e?.path();
                if p.extension().is_some_and(|x| x == "asb") && p.is_file() {
                    v.push(p);
                }
            }
            if v.is_empty() {
                return Err(BadInput(format!("{} holds no *.asb files", dir.display())).into());
            }
            v.sort();
            v.into_iter().map(|p| Item::Local(Some(p))).collect()
        }
        p => vec![Item::Local(p.map(Path::to_path_buf))],
    };
    validate_items(args, files, sharded)
}

/// Validates every file, then says whether the shards (if any) make one backup.
fn validate_items(args: &Args, files: Vec<Item>, sharded: Sharded) -> anyhow::Result<()> {
    let key = args.key.key()?;
    let mut total = Counts::default();
    let (mut failed, mut first_files) = (0usize, 0usize);
    for f in &files {
        let name = f.name();
        match validate_one(f, args, key.as_ref(), &name) {
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
                eprintln!("as-decode: error: {}", as_cli::io::one_line(&e));
            }
            Err(e) => return Err(e),
        }
    }
    if failed > 0 {
        return Err(BadInput(format!("{failed} of {} file(s) are not valid", files.len())).into());
    }
    if let Some((n, problems)) = &sharded {
        shards_verdict(*n, problems)?;
    } else if files.len() > 1 && first_files != 1 {
        eprintln!(
            "as-decode: warning: {first_files} of {} files carry '# first-file' (a backup has one)",
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
    Ok(())
}
