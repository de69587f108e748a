//! Reading one object to the end whatever breaks on the way (as-get, as-decode, as-restore):
//! where a read fails or its body is cut, the next read asks for the rest only (from the first
//! byte not yet written) and for the same version (If-Match on the ETag of the first), so the
//! output is the object exactly, or one line says why not.

use super::retry::READ_BACKOFF;
use super::store::{ReadError, Store};
use super::Url;
use anyhow::{bail, Context};
use futures::StreamExt;
use std::io::Write;

/// Writes the object at `url` (in `store`) to `out`. Gives up after `attempts` failures in a
/// row; with `log` (the tool's name), says on stderr how many bytes were read, and each resume.
/// Returns the bytes written.
pub async fn read_to_end(
    store: &dyn Store,
    url: &Url,
    attempts: u32,
    log: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let (mut done, mut total, mut etag): (u64, Option<u64>, Option<String>) = (0, None, None);
    let mut failures = 0;
    let mut last_error = String::new();
    while total.is_none_or(|t| done < t) {
        if failures >= attempts {
            bail!("reading {url}: gave up after {failures} failed attempts in a row at byte {done}: {last_error}");
        }
        if failures > 0 {
            READ_BACKOFF.wait(failures).await;
        }
        let mut r = match store.read_at(&url.key, done, etag.clone()).await {
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
                }
                Err(why) => {
                    last_error = why;
                    failures += 1;
                    if log.is_some() {
                        tracing::warn!(
                            %url,
                            retry = true,
                            "{url}: the connection broke at byte {done}; resuming there"
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
    if log.is_some() {
        tracing::info!(%url, bytes = done, "{url}: {done} bytes");
    }
    Ok(done)
}
