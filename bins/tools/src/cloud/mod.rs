//! Where the backup files go to and come from: a bucket of S3 (aws-sdk-s3), Google Cloud Storage
//! or Azure Blob Storage (object_store for credentials, listing and ranged reads; uploads as
//! each cloud's own clients make them), behind one [`Store`]. The tools take any of their URLs,
//! so that the wrappers and as-split's sinks need not know which cloud it is.

pub mod azure;
pub mod gcs;
pub mod objstore;
pub mod read;
pub mod retry;
pub mod s3;
pub mod store;

pub use store::{ObjectUpload, Opened, Parts, ReadError, Store};

use anyhow::bail;

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

/// The bucket of `url` in its cloud; `account` is the Azure account an https:// URL names.
pub async fn open(
    url: &Url,
    account: Option<&str>,
    s3: &s3::S3Args,
    s3_parts: &s3::PartArgs,
    cloud: &CloudArgs,
) -> anyhow::Result<Box<dyn Store>> {
    Ok(match url.scheme {
        Scheme::S3 => Box::new(s3.bucket(url, s3_parts).await),
        Scheme::Gs => Box::new(cloud.gcp.bucket(url)?),
        Scheme::Az => Box::new(cloud.azure.bucket(url, account)?),
    })
}

/// Reading any of the three clouds: a prefix's objects, and one object streamed (as-decode and
/// as-restore reading a backup in a cloud).
#[derive(Debug, Clone)]
pub struct Reader {
    pub s3: s3::S3Args,
    pub cloud: CloudArgs,
}

impl Reader {
    /// The bucket of `url`.
    pub async fn open(&self, url: &Url, account: Option<&str>) -> anyhow::Result<Box<dyn Store>> {
        // Reads upload nothing: S3's part sizes do not matter.
        open(url, account, &self.s3, &Default::default(), &self.cloud).await
    }

    /// The URLs of the objects under the prefix whose names end with `suffix`, sorted.
    pub async fn list(&self, url: &str, suffix: &str) -> anyhow::Result<Vec<String>> {
        let (u, _) = Url::parse(url, true)?;
        let keys = self.list_sized(url).await?.into_iter();
        let keys = keys.filter(|(k, _)| k.ends_with(suffix));
        Ok(keys.map(|(k, _)| u.with_key(&k)).collect())
    }

    /// The keys (in the bucket) and sizes of every object under the prefix, sorted.
    pub async fn list_sized(&self, url: &str) -> anyhow::Result<Vec<(String, u64)>> {
        let (u, account) = Url::parse(url, true)?;
        self.open(&u, account.as_deref()).await?.list(&u.key).await
    }

    /// Streams the object to `out`, resuming broken reads; returns its size.
    pub async fn read(&self, url: &str, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
        let (u, account) = Url::parse(url, false)?;
        let store = self.open(&u, account.as_deref()).await?;
        read::read_to_end(&*store, &u, retry::READ_ATTEMPTS, None, out).await
    }
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
