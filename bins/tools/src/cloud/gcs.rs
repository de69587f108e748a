//! Google Cloud Storage. Uploads are resumable uploads of the JSON API, as Google's own clients
//! (and absctl through them) stream objects: a session, then chunks in order (each a multiple
//! of 256 KiB but the last), the last one naming the total size; the object exists only once
//! that last chunk is in, and a DELETE of the session drops it. Reading and listing go through
//! object_store, whose credential chain (a service-account key file, GOOGLE_APPLICATION_
//! CREDENTIALS, the metadata server) also signs the uploads.

use super::objstore::{Bucket, Writer};
use super::store::{ObjectUpload, Parts};
use super::{retry, store_error, Url};
use anyhow::{bail, Context};
use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::gcp::{GcpCredential, GoogleCloudStorage, GoogleCloudStorageBuilder};
use object_store::CredentialProvider;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct GcpArgs {
    /// GCS: a service-account key file (JSON); default: the application default credentials
    /// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, or the metadata server).
    #[arg(long, value_name = "FILE")]
    pub gcp_key_path: Option<PathBuf>,

    /// GCS: the endpoint, for an emulator or a private endpoint (for example
    /// http://127.0.0.1:4443); without --gcp-key-path its requests are not signed.
    #[arg(long, value_name = "URL")]
    pub gcp_endpoint_override: Option<String>,

    /// GCS: upload chunk size in MiB (one chunk in memory, one in flight).
    #[arg(long, value_name = "MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub gcp_chunk_size: u64,

    /// GCS: the storage class of the objects written (STANDARD, NEARLINE, COLDLINE, ARCHIVE);
    /// default: the bucket's.
    #[arg(long, value_name = "CLASS", value_parser = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"], ignore_case = true)]
    pub gcp_storage_class: Option<String>,
}

const DEFAULT_BASE: &str = "https://storage.googleapis.com";

impl GcpArgs {
    fn build(&self, bucket: &str) -> anyhow::Result<GoogleCloudStorage> {
        let mut b = GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry::object_store())
            .with_client_options(super::objstore::client_options(
                self.gcp_endpoint_override.is_some(),
            ));
        if let Some(p) = &self.gcp_key_path {
            std::fs::metadata(p)
                .with_context(|| format!("--gcp-key-path {}: cannot read it", p.display()))?;
            b = b.with_service_account_path(p.to_string_lossy());
        }
        if let Some(e) = &self.gcp_endpoint_override {
            b = b.with_base_url(e.trim_end_matches('/'));
            if self.gcp_key_path.is_none() {
                // An emulator: no credentials to find, none to send.
                b = b.with_credentials(Arc::new(object_store::StaticCredentialProvider::new(
                    GcpCredential {
                        bearer: String::new(),
                    },
                )));
            }
        }
        b.build()
            .map_err(|e| store_error(format!("gs://{bucket}: cannot set up GCS"), e))
    }

    /// The bucket of a gs:// URL.
    pub fn bucket(&self, url: &Url) -> anyhow::Result<Bucket> {
        let gcs = self.build(&url.bucket)?;
        let writer = Writer::Gcs(self.clone(), gcs.credentials().clone());
        // A resumable upload takes its chunks one after the other.
        let parts = Parts::fixed((self.gcp_chunk_size << 20) as usize, 1);
        Ok(Bucket::new(Arc::new(gcs), url, parts, writer))
    }

    fn base(&self) -> &str {
        let base = self.gcp_endpoint_override.as_deref();
        base.unwrap_or(DEFAULT_BASE).trim_end_matches('/')
    }

    /// Opens a resumable upload session for the object `key` of the bucket at `bucket`.
    pub async fn begin(
        &self,
        creds: Creds,
        bucket: &Url,
        key: &str,
    ) -> anyhow::Result<Box<dyn ObjectUpload>> {
        let url = bucket.with_key(key);
        let http = reqwest::Client::builder()
            .connect_timeout(retry::CONNECT_TIMEOUT)
            .read_timeout(retry::READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        // The object's name and storage class go in the metadata (the object resource).
        let mut meta = serde_json::json!({ "name": key });
        if let Some(c) = &self.gcp_storage_class {
            meta["storageClass"] = c.to_uppercase().into();
        }
        let meta = meta.to_string();
        let start = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=resumable",
            self.base(),
            percent_encoding::utf8_percent_encode(
                &bucket.bucket,
                percent_encoding::NON_ALPHANUMERIC
            )
        );
        let mut attempt = 0;
        let session = loop {
            attempt += 1;
            let bearer = creds
                .get_credential()
                .await
                .map_err(|e| store_error(format!("{url}: no GCS credentials"), e))?;
            let r = authorized(http.post(&start), &bearer.bearer)
                .header("content-type", "application/json; charset=UTF-8")
                .body(meta.clone())
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => {
                    break resp
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .context("GCS gave no upload session")?
                        .to_string();
                }
                Ok(resp) if !transient(resp.status()) || attempt >= retry::REQUEST_ATTEMPTS => {
                    bail!(
                        "starting the upload to {url} failed: {}",
                        describe(resp).await
                    )
                }
                Err(e) if attempt >= retry::REQUEST_ATTEMPTS => {
                    bail!("starting the upload to {url} failed: {}", super::causes(&e))
                }
                _ => retry::REQUEST_BACKOFF.wait(attempt).await,
            }
        };
        Ok(Box::new(Resumable {
            s: Arc::new(Session {
                http,
                creds,
                uri: session,
                url,
            }),
            sent: 0,
            held: None,
        }))
    }
}

