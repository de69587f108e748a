//! The clouds the backup files go to and come from: S3 (aws-sdk-s3, as-s3put and as-s3get),
//! Google Cloud Storage and Azure Blob Storage (object_store for credentials, listing and ranged
//! reads; uploads as each cloud's own clients make them). `as-put` and `as-get` take any of
//! their URLs, so that the wrappers and as-split's sinks need not know which cloud it is.

pub mod azure;
pub mod gcs;
pub mod read;

use anyhow::bail;
use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gs,
    Az,
}

/// A parsed `s3://`, `gs://` or `az://` URL: the bucket (Azure: the container) and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub bucket: String,
    pub key: String,
}

impl Url {
    /// Parses a URL; the key may be empty only when `prefix_ok` (a listing). Besides the short
    /// forms, `https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH` (Azure's own) is read as
    /// `az://CONTAINER/PATH` with the account it names.
    pub fn parse(url: &str, prefix_ok: bool) -> anyhow::Result<(Url, Option<String>)> {
        let lower = url.to_ascii_lowercase();
        let (scheme, rest, account) = if let Some(r) = lower.strip_prefix("s3://") {
            (Scheme::S3, &url[url.len() - r.len()..], None)
        } else if let Some(r) = lower.strip_prefix("gs://") {
            (Scheme::Gs, &url[url.len() - r.len()..], None)
        } else if let Some(r) = lower.strip_prefix("az://") {
            (Scheme::Az, &url[url.len() - r.len()..], None)
        } else if let Some(host_path) = lower.strip_prefix("https://") {
            let (host, _) = host_path.split_once('/').unwrap_or((host_path, ""));
            match host.strip_suffix(".blob.core.windows.net") {
                Some(account) if !account.is_empty() => {
                    let rest = &url["https://".len() + host.len()..];
                    (
                        Scheme::Az,
                        rest.trim_start_matches('/'),
                        Some(account.to_string()),
                    )
                }
                _ => bail!("{url:?} is not an s3://, gs:// or az:// URL"),
            }
        } else {
            bail!("{url:?} is not an s3://, gs:// or az:// URL (bucket, then key)");
        };
        let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
        if b.is_empty() || (k.is_empty() && !prefix_ok) {
            bail!("{url:?} names no object: expected SCHEME://BUCKET/KEY");
        }
        let u = Url {
            scheme,
            bucket: b.to_string(),
            key: k.to_string(),
        };
        Ok((u, account))
    }

    /// The URL of `key` in the same bucket, in the short form.
    pub fn with_key(&self, key: &str) -> String {
        let s = match self.scheme {
            Scheme::S3 => "s3",
            Scheme::Gs => "gs",
            Scheme::Az => "az",
        };
        format!("{s}://{}/{key}", self.bucket)
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.with_key(&self.key))
    }
}

/// The options of the clouds other than S3's (which as-s3put and as-s3get take as before).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CloudArgs {
    #[command(flatten)]
    pub gcp: gcs::GcpArgs,

    #[command(flatten)]
    pub azure: azure::AzureArgs,
}

impl CloudArgs {
    /// The store of a gs:// or az:// URL's bucket.
    pub fn store(&self, url: &Url, account: Option<&str>) -> anyhow::Result<Arc<dyn ObjectStore>> {
        match url.scheme {
            Scheme::Gs => self.gcp.store(&url.bucket),
            Scheme::Az => self.azure.store(&url.bucket, account),
            Scheme::S3 => unreachable!("S3 has its own client"),
        }
    }

    /// Starts writing the object at `url` (gs:// or az://).
    pub async fn begin(
        &self,
        url: &Url,
        account: Option<&str>,
    ) -> anyhow::Result<Box<dyn ObjectUpload>> {
        match url.scheme {
            Scheme::Gs => self.gcp.begin(url).await,
            Scheme::Az => self.azure.begin(url, account).await,
            Scheme::S3 => unreachable!("S3 has its own client"),
        }
    }

    /// The part size of uploads to this cloud, and how many may be in flight.
    pub fn parts(&self, scheme: Scheme) -> (usize, usize) {
        match scheme {
            // A resumable upload takes its chunks one after the other.
            Scheme::Gs => ((self.gcp.gcp_chunk_size << 20) as usize, 1),
            _ => (
                (self.azure.azure_block_size << 20) as usize,
                self.azure.azure_upload_concurrency as usize,
            ),
        }
    }
}

/// Reading any of the three clouds: a prefix's objects, and one object streamed (as-decode
/// --validate of a cloud prefix; as-get is the same for one cloud at a time).
#[derive(Debug, Clone)]
pub struct Reader {
    pub s3: crate::s3::S3Args,
    pub cloud: CloudArgs,
}

