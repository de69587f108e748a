//! `as-s3put`: stream data into one S3 object with a multipart upload, completing it only when the
//! data is known to be whole.

use crate::s3::{parse_url, s3_error};
use crate::source::Source;
use anyhow::{bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use clap::Parser;
use std::sync::Arc;
use std::time::Duration;

/// Upload a backup into S3 with a multipart upload, completing it only when the data is whole.
///
/// Streams its input into the object s3://BUCKET/KEY in parts, several in flight, in constant
/// memory. End of input alone cannot tell whether the producer succeeded, so the upload completes
/// only on a positive sign that the data is whole, chosen with one of:
///
/// --from CMD: runs CMD (bash, with pipefail) and uploads its standard output; completes if CMD
/// exits 0. --framed: standard input carries frames (a 4-byte big-endian length, then that many
/// bytes) and a zero-length frame commits; as-split --framed-sink writes this. --eof-completes:
/// end of input means the data is whole (for reading a finished file).
///
/// On any failure the multipart upload is aborted, so no object appears at the key, and as-s3put
/// exits non-zero with one line on stderr; on SIGINT or SIGTERM too (exit 130 or 143). Credentials come from the standard AWS chain
/// (environment, profile, ...).
#[derive(Parser, Debug)]
#[command(name = "as-s3put", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The destination, s3://BUCKET/KEY.
    pub url: String,

    #[command(flatten)]
    pub completion: crate::source::Completion,

    #[command(flatten)]
    pub s3: crate::s3::S3Args,

    #[command(flatten)]
    pub parts: PartArgs,

    #[command(flatten)]
    pub report: crate::source::Report,

    /// Check the options (the URL, the ranges) and exit without reading or connecting: 0 when
    /// they are good, 2 with the reason when not.
    #[arg(long)]
    pub check_options: bool,
}

/// How S3 uploads are cut.
#[derive(clap::Args, Debug, Clone)]
pub struct PartArgs {
    /// Smallest part size in MiB (5 to 5120; parts grow as an object gets large, so that it fits in
    /// 10,000 parts).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(5..=5120))]
    pub s3_min_part_size: u64,

    /// Parts uploaded at the same time.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub s3_max_async_uploads: u64,
}

/// Parts double in size every this many parts: 10,000 parts then hold over 5 TiB.
const PARTS_PER_DOUBLING: u64 = 800;
const MAX_PART: u64 = 5 << 30;
const PART_ATTEMPTS: u32 = 5;

fn part_size(min: u64, part_number: u64) -> u64 {
    (min << (part_number / PARTS_PER_DOUBLING).min(10)).min(MAX_PART)
}

/// A multipart upload under way.
#[derive(Clone)]
struct Upload {
    client: Arc<Client>,
    bucket: String,
    key: String,
    id: String,
}

