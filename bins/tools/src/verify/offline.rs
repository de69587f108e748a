//! A backup checked against its manifest: each file's size and digests as its bytes are read,
//! then (unless quick) its records decoded and counted, per file and per partition.

use crate::backup::{mismatch, Layers};
use anyhow::Context;
use as_cli::BadInput;
use as_common::asb::{AsbItem, AsbReader};
use as_common::backup::{BackupFile, BackupSet};
use as_common::manifest::{Digester, FileDigest, PartitionCounts};
use std::io::Read;
use std::sync::{Arc, Mutex};

/// What one file turned out to hold.
struct Found {
    digest: FileDigest,
    /// None with --quick.
    counts: Option<(u64, u64, u64, PartitionCounts)>,
    /// Why it could not be read whole (its digest then from a read of its own).
    unreadable: Option<anyhow::Error>,
}

/// Checks sizes and digests only, before a restore writes anything (--verify-first): an error
/// naming every file that differs.
pub fn quick(set: &BackupSet, layers: &Layers, threads: usize) -> anyhow::Result<()> {
    if !set.has_manifest() {
        return Err(BadInput(
            "--verify-first: the backup has no manifest to check it against".into(),
        )
        .into());
    }
    let problems = check_files(set, layers, true, threads)?.0;
    if !problems.is_empty() {
        return Err(BadInput(problems.join("; ")).into());
    }
    tracing::info!(
        files = set.files.len(),
        "{} file(s) verified against the manifest",
        set.files.len()
    );
    Ok(())
}

/// The partitions whose records found differ from the manifests' counts, one line each.
pub fn partition_problems(set: &BackupSet, found: &PartitionCounts) -> Vec<String> {
    let mut want = vec![0u64; as_common::record::PARTITIONS as usize];
    for (_, m) in &set.manifests {
        for (p, n) in m.partitions.as_slice().iter().enumerate() {
            want[p] += n;
        }
    }
    let want = PartitionCounts::from_vec(want).expect("4096 partitions");
    found
        .differences(&want)
        .into_iter()
        .map(|(p, got, should)| {
            format!("partition {p}: {got} record(s), the manifest says {should}")
        })
        .collect()
}

/// The records found in each file (in the set's order) and in each partition against the
/// manifests: each difference a line on stdout, and an error (exit 3) if any.
pub fn counts_match(
    set: &BackupSet,
    per_file: &[u64],
    found: &PartitionCounts,
) -> anyhow::Result<()> {
    let mut problems: Vec<String> = set
        .files
        .iter()
        .zip(per_file)
        .filter_map(|(f, &got)| {
            let want = f.entry.as_ref()?.records;
            (got != want)
                .then(|| format!("{}: {got} record(s), the manifest says {want}", f.name()))
        })
        .collect();
    problems.extend(partition_problems(set, found));
    report(&problems)
}

/// Each difference a line on stdout; an error (exit 3) when there is any.
fn report(problems: &[String]) -> anyhow::Result<()> {
    for p in problems {
        println!("{p}");
    }
    if !problems.is_empty() {
        return Err(BadInput(format!(
            "{} difference(s): the backup is not what its manifest says",
            problems.len()
        ))
        .into());
    }
    Ok(())
}

/// Checks every file, prints one line per difference on stdout, and a summary; an error (exit
/// 3) when anything differs.
pub fn verify(set: &BackupSet, layers: &Layers, quick: bool, threads: usize) -> anyhow::Result<()> {
    let (mut problems, counts) = check_files(set, layers, quick, threads)?;
    let mut records = 0;
    if let Some(counts) = &counts {
        records = counts.total();
        problems.extend(partition_problems(set, counts));
    }
    report(&problems)?;
    let what = match (quick, layers.key.is_some()) {
        (true, false) => "sizes and SHA-256",
        (true, true) => "sizes, SHA-256 and HMAC",
        (false, false) => "sizes, SHA-256 and record counts",
        (false, true) => "sizes, SHA-256, HMAC and record counts",
    };
    let records = match counts {
        Some(_) => format!(", {records} record(s)"),
        None => String::new(),
    };
    println!(
        "verified: {} file(s){records}: {what} match the manifest",
        set.files.len()
    );
    Ok(())
}