impl Reader {
    /// The URLs of the objects under the prefix whose names end with `suffix`, sorted.
    pub async fn list(&self, url: &str, suffix: &str) -> anyhow::Result<Vec<String>> {
        let (u, account) = Url::parse(url, true)?;
        let keys = match u.scheme {
            Scheme::S3 => {
                let c = self.s3.client().await;
                crate::s3get::list_keys(&c, &u.bucket, &u.key, suffix).await?
            }
            _ => {
                let store = self.cloud.store(&u, account.as_deref())?;
                crate::get::list_keys(&*store, &u, suffix).await?
            }
        };
        Ok(keys.into_iter().map(|(k, _)| u.with_key(&k)).collect())
    }

    /// The keys (in the bucket) and sizes of every object under the prefix, sorted.
    pub async fn list_sized(&self, url: &str) -> anyhow::Result<Vec<(String, u64)>> {
        let (u, account) = Url::parse(url, true)?;
        match u.scheme {
            Scheme::S3 => {
                let c = self.s3.client().await;
                crate::s3get::list_keys(&c, &u.bucket, &u.key, "").await
            }
            _ => {
                let store = self.cloud.store(&u, account.as_deref())?;
                crate::get::list_keys(&*store, &u, "").await
            }
        }
    }

    /// Streams the object to `out`; returns its size.
    pub async fn read(&self, url: &str, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
        let (u, account) = Url::parse(url, false)?;
        match u.scheme {
            Scheme::S3 => {
                let c = self.s3.client().await;
                crate::s3get::read_object(&c, &u.bucket, &u.key, 10, false, out).await
            }
            _ => {
                let store = self.cloud.store(&u, account.as_deref())?;
                crate::get::read_object(store, &u, 10, false, out).await
            }
        }
    }
}

/// One object being written: parts in order, then complete (the object appears, whole) or
/// abort (nothing appears).
pub trait ObjectUpload: Send {
    /// Sends a part: every part but the last is exactly the cloud's part size.
    fn part(&mut self, data: Bytes) -> BoxFuture<'static, anyhow::Result<()>>;
    /// Makes the object of the parts sent, once they all succeeded.
    fn complete(self: Box<Self>) -> BoxFuture<'static, anyhow::Result<()>>;
    /// Forgets the parts: nothing appears. Callable from elsewhere (a signal), any time.
    fn canceller(&self) -> BoxFuture<'static, ()>;
}

/// How object_store retries a failed request: a few times over seconds, not its default of
/// ten over three minutes, so that a dead server is one clear line soon (as-get retries reads
/// on its own, from where they broke).
pub fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 4,
        retry_timeout: std::time::Duration::from_secs(30),
        ..Default::default()
    }
}

/// A connection that delivers nothing for this long is given up (and the read resumed): a
/// stalled server, not a large object, ends a request.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Connection settings; plain HTTP only where an endpoint was given (an emulator). No limit on a
/// whole request (object_store's default is 30 s, which would cut every large download), but
/// one on silence.
pub fn client_options(allow_http: bool) -> object_store::ClientOptions {
    object_store::ClientOptions::new()
        .with_connect_timeout(std::time::Duration::from_secs(5))
        .with_timeout_disabled()
        .with_read_timeout(READ_TIMEOUT)
        .with_allow_http(allow_http)
}

/// One line for a failed object_store request: what failed, then its chain of causes.
pub fn store_error(what: String, e: object_store::Error) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", causes(&e))
}

/// An error and its causes on one line, each cause once (libraries often repeat a cause's text
/// in their own).
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    msg.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (u, a) = Url::parse("gs://b/p/k.asb", false).unwrap();
        assert_eq!(
            (u.scheme, &u.bucket[..], &u.key[..], a),
            (Scheme::Gs, "b", "p/k.asb", None)
        );
        let (u, _) = Url::parse("AZ://Ctr/Dir/", true).unwrap();
        assert_eq!(
            (u.scheme, &u.bucket[..], &u.key[..]),
            (Scheme::Az, "Ctr", "Dir/")
        );
        let (u, a) = Url::parse("https://acct.blob.core.windows.net/ctr/x.asb", false).unwrap();
        assert_eq!(
            (u.scheme, &u.bucket[..], &u.key[..]),
            (Scheme::Az, "ctr", "x.asb")
        );
        assert_eq!(a.as_deref(), Some("acct"));
        assert_eq!(u.to_string(), "az://ctr/x.asb");
        assert!(Url::parse("gs://b", false).is_err());
        assert!(Url::parse("gs://b", true).is_ok());
        assert!(Url::parse("https://example.com/b/k", false).is_err());
        assert!(Url::parse("/local/file", false).is_err());
    }
}
