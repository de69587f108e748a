//! What as-s3put and as-s3get share: the S3 options (asbackup's names), the client made of them,
//! URLs, and one-line errors.

use anyhow::{bail, Context};
use aws_sdk_s3::Client;
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

impl S3Args {
    pub async fn client(&self) -> Client {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
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
}

/// `s3://BUCKET/KEY` into (bucket, key); the key may be empty only when `prefix_ok`.
pub fn split_url(url: &str, prefix_ok: bool) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .or_else(|| url.strip_prefix("S3://"))
        .with_context(|| format!("{url:?} is not an s3://bucket/key URL"))?;
    let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
    if b.is_empty() || (k.is_empty() && !prefix_ok) {
        bail!("{url:?} is not an s3://bucket/key URL");
    }
    Ok((b.to_string(), k.to_string()))
}

pub fn parse_url(url: &str) -> anyhow::Result<(String, String)> {
    split_url(url, false)
}

/// One line for a failed S3 request: what failed, then the SDK's whole chain of causes.
pub fn s3_error<E: std::error::Error>(what: String, e: E) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
}
