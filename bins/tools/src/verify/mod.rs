//! `as-verify`: prove a backup whole, against its manifest (offline) and against the cluster it
//! came from (`--cluster`).

mod cluster;
mod offline;

pub use offline::quick;

use crate::backup::{BackupArgs, Layers};
use as_cli::{BadInput, Usage};
use as_common::backup::BackupSet;
use clap::Parser;

/// Prove a backup whole: against its manifest, and against the live cluster.
///
/// Offline (the default), checks every file of the backup (a file, a directory or a cloud
/// prefix) against its manifest (PREFIX.manifest, FILE.manifest): the files it lists are there
/// and no other, each file's size and SHA-256 (and, for an encrypted backup, its HMAC under a key
/// derived from the encryption key: a file changed together with its manifest's SHA-256 is told
/// from a damaged one) are the manifest's; then reads each file (decrypts, decompresses,
/// decodes) and checks its records, indexes and UDFs and the records of every partition. Every
/// file, partition or count that differs is named, one line each on standard output, and the
/// exit status is 3. How the files are stored comes from the manifest: no -z or --encrypt is
/// needed, only the key of an encrypted backup. Memory stays constant: files are streamed
/// (from the clouds too), --threads at once.
///
/// A backup without a manifest (asbackup's, absctl's) is parsed as `as-decode --validate` does,
/// and said to be unverified: nothing records what it should hold (--strict makes that a
/// failure).
///
/// With --cluster, also scans the backup's own scope on the cluster (see the cluster options)
/// and compares the records, one by one, with the backup's.
#[derive(Parser, Debug)]
#[command(
    name = "as-verify",
    version,
    max_term_width = 100,
    disable_help_flag = true,
    after_long_help = "Exit status: 0 when the backup is what its manifest (and the cluster) \
says, 1 on a runtime error, 2 on a usage error, 3 when a file, count or record differs (or, with \
--strict, there is no manifest), 4-7 as as-scan's when the cluster cannot be scanned. Each \
difference is one line on standard output; errors are one line on stderr."
)]
pub struct Args {
    /// Print help.
    #[arg(short = 'Z', long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// The backup: a file, a directory, or a cloud URL (s3://, gs://, az://) of either.
    #[arg(value_name = "BACKUP")]
    pub backup: String,

    /// The manifest, when it is not beside the backup (`as-split -o - --manifest PATH`).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<String>,

    /// Check sizes and digests only, without decoding the files.
    #[arg(long)]
    pub quick: bool,

    /// Files checked at once; 0: one per CPU, at most 8.
    #[arg(short = 't', long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub threads: u32,

    /// A backup without a manifest fails (exit 3) instead of being parsed and said unverified.
    #[arg(long)]
    pub strict: bool,

    /// The files are compressed: for a backup without a manifest (one with says how).
    #[arg(short = 'z', long, value_enum)]
    pub compress: Option<crate::backup::Compression>,

    /// The key of an encrypted backup (the mode comes from its manifest).
    #[command(flatten)]
    pub key: crate::keys::KeyArgs,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,

    #[command(flatten)]
    pub cloud: crate::cloud::CloudArgs,

    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let reader = crate::cloud::Reader {
        s3: a.s3.clone(),
        cloud: a.cloud.clone(),
    };
    let source = crate::backup::source_of(&a.backup, &reader)?;
    let mut set = crate::backup::open(&source, &reader, false)?;
    if let Some(path) = &a.manifest {
        attach_manifest(&mut set, path, &reader)?;
    }
    let args = BackupArgs {
        directory: None,
        input_file: None,
        directory_list: Vec::new(),
        parent_directory: None,
        allow_incomplete: false,
        compress: a.compress,
        key: a.key.clone(),
        s3: a.s3.clone(),
        cloud: a.cloud.clone(),
    };
    // An encrypted backup without its key: what needs no key (sizes, SHA-256) is checked.
    let keyless = set.stored().is_some_and(|s| s.encryption.is_some())
        && a.key.encryption_key_file.is_none()
        && a.key.encryption_key_env.is_none();
    let layers = match keyless {
        true => Layers::new(None, &a.key, reader.clone())?,
        false => args.layers(&set)?,
    };
    if keyless {
        if a.cluster.cluster {
            return Err(Usage("--cluster reads the records: give the backup's key (--encryption-key-file or --encryption-key-env)".into()).into());
        }
        tracing::warn!("the backup is encrypted and no key is given: sizes and SHA-256 are checked, its HMAC and contents are not");
    }
    if !set.has_manifest() {
        if a.strict {
            return Err(BadInput(format!(
                "{}: no manifest: nothing proves the backup whole",
                a.backup
            ))
            .into());
        }
        if a.cluster.cluster {
            return Err(Usage(format!(
                "{}: no manifest: --cluster needs the backup's scope and start time",
                a.backup
            ))
            .into());
        }
        tracing::warn!(
            "{}: no manifest: the files are parsed, their integrity is not checked",
            a.backup
        );
        return crate::decode::validate_set(&set, &layers);
    }
    // Against the cluster, the files are decoded once, by the comparison, which checks the
    // manifest's counts too: the offline pass checks digests only.
    offline::verify(
        &set,
        &layers,
        a.quick || keyless || a.cluster.cluster,
        threads(a.threads),
    )?;
    if a.cluster.cluster {
        cluster::verify(&a.cluster, &set, &layers, threads(a.threads))?;
    }
    Ok(())
}

/// `f` of every file, `threads` files at once: the results in the files' order, up to where one
/// failed (no file is begun after a failure).
fn each_file<T: Send>(
    files: &[as_common::backup::BackupFile],
    threads: usize,
    f: impl Fn(&as_common::backup::BackupFile) -> anyhow::Result<T> + Sync,
) -> Vec<(usize, anyhow::Result<T>)> {
    let queue = std::sync::Mutex::new(files.iter().enumerate());
    let results = std::sync::Mutex::new(Vec::new());
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, files.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let next = queue.lock().unwrap().next();
                let Some((i, file)) = next else { break };
                let r = f(file);
                if r.is_err() {
                    failed.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results
}

/// Files read at once: as asked, or one per CPU (at most 8).
fn threads(asked: u32) -> usize {
    match asked {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        n => n as usize,
    }
}

/// A manifest given apart (`--manifest`): the backup is its one file.
fn attach_manifest(
    set: &mut BackupSet,
    path: &str,
    reader: &crate::cloud::Reader,
) -> anyhow::Result<()> {
    if set.files.len() != 1 || set.has_manifest() {
        return Err(
            Usage("--manifest goes with one backup file that has none beside it".into()).into(),
        );
    }
    let stores = crate::backup::Stores::new(reader.clone())?;
    let m = as_common::backup::read_manifest(path, &stores).map_err(|e| BadInput(e.to_string()))?;
    let [entry] = m.files.as_slice() else {
        return Err(BadInput(format!("{path} describes {} files, not one", m.files.len())).into());
    };
    set.files[0].entry = Some(entry.clone());
    set.manifests.push((path.to_string(), m));
    Ok(())
}

/// How the files of a verified backup are read: their digests are checked by as-verify itself.
pub fn unchecked(layers: &Layers) -> Layers {
    Layers {
        check: false,
        ..layers.clone()
    }
}
