//! `as-put`: stream data into one object of S3, Google Cloud Storage or Azure Blob Storage,
//! completing it only when the data is known to be whole.

use crate::cloud::{CloudArgs, Scheme, Url};
use crate::source::Source;
use anyhow::Context;
use aws_sdk_s3::error::ProvideErrorMetadata;
use bytes::Bytes;
use clap::Parser;
use object_store::ObjectStoreExt;
use std::collections::VecDeque;

/// Upload a backup into S3, GCS or Azure, completing the object only when the data is whole.
///
/// Streams its input into the object at URL: s3://BUCKET/KEY (as as-s3put does), gs://BUCKET/KEY
/// (a resumable upload, chunk after chunk) or az://CONTAINER/BLOB, also
/// https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB (a block blob: blocks, several in
/// flight, then the block list). Constant memory: a few parts. End of input alone cannot tell
/// whether the producer succeeded, so the object is completed only on a positive sign that the
/// data is whole: --from CMD exiting 0, the commit frame of --framed (as-split --framed-sink), or
/// the end of input with --eof-completes.
///
/// On any failure, or SIGINT or SIGTERM (exit 130 or 143), the upload is abandoned so that no
/// object appears at the URL, and as-put exits non-zero with one line on stderr. Credentials come
/// from each cloud's usual chain (see the options).
///
/// With --delete, the object at URL is deleted instead (an object that is not there is no
/// error): as-split --sink-remove removes a cloud backup's PREFIX.asb.incomplete so.
#[derive(Parser, Debug)]
#[command(name = "as-put", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The destination: s3://BUCKET/KEY, gs://BUCKET/KEY or az://CONTAINER/BLOB.
    pub url: String,

    #[command(flatten)]
    pub completion: crate::source::Completion,

    /// Delete the object at URL instead of writing it; an object that is not there is no error.
    #[arg(long, group = "mode")]
    pub delete: bool,

    #[command(flatten)]
    pub s3: crate::s3::S3Args,

    #[command(flatten)]
    pub s3_parts: crate::s3put::PartArgs,

    #[command(flatten)]
    pub cloud: CloudArgs,

    #[command(flatten)]
    pub report: crate::source::Report,

    /// Check the options (the URL, the ranges) and exit without reading or connecting: 0 when
    /// they are good, 2 with the reason when not.
    #[arg(long)]
    pub check_options: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (url, account) = Url::parse(&a.url, false).map_err(|e| as_cli::Usage(format!("{e:#}")))?;
    if a.delete {
        if a.check_options {
            return Ok(());
        }
        return delete(&a, &url, account.as_deref());
    }
    if url.scheme == Scheme::S3 {
        return crate::s3put::run(crate::s3put::Args {
            url: a.url,
            completion: a.completion,
            s3: a.s3,
            parts: a.s3_parts,
            report: a.report,
            check_options: a.check_options,
        });
    }
    if a.check_options {
        return Ok(());
    }
    let mut source = Source::open(&a.completion)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let cancel = crate::source::cancel_on_signal(&rt, "as-put");
    let total = rt.block_on(upload(&a, &url, account.as_deref(), &mut source, &cancel))?;
    a.report.done("as-put", &url.to_string(), total, "")
}

/// `--delete`: removes the object; one already gone is no error (S3 says so itself; GCS and
/// Azure answer 404).
fn delete(a: &Args, url: &Url, account: Option<&str>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match url.scheme {
            Scheme::S3 => {
                let client = a.s3.client().await;
                let r = client
                    .delete_object()
                    .bucket(&url.bucket)
                    .key(&url.key)
                    .send()
                    .await;
                match r {
                    Err(e) if e.code() != Some("NoSuchKey") => {
                        Err(crate::s3::s3_error(format!("deleting {url} failed"), e))
                    }
                    _ => Ok(()),
                }
            }
            _ => {
                let store = a.cloud.store(url, account)?;
                match store
                    .delete(&object_store::path::Path::from(url.key.as_str()))
                    .await
                {
                    Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                    Err(e) => Err(crate::cloud::store_error(
                        format!("deleting {url} failed"),
                        e,
                    )),
                }
            }
        }
    })?;
    if a.report.verbose {
        eprintln!("as-put: {url}: deleted");
    }
    Ok(())
}

/// Reads the input in parts and sends them, a few in flight, while the next is read.
async fn upload(
    a: &Args,
    url: &Url,
    account: Option<&str>,
    source: &mut Source,
    cancel: &crate::source::Cancel,
) -> anyhow::Result<u64> {
    let (size, in_flight) = a.cloud.parts(url.scheme);
    let mut buf = vec![0u8; size];
    let mut n = tokio::task::block_in_place(|| source.fill(&mut buf))?;
    let mut up = a.cloud.begin(url, account).await?;
    *cancel.lock().unwrap() = Some(up.canceller());
    let abandon = up.canceller();
    let mut running: VecDeque<tokio::task::JoinHandle<anyhow::Result<()>>> = VecDeque::new();
    let mut total = 0u64;
    let sent: anyhow::Result<()> = async {
        while n > 0 {
            buf.truncate(n);
            total += n as u64;
            while running.len() >= in_flight {
                running.pop_front().expect("running").await??;
            }
            running.push_back(tokio::spawn(up.part(Bytes::from(std::mem::take(&mut buf)))));
            if n < size {
                break;
            }
            buf = vec![0u8; size];
            n = tokio::task::block_in_place(|| source.fill(&mut buf))?;
        }
        // Only whole data becomes an object.
        tokio::task::block_in_place(|| source.whole())?;
        for t in running.drain(..) {
            t.await.context("an upload task failed")??;
        }
        Ok(())
    }
    .await;
    let done = match sent {
        Ok(()) => {
            cancel.lock().unwrap().take();
            up.complete().await
        }
        Err(e) => {
            for t in running {
                t.abort();
            }
            Err(e)
        }
    };
    if done.is_err() {
        abandon.await;
    }
    done.map(|()| total)
}
