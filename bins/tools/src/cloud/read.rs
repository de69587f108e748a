//! Reading one object to the end whatever breaks on the way (as-s3get, as-get): where a read
//! fails or its body is cut, the next read asks for the rest only (a range from the first byte
//! not yet written) and for the same version (If-Match on the ETag of the first), so the output
//! is the object exactly, or one line says why not.

use anyhow::{bail, Context};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// What as-get and as-s3get are asked to do with the object or prefix.
#[derive(clap::Args, Debug, Clone)]
pub struct ReadArgs {
    /// List the .asb objects under the prefix instead of reading one.
    #[arg(long)]
    pub list: bool,

    /// With --list, the objects whose names end so instead (.manifest: a sharded backup's
    /// manifests).
    #[arg(long, default_value = ".asb", requires = "list")]
    pub suffix: String,

    /// Failed reads in a row before giving up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub attempts: u32,

    /// When done, write `bytes=N` (the object's size; with --list, all objects' sizes) here.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// Print how many bytes were read, and each resume, on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

/// One read from `from` on: the object's version and whole size, and the body's chunks.
pub struct Opened {
    pub etag: Option<String>,
    pub size: u64,
    pub body: BoxStream<'static, Result<Bytes, String>>,
}

pub enum ReadError {
    /// Worth trying again (a server error, a dropped connection).
    Transient(String),
    /// Not (no such object, no access, or the object was replaced: If-Match failed).
    Permanent(anyhow::Error),
}

/// Writes the object to `out`; `open(from, etag)` starts a read. Gives up after `attempts`
/// failures in a row; returns the bytes written.
pub async fn read_to_end<F, Fut>(
    tool: &str,
    url: &str,
    attempts: u32,
    verbose: bool,
    out: &mut impl Write,
    mut open: F,
) -> anyhow::Result<u64>
where
    F: FnMut(u64, Option<String>) -> Fut,
    Fut: Future<Output = Result<Opened, ReadError>>,
{
    let (mut done, mut total, mut etag): (u64, Option<u64>, Option<String>) = (0, None, None);
    let mut failures = 0;
    let mut delay = Duration::from_millis(100);
    let mut last_error = String::new();
    while total.is_none_or(|t| done < t) {
        if failures >= attempts {
            bail!("reading {url}: gave up after {failures} failed attempts in a row at byte {done}: {last_error}");
        }
        if failures > 0 {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        let mut r = match open(done, etag.clone()).await {
            Ok(r) => r,
            Err(ReadError::Permanent(e)) => return Err(e),
            Err(ReadError::Transient(why)) => {
                last_error = why;
                failures += 1;
                continue;
            }
        };
        etag = etag.or(r.etag);
        total = total.or(Some(r.size));
        while let Some(chunk) = r.body.next().await {
            match chunk {
                Ok(c) => {
                    // The io::Error stays the cause: a closed pipe is told as such.
                    out.write_all(&c).context("writing the object out")?;
                    done += c.len() as u64;
                    failures = 0;
                    delay = Duration::from_millis(100);
                }
                Err(why) => {
                    last_error = why;
                    failures += 1;
                    if verbose {
                        eprintln!(
                            "{tool}: {url}: the connection broke at byte {done}; resuming there"
                        );
                    }
                    break;
                }
            }
        }
        if let Some(t) = total {
            if done < t && failures == 0 {
                // The body ended early without an error: resume all the same.
                failures += 1;
                last_error = format!("the body ended at byte {done} of {t}");
            }
        }
    }
    out.flush()?;
    if verbose {
        eprintln!("{tool}: {url}: {done} bytes");
    }
    Ok(done)
}
