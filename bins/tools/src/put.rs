//! `as-put` (and `as-s3put`, the same for s3:// URLs): stream data into one object of S3,
//! Google Cloud Storage or Azure Blob Storage, completing it only when the data is known to be
//! whole.

use crate::cloud::{self, CloudArgs, Store, Url};
use crate::put_input::{cancel_on_signal, Cancel, Input};
use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use std::collections::VecDeque;
use tokio::task::{block_in_place, JoinHandle};

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
    pub completion: crate::put_input::Completion,

    /// Delete the object at URL instead of writing it; an object that is not there is no error.
    #[arg(long, group = "mode")]
    pub delete: bool,

    #[command(flatten)]
    pub s3: crate::cloud::s3::S3Args,

    #[command(flatten)]
    pub s3_parts: crate::cloud::s3::PartArgs,

    #[command(flatten)]
    pub cloud: CloudArgs,

    #[command(flatten)]
    pub report: crate::put_input::Report,

    /// Check the options (the URL, the ranges) and exit without reading or connecting: 0 when
    /// they are good, 2 with the reason when not.
    #[arg(long)]
    pub check_options: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (url, account) = Url::parse(&a.url, false).map_err(|e| as_cli::Usage(format!("{e:#}")))?;
    if a.check_options {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let open = || cloud::open(&url, account.as_deref(), &a.s3, &a.s3_parts, &a.cloud);
    if a.delete {
        rt.block_on(async { open().await?.delete(&url.key).await })?;
        if a.report.verbose {
            tracing::info!(%url, "{url}: deleted");
        }
        return Ok(());
    }
    let cancel = cancel_on_signal(&rt);
    let (total, how) = rt.block_on(async {
        let store = open().await?;
        let mut input = Input::open(&a.completion)?;
        upload(&*store, &url.key, &mut input, &cancel).await
    })?;
    a.report.done(&url.to_string(), total, how)
}

/// Reads the input in parts and sends them, a few in flight while the next is read. The object
/// is completed only once the input is known to be whole; else the upload is aborted. Returns
/// the size, and how it was sent.
async fn upload(
    store: &dyn Store,
    key: &str,
    input: &mut Input,
    cancel: &Cancel,
) -> anyhow::Result<(u64, &'static str)> {
    let parts = store.parts();
    let mut buf = vec![0u8; parts.size(1)];
    let mut n = block_in_place(|| input.fill(&mut buf))?;
    if n < buf.len() {
        // One part: still written only once the data is known to be whole.
        buf.truncate(n);
        block_in_place(|| input.whole())?;
        store.put(key, Bytes::from(buf)).await?;
        return Ok((n as u64, " in one part"));
    }
    let mut up = store.begin(key).await?;
    *cancel.lock().unwrap() = Some(up.abort());
    let abort = up.abort();
    let mut running: VecDeque<JoinHandle<anyhow::Result<()>>> = VecDeque::new();
    let mut total = 0u64;
    let sent: anyhow::Result<()> = async {
        let mut number = 1;
        loop {
            buf.truncate(n);
            total += n as u64;
            while running.len() >= parts.in_flight {
                running.pop_front().expect("running").await??;
            }
            running.push_back(tokio::spawn(up.part(Bytes::from(std::mem::take(&mut buf)))));
            // Fail early on a part that failed for good, whichever it is.
            while let Some(i) = running.iter().position(JoinHandle::is_finished) {
                running.remove(i).expect("finished").await??;
            }
            // A short part was the last.
            if n < parts.size(number) {
                break;
            }
            number += 1;
            buf = vec![0u8; parts.size(number)];
            n = block_in_place(|| input.fill(&mut buf))?;
            if n == 0 {
                break;
            }
        }
        block_in_place(|| input.whole())?;
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
        abort.await;
    }
    done.map(|()| (total, ""))
}
