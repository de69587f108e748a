//! `as-zstd`: zstd compression and decompression of backups, as asbackup -z zstd writes them.

use anyhow::Context;
use as_cli::io::{binary_stdout, open_input, read_retrying, Counted, CHUNK};
use as_cli::BadInput;
use as_common::stream::{MAGIC, ZSTD_MAGIC};
use clap::Parser;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

/// Compress or decompress a backup with zstd, as asbackup -z zstd does.
///
/// Compresses standard input (or INPUT) to standard output with zstd at asbackup's default level
/// 3. The output is ordinary zstd data: `zstd -d` and asrestore -z zstd read it.
///
/// With -d, decompresses; concatenated frames (asbackup starts a new frame at every flush) are read
/// one after another. Input that is not zstd data, or that ends inside a frame, is an error
/// (exit status 3).
#[derive(Parser, Debug)]
#[command(name = "as-zstd", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// Decompress instead of compressing.
    #[arg(short, long)]
    pub decompress: bool,

    /// Compression level, as zstd's (negative levels are faster, 19 and up much slower).
    #[arg(
        short = 'l',
        long = "level",
        default_value_t = 3,
        allow_negative_numbers = true
    )]
    pub level: i32,

    /// Compression worker threads; 0 uses one per core. As with zstd -T; the output is the same
    /// whatever their number.
    #[arg(short = 'T', long, default_value_t = 1)]
    pub threads: u32,

    /// Check the options (the level's range) and exit without reading: 0 when they are good.
    #[arg(long)]
    pub check_options: bool,

    #[command(flatten)]
    pub summary: as_cli::summary::FilterSummary,

    /// The data to read; standard input when absent or `-`.
    pub input: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let range = zstd::compression_level_range();
    if !range.contains(&args.level) {
        anyhow::bail!(
            "compression level {} is out of range ({} to {})",
            args.level,
            range.start(),
            range.end()
        );
    }
    if args.check_options {
        return Ok(());
    }
    let input = BufReader::with_capacity(CHUNK, open_input(args.input.as_deref())?);
    let (out, bytes) = Counted::new(binary_stdout(if args.decompress {
        "decompressed data"
    } else {
        "compressed data"
    })?);
    let result = if args.decompress {
        decompress(input, out)
    } else {
        let threads = match args.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            n => n,
        };
        compress(input, out, args.level, threads)
    };
    args.summary.write(&bytes, result)
}

/// zstd's job: what each worker compresses at a time. zstd's output depends on it and not on how
/// many workers there are, so with one size for every thread count, `-T N` writes the same bytes
/// for every N. 1 MiB keeps the output close behind the input (as-split measures file sizes on
/// what comes out) and keeps two workers as fast as zstd's own default (several MiB) does; 512
/// KiB starved them.
const JOB_SIZE: u32 = 1 << 20;

/// How much of the window before a job its worker loads first, as zstd's overlap log: 4 is a
/// 32nd of the 2 MiB window at level 3, 64 KiB, where zstd's default (6) loads 256 KiB, a
/// quarter of each job again. A whole `as-split -d -w 2 -z zstd` runs 2.1% fewer instructions
/// (cachegrind, 40,000 records) for files 0.03% larger. Like the job size, it is the same for
/// every thread count.
const OVERLAP_LOG: u32 = 4;

/// The compressor as-zstd writes with (as-split --in-process too: the same frames, whatever the
/// number of threads).
pub fn encoder<W: Write>(
    out: W,
    level: i32,
    threads: u32,
) -> anyhow::Result<zstd::stream::write::Encoder<'static, W>> {
    let mut enc = zstd::stream::write::Encoder::new(out, level)?;
    enc.multithread(threads)
        .context("cannot start zstd worker threads")?;
    enc.set_parameter(zstd::stream::raw::CParameter::JobSize(JOB_SIZE))?;
    enc.set_parameter(zstd::stream::raw::CParameter::OverlapSizeLog(OVERLAP_LOG))?;
    // zstd's command-line tool checks its output with a content checksum by default; so do we.
    enc.include_checksum(true)?;
    Ok(enc)
}

fn compress(mut input: impl Read, out: impl Write, level: i32, threads: u32) -> anyhow::Result<()> {
    let mut enc = encoder(out, level, threads)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = read_retrying(&mut input, &mut buf).context("cannot read the input")?;
        if n == 0 {
            break;
        }
        enc.write_all(&buf[..n])
            .context("cannot write the output")?;
    }
    enc.finish()?.flush().context("cannot write the output")?;
    Ok(())
}

fn decompress(mut input: impl BufRead, mut out: impl Write) -> anyhow::Result<()> {
    let start = input.fill_buf().context("cannot read the input")?;
    if start.is_empty() {
        return Err(BadInput("input is empty: not zstd-compressed data".into()).into());
    }
    if !start.starts_with(&ZSTD_MAGIC) && !is_skippable(start) {
        let what = if start.starts_with(b"Version ") {
            "it is ASB text, not compressed"
        } else if start.starts_with(&MAGIC[..4]) {
            "it is a record stream, not compressed"
        } else {
            "bad magic"
        };
        return Err(BadInput(format!("input is not zstd-compressed data ({what})")).into());
    }
    let mut dec = zstd::stream::read::Decoder::with_buffer(input)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = read_retrying(&mut dec, &mut buf)
            .map_err(|e| BadInput(format!("corrupt or truncated zstd data: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .context("cannot write the output")?;
    }
    out.flush().context("cannot write the output")?;
    Ok(())
}

/// zstd skippable frames (magic 0x184D2A50..=0x184D2A5F, little-endian) are valid zstd data too.
fn is_skippable(b: &[u8]) -> bool {
    b.len() >= 4 && b[1..4] == [0x2a, 0x4d, 0x18] && b[0] & 0xf0 == 0x50
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes do not depend on the number of threads: as-split gives a file's compressor the
    /// cores it has (--in-process), and its files must be what `as-zstd -l N` writes.
    #[test]
    fn the_same_bytes_whatever_the_threads() {
        // Some MiB of ASB from generated records: several jobs of [`JOB_SIZE`].
        let mut g = as_common::gen::Generator::new(5, b"test");
        let mut asb = Vec::new();
        while asb.len() < 5 * JOB_SIZE as usize {
            for b in g.record().bins {
                asb.extend_from_slice(&b.name);
                asb.extend_from_slice(&b.value.data);
                asb.push(b'\n');
            }
        }
        let compressed = |threads| {
            let mut out = Vec::new();
            compress(&asb[..], &mut out, 3, threads).unwrap();
            out
        };
        let one = compressed(1);
        assert!(one.len() < asb.len());
        for threads in [2, 3] {
            assert!(one == compressed(threads), "{threads} threads");
        }
        let mut back = Vec::new();
        decompress(&one[..], &mut back).unwrap();
        assert!(back == asb);
    }
}
