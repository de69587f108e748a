//! Amazon S3 and S3-compatible servers, through aws-sdk-s3: the options (asbackup's names), the
//! client made of them, and a bucket as a [`Store`]. Uploads are multipart uploads whose parts
//! grow as the object does, so that 10,000 parts hold over 5 TiB; a small object is one PUT.

use super::retry;
use super::store::{ObjectUpload, Opened, Parts, ReadError, Store};
use super::Url;
use anyhow::{bail, Context};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct S3Args {
    /// AWS region (default: from the environment or profile, else us-east-1).
    #[arg(long)]
    pub s3_region: Option<String>,

    /// AWS profile for credentials and settings.
    #[arg(long)]
    pub s3_profile: Option<String>,

    /// S3 endpoint URL, for S3-compatible servers (path-style addressing is used).
    #[arg(long)]
    pub s3_endpoint_override: Option<String>,

    /// Connection timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub s3_connect_timeout: u64,
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

impl Default for PartArgs {
    fn default() -> Self {
        PartArgs {
            s3_min_part_size: 5,
            s3_max_async_uploads: 16,
        }
    }
}

/// Parts double in size every this many parts: 10,000 parts then hold over 5 TiB.
const PARTS_PER_DOUBLING: u64 = 800;
const MAX_PART: usize = 5 << 30;
const MAX_PARTS: i32 = 10_000;

impl S3Args {
    pub async fn client(&self) -> Client {
        // rustls with ring, the toolkit's one TLS stack (see the workspace's Cargo.toml).
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https);
        if let Some(p) = &self.s3_profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.s3_region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(self.s3_connect_timeout))
            .build();
        let shared = loader.timeout_config(timeouts).load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&shared);
        if shared.region().is_none() {
            conf = conf.region(aws_sdk_s3::config::Region::new("us-east-1"));
        }
        if let Some(e) = &self.s3_endpoint_override {
            conf = conf.endpoint_url(e).force_path_style(true);
        }
        Client::from_conf(conf.build())
    }

    /// The bucket of an s3:// URL.
    pub async fn bucket(&self, url: &Url, parts: &PartArgs) -> S3 {
        S3 {
            client: self.client().await,
            url: url.clone(),
            parts: Parts {
                first: (parts.s3_min_part_size << 20) as usize,
                doubling: PARTS_PER_DOUBLING,
                max: MAX_PART,
                in_flight: parts.s3_max_async_uploads as usize,
            },
        }
    }
}

/// as-s3put and as-s3get take s3:// URLs only, and say so as they always did.
pub fn only_s3(url: &str, prefix_ok: bool) -> Result<(), as_cli::Usage> {
    match Url::parse(url, prefix_ok) {
        Ok((u, _)) if u.scheme == super::Scheme::S3 => Ok(()),
        _ => Err(as_cli::Usage(format!(
            "{url:?} is not an s3://bucket/key URL"
        ))),
    }
}

/// One line for a failed S3 request: what failed, then the SDK's whole chain of causes.
pub fn s3_error<E: std::error::Error>(what: String, e: E) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
}

pub struct S3 {
    client: Client,
    /// The bucket's URL (its key unused), for messages.
    url: Url,
    parts: Parts,
}

impl S3 {
    fn name(&self, key: &str) -> String {
        self.url.with_key(key)
    }
}

impl Store for S3 {
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, anyhow::Result<Vec<(String, u64)>>> {
        Box::pin(async move {
            let prefix = match prefix {
                "" => String::new(),
                p if p.ends_with('/') => p.to_string(),
                p => format!("{p}/"),
            };
            let mut found = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.url.bucket)
                .prefix(&prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| s3_error(format!("listing {}", self.name(&prefix)), e))?;
                for o in page.contents() {
                    if let Some(k) = o.key() {
                        found.push((k.to_string(), o.size().unwrap_or(0) as u64));
                    }
                }
            }
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
        let mut req = self.client.get_object().bucket(&self.url.bucket).key(key);
        if from > 0 {
            req = req.range(format!("bytes={from}-"));
        }
        if let Some(e) = etag {
            req = req.if_match(e);
        }
        Box::pin(async move {
            match req.send().await {
                // The first read's length is the object's: without it a cut body could not be
                // told from a whole one.
                Ok(resp) if from == 0 && resp.content_length().is_none_or(|l| l < 0) => {
                    Err(ReadError::Permanent(anyhow::anyhow!(
                        "reading {}: the server gave no Content-Length",
                        self.name(key)
                    )))
                }
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
                    let err = s3_error(format!("reading {}", self.name(key)), e);
                    // Missing object, no access, or a replaced object (If-Match failed).
                    Err(match transient {
                        true => ReadError::Transient(format!("{err:#}")),
                        false => ReadError::Permanent(err),
                    })
                }
            }
        })
    }

    fn parts(&self) -> Parts {
        self.parts
    }

    fn begin<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Box<dyn ObjectUpload>>> {
        Box::pin(async move {
            let created = self
                .client
                .create_multipart_upload()
                .bucket(&self.url.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    s3_error(
                        format!("starting the upload to {} failed", self.name(key)),
                        e,
                    )
                })?;
            let id = created
                .upload_id()
                .context("the server gave no upload id")?;
            Ok(Box::new(Multipart {
                u: Arc::new(Upload {
                    client: self.client.clone(),
                    bucket: self.url.bucket.clone(),
                    key: key.to_string(),
                    id: id.to_string(),
                    done: Mutex::new(Vec::new()),
                }),
                number: 0,
            }) as Box<dyn ObjectUpload>)
        })
    }

    /// One PUT: a small object needs no multipart upload.
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.url.bucket)
                .key(key)
                .body(ByteStream::from(data))
                .send()
                .await
                .map_err(|e| s3_error(format!("uploading {} failed", self.name(key)), e))?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let r = self
                .client
                .delete_object()
                .bucket(&self.url.bucket)
                .key(key)
                .send()
                .await;
            match r {
                // S3 itself says nothing of a missing key; other servers may.
                Err(e) if e.code() != Some("NoSuchKey") => {
                    Err(s3_error(format!("deleting {} failed", self.name(key)), e))
                }
                _ => Ok(()),
            }
        })
    }
}