/// Every file checked, `threads` at once: the differences, and the records of each partition
/// found in all (unless quick).
fn check_files(
    set: &BackupSet,
    layers: &Layers,
    quick: bool,
    threads: usize,
) -> anyhow::Result<(Vec<String>, Option<PartitionCounts>)> {
    let results = super::each_file(&set.files, threads, |f| check_file(layers, f, quick));
    let mut problems = Vec::new();
    let mut total = (!quick).then(PartitionCounts::default);
    for (i, r) in results {
        let file = &set.files[i];
        let name = file.name();
        let Some(entry) = &file.entry else {
            problems.push(format!("{name}: in no manifest"));
            total = None;
            continue;
        };
        // A file that cannot be opened or read is a runtime failure (exit 1), not a defect.
        let found = r.with_context(|| format!("cannot check {name}"))?;
        let damaged = mismatch(name, entry, &found.digest);
        let whole = damaged.is_none();
        problems.extend(damaged);
        if let Some(e) = found.unreadable {
            // A file whose bytes are the manifest's yet do not read is another kind of defect
            // (a manifest written for bad files), or a failure of the storage (exit 1); one
            // whose bytes differ says so above. Its records are unknown: the partitions are
            // not compared (each would differ).
            if whole {
                if as_cli::Exit::of(&e) != as_cli::Exit::BadInput {
                    return Err(e.context(format!("cannot check {name}")));
                }
                problems.push(format!("{name}: {}", as_cli::io::one_line(&e)));
            }
            total = None;
            continue;
        }
        if let Some((records, indexes, udfs, counts)) = found.counts {
            for (what, got, want) in [
                ("record(s)", records, entry.records),
                ("index(es)", indexes, entry.indexes),
                ("UDF file(s)", udfs, entry.udfs),
            ] {
                if got != want {
                    problems.push(format!("{name}: {got} {what}, the manifest says {want}"));
                }
            }
            if let Some(t) = &mut total {
                for (p, n) in counts.as_slice().iter().enumerate() {
                    t.add(p as u16, *n);
                }
            }
        }
    }
    Ok((problems, total))
}

/// One file: its digest as read, and unless quick what it decodes to.
fn check_file(layers: &Layers, file: &BackupFile, quick: bool) -> anyhow::Result<Found> {
    let raw = layers.open_stored(file)?;
    if quick {
        let digest = Digester::of(raw, layers.mac_key().as_ref())
            .with_context(|| format!("reading {}", file.name()))?;
        return Ok(Found {
            digest,
            counts: None,
            unreadable: None,
        });
    }
    match decode(layers, raw) {
        Ok((digest, counts)) => Ok(Found {
            digest,
            counts: Some(counts),
            unreadable: None,
        }),
        Err(e) => Ok(Found {
            digest: Digester::of(layers.open_stored(file)?, layers.mac_key().as_ref())
                .with_context(|| format!("reading {}", file.name()))?,
            counts: None,
            unreadable: Some(e),
        }),
    }
}

type Counted = (u64, u64, u64, PartitionCounts);

/// The stored bytes decoded: their digest, and the records, indexes, UDFs and records of each
/// partition they hold.
fn decode(layers: &Layers, raw: Box<dyn Read + Send>) -> anyhow::Result<(FileDigest, Counted)> {
    // The stored bytes are hashed as the decoder pulls them; what it leaves unread is read
    // after, so the digest is of the whole file.
    let tee = Tee(Arc::new(Mutex::new((
        raw,
        Digester::new(layers.mac_key().as_ref()),
    ))));
    let plain = layers.over(Box::new(tee.clone()))?;
    let mut reader = AsbReader::new(plain).context("not a backup file")?;
    let (mut records, mut indexes, mut udfs) = (0, 0, 0);
    let mut counts = PartitionCounts::default();
    while let Some(item) = reader.next_item()? {
        match item {
            AsbItem::Record(r) => {
                records += 1;
                counts.add(r.partition(), 1);
            }
            AsbItem::SIndex(_) => indexes += 1,
            AsbItem::Udf(_) => udfs += 1,
        }
    }
    drop(reader);
    // Whatever the decoders left unread is hashed too: the digest is of the whole file.
    std::io::copy(&mut tee.clone(), &mut std::io::sink())?;
    let (_, digester) = Arc::try_unwrap(tee.0)
        .map_err(|_| anyhow::anyhow!("the decoder still holds the file"))?
        .into_inner()
        .unwrap();
    Ok((digester.finish(), (records, indexes, udfs, counts)))
}

/// The stored bytes on their way to the decoder, hashed; shared, so that what the decoder
/// leaves is read after it is done.
#[derive(Clone)]
struct Tee(Arc<Mutex<(Box<dyn Read + Send>, Digester)>>);

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut g = self.0.lock().unwrap();
        let (inner, digester) = &mut *g;
        let n = inner.read(buf)?;
        digester.update(&buf[..n]);
        Ok(n)
    }
}