/// One part, retried with backoff.
async fn upload_part(u: Upload, n: i32, data: bytes::Bytes) -> anyhow::Result<CompletedPart> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        let r = u
            .client
            .upload_part()
            .bucket(&u.bucket)
            .key(&u.key)
            .upload_id(&u.id)
            .part_number(n)
            // A cheap clone: retries resend the same buffer.
            .body(ByteStream::from(data.clone()))
            .send()
            .await;
        match r {
            Ok(out) => {
                return Ok(CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(out.e_tag)
                    .build())
            }
            Err(_) if attempt < PART_ATTEMPTS => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => {
                return Err(s3_error(
                    format!("uploading part {n} failed after {attempt} attempts"),
                    e,
                ))
            }
        }
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (bucket, key) = parse_url(&a.url).map_err(|e| as_cli::Usage(format!("{e:#}")))?;
    if a.check_options {
        return Ok(());
    }
    let mut source = Source::open(&a.completion)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let under_way = crate::source::cancel_on_signal(&rt, "as-s3put");
    rt.block_on(async move {
        let c = Arc::new(a.s3.client().await);
        let min = a.parts.s3_min_part_size << 20;
        let mut first = vec![0u8; min as usize];
        let n = tokio::task::block_in_place(|| source.fill(&mut first))?;
        first.truncate(n);
        if n < min as usize {
            // Small enough for one request: still only once the data is known to be whole.
            tokio::task::block_in_place(|| source.whole())?;
            c.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from(first))
                .send()
                .await
                .map_err(|e| s3_error(format!("uploading s3://{bucket}/{key} failed"), e))?;
            let url = format!("s3://{bucket}/{key}");
            return a.report.done("as-s3put", &url, n as u64, " in one request");
        }
        let created = c
            .create_multipart_upload()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                s3_error(
                    format!("starting the upload to s3://{bucket}/{key} failed"),
                    e,
                )
            })?;
        let id = created
            .upload_id()
            .context("the server gave no upload id")?
            .to_string();
        let upload = Upload {
            client: c.clone(),
            bucket: bucket.clone(),
            key: key.clone(),
            id: id.clone(),
        };
        let u = upload.clone();
        *under_way.lock().unwrap() = Some(Box::pin(async move {
            let _ = u
                .client
                .abort_multipart_upload()
                .bucket(&u.bucket)
                .key(&u.key)
                .upload_id(&u.id)
                .send()
                .await;
        }));
        let result = upload_all(&a, &upload, first, &mut source, min).await;
        match result {
            Ok((parts, total)) => {
                c.complete_multipart_upload()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| {
                        s3_error(
                            format!("completing the upload to s3://{bucket}/{key} failed"),
                            e,
                        )
                    })?;
                a.report
                    .done("as-s3put", &format!("s3://{bucket}/{key}"), total, "")
            }
            Err(e) => {
                // Nothing may appear at the key: drop the parts uploaded so far.
                let _ = c
                    .abort_multipart_upload()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&id)
                    .send()
                    .await;
                Err(e)
            }
        }
    })
}

async fn upload_all(
    a: &Args,
    upload: &Upload,
    first: Vec<u8>,
    source: &mut Source,
    min: u64,
) -> anyhow::Result<(Vec<CompletedPart>, u64)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(
        a.parts.s3_max_async_uploads as usize,
    ));
    let mut running: Vec<tokio::task::JoinHandle<anyhow::Result<CompletedPart>>> = Vec::new();
    let mut done: Vec<CompletedPart> = Vec::new();
    let mut total = first.len() as u64;
    let mut next = Some(first);
    let mut number: u64 = 1;
    while let Some(data) = next.take() {
        let permit = limit.clone().acquire_owned().await?;
        let (u, n) = (upload.clone(), number as i32);
        running.push(tokio::spawn(async move {
            let r = upload_part(u, n, bytes::Bytes::from(data)).await;
            drop(permit);
            r
        }));
        if number >= 10_000 {
            bail!("the object needs more than 10,000 parts: raise --s3-min-part-size");
        }
        let mut buf = vec![0u8; part_size(min, number) as usize];
        let got = tokio::task::block_in_place(|| source.fill(&mut buf))?;
        if got > 0 {
            buf.truncate(got);
            total += got as u64;
            number += 1;
            next = Some(buf);
        }
        // Collect finished parts, failing early when one failed for good.
        let mut i = 0;
        while i < running.len() {
            if running[i].is_finished() {
                done.push(running.swap_remove(i).await??);
            } else {
                i += 1;
            }
        }
    }
    tokio::task::block_in_place(|| source.whole())?;
    for t in running {
        done.push(t.await??);
    }
    done.sort_by_key(|p| p.part_number());
    Ok((done, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_part_sizes() {
        assert_eq!(
            parse_url("s3://b/p/k.asb").unwrap(),
            ("b".into(), "p/k.asb".into())
        );
        assert!(parse_url("s3://b").is_err());
        assert!(parse_url("http://b/k").is_err());
        let min = 5 << 20;
        assert_eq!(part_size(min, 1), min);
        assert_eq!(part_size(min, 800), 2 * min);
        let total: u64 = (1..=10_000).map(|n| part_size(min, n)).sum();
        assert!(total > 5 << 40, "10,000 parts hold more than 5 TiB");
    }
}
