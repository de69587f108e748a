//! `as-s3get`: stream an S3 object to standard output, resuming with a ranged GET where a
//! connection broke; or list the backup files under a prefix.

use crate::cloud::read::{read_to_end, Opened, ReadArgs, ReadError};
use crate::s3::{s3_error, split_url, S3Args};
use as_cli::summary::Summary;
use clap::Parser;
use futures::StreamExt;
use std::io::Write;

/// Read a backup from S3: an object to standard output, or the files of a directory backup.
///
/// Streams s3://BUCKET/KEY to standard output in constant memory. When the connection breaks
/// mid-object, the next GET asks for the rest only (a Range from the first byte not yet written)
/// and for the same version of the object (If-Match on its ETag), so that the output is the
/// object exactly, or as-s3get fails with one line: a replaced object is never spliced. Failed
/// requests are retried with backoff, --attempts times in a row at most.
///
/// With --list, prints the s3:// URL of every object under the prefix whose name ends in .asb,
/// one per line, sorted (a directory backup), and their sizes in --summary. Credentials come
/// from the standard AWS chain (environment, profile, ...).
#[derive(Parser, Debug)]
#[command(name = "as-s3get", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The object, s3://BUCKET/KEY; with --list, a prefix s3://BUCKET[/PREFIX].
    pub url: String,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub s3: S3Args,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (bucket, key) =
        split_url(&a.url, a.read.list).map_err(|e| as_cli::Usage(format!("{e:#}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = a.s3.client().await;
        let bytes = if a.read.list {
            let found = list_keys(&client, &bucket, &key, &a.read.suffix).await?;
            let mut out = std::io::stdout().lock();
            for (k, _) in &found {
                writeln!(out, "s3://{bucket}/{k}")?;
            }
            out.flush()?;
            found.iter().map(|(_, s)| s).sum()
        } else {
            let mut out = std::io::stdout().lock();
            read_object(
                &client,
                &bucket,
                &key,
                a.read.attempts,
                a.read.verbose,
                &mut out,
            )
            .await?
        };
        let mut s = Summary::new();
        s.set("bytes", bytes);
        s.write(a.read.summary.as_deref())
    })
}

/// The keys under the prefix (a directory: PREFIX/...) whose names end with `suffix`, sorted,
/// with their sizes.
pub async fn list_keys(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    suffix: &str,
) -> anyhow::Result<Vec<(String, u64)>> {
    let prefix = match prefix {
        "" => String::new(),
        p if p.ends_with('/') => p.to_string(),
        p => format!("{p}/"),
    };
    let mut found = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| s3_error(format!("listing s3://{bucket}/{prefix}"), e))?;
        for o in page.contents() {
            if let Some(k) = o.key().filter(|k| k.ends_with(suffix)) {
                found.push((k.to_string(), o.size().unwrap_or(0) as u64));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes the object to `out`, resuming broken reads; returns its size.
pub async fn read_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    attempts: u32,
    verbose: bool,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let url = format!("s3://{bucket}/{key}");
    read_to_end("as-s3get", &url, attempts, verbose, out, |from, etag| {
        let mut req = client.get_object().bucket(bucket).key(key);
        if from > 0 {
            req = req.range(format!("bytes={from}-"));
        }
        if let Some(e) = etag {
            req = req.if_match(e);
        }
        let url = url.clone();
        async move {
            match req.send().await {
                Ok(resp) => Ok(Opened {
                    etag: resp.e_tag().map(str::to_string),
                    size: resp.content_length().unwrap_or(0).max(0) as u64,
                    body: futures::stream::unfold(resp.body, |mut b| async move {
                        match b.try_next().await {
                            Ok(Some(c)) => Some((Ok(c), b)),
                            Ok(None) => None,
                            Err(e) => Some((
                                Err(format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e))),
                                b,
                            )),
                        }
                    })
                    .boxed(),
                }),
                Err(e) => {
                    let transient = e
                        .raw_response()
                        .is_none_or(|r| r.status().is_server_error() || r.status().as_u16() == 429);
                    let err = s3_error(format!("reading {url}"), e);
                    // Missing object, no access, or a replaced object (If-Match failed).
                    Err(match transient {
                        true => ReadError::Transient(format!("{err:#}")),
                        false => ReadError::Permanent(err),
                    })
                }
            }
        }
    })
    .await
}