/// A multipart upload under way, and its parts done so far.
struct Upload {
    client: Client,
    bucket: String,
    key: String,
    id: String,
    done: Mutex<Vec<CompletedPart>>,
}

struct Multipart {
    u: Arc<Upload>,
    number: i32,
}

impl Upload {
    /// Part `n`, sent again whole with backoff when it fails.
    async fn part(&self, n: i32, data: Bytes) -> anyhow::Result<()> {
        let mut attempt = 1;
        loop {
            let r = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(&self.id)
                .part_number(n)
                // A cheap clone: retries resend the same buffer.
                .body(ByteStream::from(data.clone()))
                .send()
                .await;
            match r {
                Ok(out) => {
                    let p = CompletedPart::builder().part_number(n).set_e_tag(out.e_tag);
                    self.done.lock().unwrap().push(p.build());
                    return Ok(());
                }
                Err(_) if attempt < retry::REQUEST_ATTEMPTS => {
                    retry::REQUEST_BACKOFF.wait(attempt).await;
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
}

impl ObjectUpload for Multipart {
    fn part(&mut self, data: Bytes) -> BoxFuture<'static, anyhow::Result<()>> {
        self.number += 1;
        if self.number > MAX_PARTS {
            return Box::pin(async {
                bail!("the object needs more than 10,000 parts: raise --s3-min-part-size")
            });
        }
        let (u, n) = (self.u.clone(), self.number);
        Box::pin(async move { u.part(n, data).await })
    }

    fn complete(self: Box<Self>) -> BoxFuture<'static, anyhow::Result<()>> {
        let u = self.u;
        Box::pin(async move {
            let mut parts = std::mem::take(&mut *u.done.lock().unwrap());
            parts.sort_by_key(|p| p.part_number());
            let whole = CompletedMultipartUpload::builder().set_parts(Some(parts));
            u.client
                .complete_multipart_upload()
                .bucket(&u.bucket)
                .key(&u.key)
                .upload_id(&u.id)
                .multipart_upload(whole.build())
                .send()
                .await
                .map_err(|e| {
                    let url = format!("s3://{}/{}", u.bucket, u.key);
                    s3_error(format!("completing the upload to {url} failed"), e)
                })?;
            Ok(())
        })
    }

    fn abort(&self) -> BoxFuture<'static, ()> {
        let u = self.u.clone();
        Box::pin(async move {
            let _ = u
                .client
                .abort_multipart_upload()
                .bucket(&u.bucket)
                .key(&u.key)
                .upload_id(&u.id)
                .send()
                .await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_part_sizes() {
        assert!(only_s3("s3://b/p/k.asb", false).is_ok());
        assert!(only_s3("S3://b/p/", true).is_ok());
        assert!(only_s3("s3://b", false).is_err());
        assert!(only_s3("gs://b/k", false).is_err());
        assert!(only_s3("http://b/k", false).is_err());
        let min = 5 << 20;
        let parts = Parts {
            first: min,
            doubling: PARTS_PER_DOUBLING,
            max: MAX_PART,
            in_flight: 1,
        };
        assert_eq!(parts.size(1), min);
        assert_eq!(parts.size(800), min);
        assert_eq!(parts.size(801), 2 * min);
        let total: usize = (1..=10_000).map(|n| parts.size(n)).sum();
        assert!(total > 5 << 40, "10,000 parts hold more than 5 TiB");
    }
}
