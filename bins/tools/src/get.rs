//! `as-get`: stream an object of S3, Google Cloud Storage or Azure Blob Storage to standard
//! output, resuming with a ranged read where a connection broke; or list the backup files under
//! a prefix.

use crate::cloud::read::{read_to_end, Opened, ReadError};
use crate::cloud::{store_error, CloudArgs, Scheme, Url};
use as_cli::summary::Summary;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use std::io::Write;
use std::sync::Arc;

/// Read a backup from S3, GCS or Azure: an object to standard output, or a directory's files.
///
/// Streams the object at URL (s3://BUCKET/KEY as as-s3get does, gs://BUCKET/KEY, az://CONTAINER/
/// BLOB or https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB) to standard output in constant
/// memory. When the connection breaks mid-object, the next read asks for the rest only (a range
/// from the first byte not yet written) and for the same version of the object (If-Match on its
/// ETag), so that the output is the object exactly, or as-get fails with one line: a replaced
/// object is never spliced. Failed reads are retried with backoff, --attempts times in a row at
/// most.
///
/// With --list, prints the URL of every object under the prefix whose name ends in .asb, one per
/// line, sorted (a directory backup), and their sizes in --summary.
#[derive(Parser, Debug)]
#[command(name = "as-get", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// The object; with --list, a prefix SCHEME://BUCKET[/PREFIX].
    pub url: String,

    #[command(flatten)]
    pub read: crate::cloud::read::ReadArgs,

    #[command(flatten)]
    pub s3: crate::s3::S3Args,

    #[command(flatten)]
    pub cloud: CloudArgs,

    /// Check the options (the URL, the ranges) and exit without reading or connecting: 0 when
    /// they are good, 2 with the reason when not.
    #[arg(long)]
    pub check_options: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (url, account) =
        Url::parse(&a.url, a.read.list).map_err(|e| as_cli::Usage(format!("{e:#}")))?;
    if a.check_options {
        return Ok(());
    }
    if url.scheme == Scheme::S3 {
        return crate::s3get::run(crate::s3get::Args {
            url: a.url,
            read: a.read,
            s3: a.s3,
        });
    }
    let store = a.cloud.store(&url, account.as_deref())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bytes = rt.block_on(async {
        if a.read.list {
            let found = list_keys(&*store, &url, &a.read.suffix).await?;
            let mut out = std::io::stdout().lock();
            for (k, _) in &found {
                writeln!(out, "{}", url.with_key(k))?;
            }
            out.flush()?;
            Ok(found.iter().map(|(_, s)| s).sum())
        } else {
            let mut out = std::io::stdout().lock();
            read_object(
                store.clone(),
                &url,
                a.read.attempts,
                a.read.verbose,
                &mut out,
            )
            .await
        }
    })?;
    Summary::new()
        .set("bytes", bytes)
        .write(a.read.summary.as_deref())
}

/// The keys under the prefix (a directory) whose names end with `suffix`, sorted, with sizes.
pub async fn list_keys(
    store: &dyn ObjectStore,
    url: &Url,
    suffix: &str,
) -> anyhow::Result<Vec<(String, u64)>> {
    let prefix = url.key.trim_end_matches('/');
    let prefix = (!prefix.is_empty()).then(|| Path::from(prefix));
    let mut found: Vec<(String, u64)> = store
        .list(prefix.as_ref())
        .map_ok(|m| (m.location.to_string(), m.size))
        .try_filter(|(k, _)| futures::future::ready(k.ends_with(suffix)))
        .try_collect()
        .await
        .map_err(|e| store_error(format!("listing {url}"), e))?;
    found.sort();
    Ok(found)
}

/// Writes the object to `out`, resuming broken reads; returns its size.
pub async fn read_object(
    store: Arc<dyn ObjectStore>,
    url: &Url,
    attempts: u32,
    verbose: bool,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let path = Path::from(url.key.as_str());
    let name = url.to_string();
    read_to_end("as-get", &name, attempts, verbose, out, |from, etag| {
        let (store, path, name) = (store.clone(), path.clone(), name.clone());
        async move {
            let opts = GetOptions {
                range: (from > 0).then_some(GetRange::Offset(from)),
                if_match: etag,
                ..Default::default()
            };
            match store.get_opts(&path, opts).await {
                Ok(r) => Ok(Opened {
                    etag: r.meta.e_tag.clone(),
                    size: r.meta.size,
                    body: r
                        .into_stream()
                        .map(|c| c.map_err(|e| e.to_string()))
                        .boxed(),
                }),
                Err(e) => {
                    use object_store::Error as E;
                    let permanent = matches!(
                        e,
                        E::NotFound { .. }
                            | E::Precondition { .. }
                            | E::PermissionDenied { .. }
                            | E::Unauthenticated { .. }
                    );
                    let err = store_error(format!("reading {name}"), e);
                    Err(match permanent {
                        true => ReadError::Permanent(err),
                        false => ReadError::Transient(format!("{err:#}")),
                    })
                }
            }
        }
    })
    .await
}
