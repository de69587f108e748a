//! Azure Blob Storage, through object_store: block blobs written as blocks (Put Block) and made
//! into the blob by one Put Block List at the end, so that no blob exists until the upload is
//! complete (uncommitted blocks are never a blob, and Azure drops them within a week).
//! Credentials: an account key, a service principal (tenant, client, secret), or object_store's
//! chain (AZURE_STORAGE_* variables, managed identity, workload identity, the Azure CLI).

use super::objstore::{Bucket, Writer};
use super::store::{ObjectUpload, Parts};
use super::{retry, store_error, Url};
use anyhow::bail;
use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path;
use object_store::{Attribute, Attributes, MultipartUpload, ObjectStore, PutMultipartOptions};
use std::sync::Arc;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct AzureArgs {
    /// Azure: the storage account (default: from an https://ACCOUNT.blob.core.windows.net URL,
    /// else AZURE_STORAGE_ACCOUNT_NAME).
    #[arg(long, value_name = "NAME")]
    pub azure_account_name: Option<String>,

    /// Azure: the account's shared key (default: AZURE_STORAGE_ACCOUNT_KEY; better in the
    /// environment than on a command line).
    #[arg(
        long,
        value_name = "KEY",
        env = "AZURE_STORAGE_ACCOUNT_KEY",
        hide_env_values = true
    )]
    pub azure_account_key: Option<String>,

    /// Azure: a service principal's tenant id (with --azure-client-id and --azure-client-secret).
    #[arg(long, value_name = "ID", requires_all = ["azure_client_id", "azure_client_secret"])]
    pub azure_tenant_id: Option<String>,

    /// Azure: the service principal's client id.
    #[arg(long, value_name = "ID", requires = "azure_tenant_id")]
    pub azure_client_id: Option<String>,

    /// Azure: the service principal's secret (default: AZURE_CLIENT_SECRET).
    #[arg(
        long,
        value_name = "SECRET",
        env = "AZURE_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub azure_client_secret: Option<String>,

    /// Azure: the blob endpoint, for Azurite or a private endpoint (for example
    /// http://127.0.0.1:10000/devstoreaccount1).
    #[arg(long, value_name = "URL")]
    pub azure_endpoint: Option<String>,

    /// Azure: the access tier of the blobs written (Hot, Cool, Cold, Archive); default: the
    /// account's.
    #[arg(long, value_name = "TIER", value_parser = ["Hot", "Cool", "Cold", "Archive"], ignore_case = true)]
    pub azure_access_tier: Option<String>,

    /// Azure: block size in MiB (a blob holds at most 50,000 blocks).
    #[arg(long, value_name = "MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=4000))]
    pub azure_block_size: u64,

    /// Azure: blocks uploaded at the same time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub azure_upload_concurrency: u64,
}

const MAX_BLOCKS: usize = 50_000;

impl AzureArgs {
    /// The container of an az:// URL; `account` is the one an https:// URL names.
    pub fn bucket(&self, url: &Url, account: Option<&str>) -> anyhow::Result<Bucket> {
        let container = &url.bucket;
        let mut b = MicrosoftAzureBuilder::from_env()
            .with_container_name(container)
            .with_retry(retry::object_store())
            .with_client_options(super::objstore::client_options(
                self.azure_endpoint.is_some(),
            ));
        if let Some(a) = self.azure_account_name.as_deref().or(account) {
            b = b.with_account(a);
        }
        if let Some(k) = &self.azure_account_key {
            b = b.with_access_key(k);
        }
        if let (Some(t), Some(c), Some(s)) = (
            &self.azure_tenant_id,
            &self.azure_client_id,
            &self.azure_client_secret,
        ) {
            b = b.with_client_secret_authorization(c, s, t);
        }
        if let Some(e) = &self.azure_endpoint {
            b = b.with_endpoint(e.trim_end_matches('/').to_string());
        }
        let store = b
            .build()
            .map_err(|e| store_error(format!("az://{container}: cannot set up Azure"), e))?;
        let parts = Parts::fixed(
            (self.azure_block_size << 20) as usize,
            self.azure_upload_concurrency as usize,
        );
        let writer = Writer::Azure(self.clone());
        Ok(Bucket::new(Arc::new(store), url, parts, writer))
    }

    /// Starts a block blob upload of `key` into the container at `container`.
    pub async fn begin(
        &self,
        store: Arc<dyn ObjectStore>,
        container: &Url,
        key: &str,
    ) -> anyhow::Result<Box<dyn ObjectUpload>> {
        let url = container.with_key(key);
        let mut attributes = Attributes::new();
        if let Some(t) = &self.azure_access_tier {
            let mut t = t.to_ascii_lowercase();
            t[..1].make_ascii_uppercase();
            attributes.insert(Attribute::StorageClass, t.into());
        }
        let opts = PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let up = store
            .put_multipart_opts(&Path::from(key), opts)
            .await
            .map_err(|e| store_error(format!("starting the upload to {url} failed"), e))?;
        Ok(Box::new(Blocks { up, blocks: 0, url }))
    }
}

struct Blocks {
    up: Box<dyn MultipartUpload>,
    blocks: usize,
    url: String,
}

impl ObjectUpload for Blocks {
    fn part(&mut self, data: Bytes) -> BoxFuture<'static, anyhow::Result<()>> {
        self.blocks += 1;
        if self.blocks > MAX_BLOCKS {
            return Box::pin(async {
                bail!("the blob needs more than 50,000 blocks: raise --azure-block-size")
            });
        }
        let (n, url) = (self.blocks, self.url.clone());
        let f = self.up.put_part(data.into());
        Box::pin(async move {
            f.await
                .map_err(|e| store_error(format!("uploading block {n} of {url} failed"), e))
        })
    }

    fn complete(mut self: Box<Self>) -> BoxFuture<'static, anyhow::Result<()>> {
        Box::pin(async move {
            self.up.complete().await.map_err(|e| {
                store_error(format!("completing the upload to {} failed", self.url), e)
            })?;
            Ok(())
        })
    }

    fn abort(&self) -> BoxFuture<'static, ()> {
        // Nothing to undo: blocks never put into a list are no blob.
        Box::pin(async {})
    }
}
