//! `as-encode`: record stream → ASB text, byte for byte what asbackup writes.

use anyhow::Context;
use as_cli::io::{input_name, open_input};
use as_common::asb::{AsbWriter, EncodeError};
use as_common::stream::{Frame, StreamReader};
use clap::Parser;
use std::io::{self, Write};
use std::path::PathBuf;

/// Turn a record stream into an ASB text backup, as asbackup writes it.
///
/// Reads the framed record stream (as-stream(5)) written by as-scan or as-decode and writes the
/// ASB backup format of asbackup 4.5.8 on standard output: `Version 3.1`, the `# namespace` line,
/// `# first-file` when the stream starts the backup's first file, secondary-index and UDF lines,
/// then every record with its bins in stream order.
///
/// If the input is truncated, corrupt or not a record stream, as-encode stops with one line on
/// stderr and exit status 3. What it already wrote ends with a line `# INCOMPLETE BACKUP: <reason>`
/// where the next record would start, so that neither asrestore nor as-decode takes the partial
/// output for a complete backup.
#[derive(Parser, Debug)]
#[command(name = "as-encode", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// Write bytes values (blobs, lists, maps, HLLs, language blobs) and bytes keys raw instead of
    /// base64, as asbackup --compact does.
    #[arg(short = 'C', long)]
    pub compact: bool,

    /// Print a summary line on stderr when done.
    #[arg(short, long)]
    pub verbose: bool,

    /// Estimate mode (asbackup -e): encode the stream's records only to measure them, and print
    /// asbackup's estimate of a backup of RECORDS records (the cluster's count) instead of the
    /// backup itself.
    #[arg(long, value_name = "RECORDS")]
    pub estimate: Option<u64>,

    /// With --estimate: the backup is compressed with zstd at this level; the compression ratio
    /// is measured on the samples.
    #[arg(
        long,
        value_name = "LEVEL",
        requires = "estimate",
        allow_negative_numbers = true
    )]
    pub estimate_zstd: Option<i32>,

    /// With --estimate: the backup is encrypted (asbackup -y), which adds its 16-byte IV block
    /// to what is written (AES-CTR keeps the length).
    #[arg(long, requires = "estimate")]
    pub estimate_encrypted: bool,

    #[command(flatten)]
    pub summary: as_cli::summary::FilterSummary,

    /// The record stream to read; standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

/// Counts what is written to it.
#[derive(Default)]
struct Counter(u64);

impl io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// asbackup's estimate: the samples are encoded exactly as a backup would be (and compressed, to
/// measure the ratio), and only their sizes are kept.
fn estimate(
    args: &Args,
    mut reader: StreamReader<impl io::Read>,
    records: u64,
) -> anyhow::Result<()> {
    use as_common::estimate::Samples;
    let mut text = AsbWriter::new(Vec::new(), args.compact);
    let h = reader.header();
    text.header(h.namespace.as_deref(), h.first_file)?;
    let mut zstd = match args.estimate_zstd {
        Some(l) => Some(zstd::stream::write::Encoder::new(Counter::default(), l)?),
        None => None,
    };
    let (mut samples, mut header) = (Samples::default(), None);
    let mut sink = |text: &mut AsbWriter<Vec<u8>>| -> anyhow::Result<u64> {
        text.flush()?;
        let bytes = std::mem::take(text.get_mut());
        if let Some(z) = &mut zstd {
            z.write_all(&bytes)?;
        }
        Ok(bytes.len() as u64)
    };
    while let Some(frame) = reader.next_frame().context("reading the samples")? {
        match frame {
            Frame::SIndex(s) => text.sindex(&s)?,
            Frame::Udf(u) => text.udf(&u)?,
            Frame::PartitionDone(_) => {}
            Frame::Record(r) => {
                if header.is_none() {
                    header = Some(sink(&mut text)?);
                }
                text.record(&r)?;
                samples.add(sink(&mut text)?);
            }
        }
    }
    let header = match header {
        Some(h) => h,
        None => sink(&mut text)?,
    };
    let raw = samples.total() + header;
    let written = match zstd {
        Some(z) => z.finish()?.0,
        None => raw,
    } + if args.estimate_encrypted { 16 } else { 0 };
    let ratio = if raw == 0 {
        1.0
    } else {
        written as f64 / raw as f64
    };
    let e = samples.estimate(records, ratio, header);
    let mut out = io::stdout().lock();
    if args.estimate_zstd.is_some() {
        writeln!(
            out,
            "Estimated overall record size before compression is {} byte(s)",
            e.record_size
        )?;
        writeln!(
            out,
            "Approximate compression ratio is {:.0}%",
            ratio * 100.0
        )?;
    } else {
        writeln!(
            out,
            "Estimated overall record size is {} byte(s)",
            e.record_size
        )?;
    }
    writeln!(
        out,
        "Estimated total backup file size (for backup-to-file, 99.9% confidence): {} byte(s)",
        e.total_size
    )?;
    writeln!(out, "ESTIMATE:{records}:{}", e.record_size)?;
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let name = input_name(&args.input);
    // (The stream reader reads ahead itself.)
    let input = open_input(args.input.as_deref())?;
    let mut reader = StreamReader::new(input).with_context(|| format!("reading {name}"))?;
    if let Some(records) = args.estimate {
        return estimate(&args, reader, records);
    }
    let (out, bytes) = as_cli::io::Counted::new(io::stdout().lock());
    let result = encode(&mut reader, out, args.compact, &name).map(drop);
    args.summary.write(&bytes, result)?;
    let written = bytes.load(std::sync::atomic::Ordering::Relaxed);
    if args.verbose {
        let t = reader.trailer().unwrap_or_default();
        tracing::info!(
            records = t.records,
            indexes = t.sindexes,
            udfs = t.udfs,
            bytes = written,
            "{} record(s), {} secondary index(es), {} UDF file(s), {} byte(s)",
            t.records,
            t.sindexes,
            t.udfs,
            written
        );
    }
    Ok(())
}

/// Encodes the rest of `reader`'s stream into `out` as ASB text (`name`: the input, in errors):
/// what as-encode writes, and what as-split writes in-process (--in-process). Returns `out`.
pub fn encode<R: io::Read, W: io::Write>(
    reader: &mut StreamReader<R>,
    out: W,
    compact: bool,
    name: &str,
) -> anyhow::Result<W> {
    let mut w = AsbWriter::new(out, compact);
    let h = reader.header();
    if !h.append {
        w.header(h.namespace.as_deref(), h.first_file)?;
    }

    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(fail_input(&mut w, e.into(), name)),
        };
        let res = match frame {
            Frame::Record(r) => w.record(&r),
            Frame::SIndex(s) => w.sindex(&s).map_err(EncodeError::Io),
            Frame::Udf(u) => w.udf(&u),
            // Resume bookkeeping for other stages; the ASB format has no place for it.
            Frame::PartitionDone(_) => Ok(()),
        };
        match res {
            Ok(()) => {}
            Err(EncodeError::Io(e)) => {
                return Err(anyhow::Error::new(e).context("cannot write the output"))
            }
            Err(e) => return Err(fail_input(&mut w, e.into(), name)),
        }
    }
    w.finish().context("cannot write the output")
}

/// The input failed: mark what was written as incomplete, then report.
fn fail_input<W: io::Write>(w: &mut AsbWriter<W>, e: anyhow::Error, name: &str) -> anyhow::Error {
    let e = e.context(format!("reading {name}"));
    // Best effort: if the output is gone too, the error below still reports the cause.
    let _ = w.poison(&as_cli::io::one_line(&e));
    e
}
