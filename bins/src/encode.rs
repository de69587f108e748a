//! `as-encode`: record stream → ASB text, byte for byte what asbackup writes.

use crate::io::{buffered, input_name, open_input};
use anyhow::Context;
use as_common::asb::{AsbWriter, EncodeError};
use as_common::stream::{Frame, StreamReader};
use clap::Parser;
use std::io;
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
#[command(name = "as-encode", version, max_term_width = 100, after_long_help = crate::EXIT_STATUS_HELP)]
pub struct Args {
    /// Write bytes values (blobs, lists, maps, HLLs, language blobs) and bytes keys raw instead of
    /// base64, as asbackup --compact does.
    #[arg(short = 'C', long)]
    pub compact: bool,

    /// Print a summary line on stderr when done.
    #[arg(short, long)]
    pub verbose: bool,

    /// The record stream to read; standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let name = input_name(&args.input);
    let input = buffered(open_input(args.input.as_deref())?);
    let mut reader = StreamReader::new(input).with_context(|| format!("reading {name}"))?;
    let out = io::stdout().lock();
    let mut w = AsbWriter::new(out, args.compact);
    let h = reader.header();
    w.header(h.namespace.as_deref(), h.first_file)?;

    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(fail_input(&mut w, e.into(), &name)),
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
            Err(e) => return Err(fail_input(&mut w, e.into(), &name)),
        }
    }
    let written = w.bytes_written();
    let _out = w.finish().context("cannot write the output")?;
    if args.verbose {
        let t = reader.trailer().unwrap_or_default();
        eprintln!(
            "as-encode: {} record(s), {} secondary index(es), {} UDF file(s), {} byte(s)",
            t.records, t.sindexes, t.udfs, written
        );
    }
    Ok(())
}

/// The input failed: mark what was written as incomplete, then report.
fn fail_input<W: io::Write>(w: &mut AsbWriter<W>, e: anyhow::Error, name: &str) -> anyhow::Error {
    let e = e.context(format!("reading {name}"));
    // Best effort: if the output is gone too, the error below still reports the cause.
    let _ = w.poison(&crate::io::one_line(&e));
    e
}