/// Where GCS's bearer tokens come from.
pub type Creds = Arc<dyn CredentialProvider<Credential = GcpCredential>>;

struct Session {
    http: reqwest::Client,
    creds: Creds,
    uri: String,
    url: String,
}

/// A resumable upload: each part is held back until the next one comes, so that the last one,
/// sent by `complete`, can carry the total size.
struct Resumable {
    s: Arc<Session>,
    sent: u64,
    held: Option<Bytes>,
}

impl ObjectUpload for Resumable {
    fn part(&mut self, data: Bytes) -> BoxFuture<'static, anyhow::Result<()>> {
        let Some(chunk) = self.held.replace(data) else {
            return Box::pin(async { Ok(()) });
        };
        let at = self.sent;
        self.sent += chunk.len() as u64;
        let s = self.s.clone();
        Box::pin(async move { s.send(chunk, at, None).await })
    }

    fn complete(mut self: Box<Self>) -> BoxFuture<'static, anyhow::Result<()>> {
        let chunk = self.held.take().unwrap_or_default();
        let at = self.sent;
        let total = at + chunk.len() as u64;
        let s = self.s.clone();
        Box::pin(async move { s.send(chunk, at, Some(total)).await })
    }

    fn abort(&self) -> BoxFuture<'static, ()> {
        let s = self.s.clone();
        Box::pin(async move {
            let _ = s.http.delete(&s.uri).send().await;
        })
    }
}

impl Session {
    /// Sends `chunk`, which starts at byte `at` of the object; with `total`, as the last one.
    /// A failed request is sent again whole, as Google's Go client does (GCS keeps what it had
    /// of it only once); a 308 saying the server kept less than the chunk sends the rest. No
    /// status query (`bytes */*`): fake-gcs-server takes one for the end of the upload.
    async fn send(&self, chunk: Bytes, at: u64, total: Option<u64>) -> anyhow::Result<()> {
        let end = at + chunk.len() as u64;
        let mut from = at;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let range = match (from < end, total) {
                (true, Some(t)) => format!("bytes {from}-{}/{t}", end - 1),
                (true, None) => format!("bytes {from}-{}/*", end - 1),
                (false, Some(t)) => format!("bytes */{t}"),
                (false, None) => return Ok(()),
            };
            let body = chunk.slice((from - at) as usize..);
            let bearer = self
                .creds
                .get_credential()
                .await
                .map_err(|e| store_error(format!("{}: no GCS credentials", self.url), e))?;
            let r = authorized(self.http.put(&self.uri), &bearer.bearer)
                .header("content-range", range)
                .body(body)
                .send()
                .await;
            let why = match r {
                Ok(resp) if resp.status().as_u16() == 308 && total.is_none() => {
                    // Received: for a middle chunk, all of it (else the Range says how much).
                    match received(&resp) {
                        Some(n) if n < end && n > from => {
                            from = n;
                            attempt = 0;
                            continue;
                        }
                        Some(n) if n < end => format!("the server kept {n} of {end} bytes"),
                        Some(_) => return Ok(()),
                        // No Range: the server kept nothing yet.
                        None => "the server kept none of the chunk".to_string(),
                    }
                }
                Ok(resp) if resp.status().is_success() && total.is_some() => return Ok(()),
                Ok(resp) if !transient(resp.status()) && resp.status().as_u16() != 308 => {
                    bail!("uploading to {} failed: {}", self.url, describe(resp).await)
                }
                Ok(resp) => describe(resp).await,
                Err(e) => super::causes(&e),
            };
            if attempt >= retry::REQUEST_ATTEMPTS {
                bail!(
                    "uploading to {} failed after {attempt} attempts at byte {from}: {why}",
                    self.url
                );
            }
            retry::REQUEST_BACKOFF.wait(attempt).await;
        }
    }
}

/// The bytes a 308 answer says the server holds (`Range: bytes=0-N`).
fn received(resp: &reqwest::Response) -> Option<u64> {
    let r = resp.headers().get("range")?.to_str().ok()?;
    let last: u64 = r.rsplit('-').next()?.parse().ok()?;
    Some(last + 1)
}

fn authorized(rb: reqwest::RequestBuilder, bearer: &str) -> reqwest::RequestBuilder {
    if bearer.is_empty() {
        rb
    } else {
        rb.bearer_auth(bearer)
    }
}

fn transient(s: reqwest::StatusCode) -> bool {
    s.is_server_error() || s.as_u16() == 429 || s.as_u16() == 408
}

async fn describe(resp: reqwest::Response) -> String {
    let st = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("HTTP {st}: {}", body.chars().take(300).collect::<String>())
}
