//! A GCS bucket or an Azure container: listed, read and deleted through object_store (its
//! credential chains, retries, ranged reads with If-Match); uploaded to as each cloud's own
//! clients do it (gcs.rs, azure.rs).

use super::store::{ObjectUpload, Opened, Parts, ReadError, Store};
use super::{azure, gcs, retry, store_error, Url};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use std::sync::Arc;

pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// The bucket's URL (its key unused), for messages.
    url: Url,
    parts: Parts,
    writer: Writer,
}

/// How the cloud's objects are uploaded.
pub enum Writer {
    Gcs(gcs::GcpArgs, gcs::Creds),
    Azure(azure::AzureArgs),
}

impl Bucket {
    pub fn new(store: Arc<dyn ObjectStore>, url: &Url, parts: Parts, writer: Writer) -> Bucket {
        let url = url.clone();
        Bucket {
            store,
            url,
            parts,
            writer,
        }
    }
}

impl Store for Bucket {
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<(String, u64)>>> {
        Box::pin(async move {
            let dir = prefix.trim_end_matches('/');
            let dir = (!dir.is_empty()).then(|| Path::from(dir));
            let mut found: Vec<(String, u64)> = self
                .store
                .list(dir.as_ref())
                .map_ok(|m| (m.location.to_string(), m.size))
                .try_collect()
                .await
                .map_err(|e| store_error(format!("listing {}", self.url.with_key(prefix)), e))?;
            found.sort();
            Ok(found)
        })
    }

    fn read_at<'a>(
        &'a self,
        key: &'a str,
        from: u64,
        etag: Option<String>,
    ) -> BoxFuture<'a, Result<Opened, ReadError>> {
        Box::pin(async move {
            let opts = GetOptions {
                range: (from > 0).then_some(GetRange::Offset(from)),
                if_match: etag,
                ..Default::default()
            };
            match self.store.get_opts(&Path::from(key), opts).await {
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
                    let err = store_error(format!("reading {}", self.url.with_key(key)), e);
                    Err(match permanent {
                        true => ReadError::Permanent(err),
                        false => ReadError::Transient(format!("{err:#}")),
                    })
                }
            }
        })
    }

    fn parts(&self) -> Parts {
        self.parts
    }

    fn begin<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Box<dyn ObjectUpload>>> {
        match &self.writer {
            Writer::Gcs(args, creds) => Box::pin(args.begin(creds.clone(), &self.url, key)),
            Writer::Azure(args) => Box::pin(args.begin(self.store.clone(), &self.url, key)),
        }
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            match self.store.delete(&Path::from(key)).await {
                // Azure and GCS answer 404 for an object already gone.
                Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                Err(e) => Err(store_error(
                    format!("deleting {} failed", self.url.with_key(key)),
                    e,
                )),
            }
        })
    }
}

/// Connection settings of object_store; plain HTTP only where an endpoint was given (an
/// emulator). No limit on a whole request (object_store's default is 30 s, which would cut every
/// large download), but one on silence.
pub fn client_options(allow_http: bool) -> object_store::ClientOptions {
    object_store::ClientOptions::new()
        .with_connect_timeout(retry::CONNECT_TIMEOUT)
        .with_timeout_disabled()
        .with_read_timeout(retry::READ_TIMEOUT)
        .with_allow_http(allow_http)
}
