//! Writing into a catalog and removing from it: local files, or a cloud's objects.

use crate::backup::is_cloud;
use crate::cloud::{Reader, Url};
use anyhow::Context;
use std::path::Path;

/// Where a catalog's objects are written and deleted.
pub struct Place {
    reader: Reader,
    rt: tokio::runtime::Runtime,
}

impl Place {
    pub fn new(reader: Reader) -> anyhow::Result<Place> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Place { reader, rt })
    }

    /// Writes a small object whole (a local file: through a temporary, synced and renamed;
    /// its directory made when missing).
    pub fn put(&self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        if !is_cloud(path) {
            let p = Path::new(path);
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            return as_cli::io::write_atomically(p, bytes, true)
                .with_context(|| format!("cannot write {path}"));
        }
        self.rt.block_on(async {
            let (u, account) = Url::parse(path, false)?;
            let store = self.reader.open(&u, account.as_deref()).await?;
            store
                .put(&u.key, bytes::Bytes::copy_from_slice(bytes))
                .await
                .with_context(|| format!("cannot write {path}"))
        })
    }

    /// Deletes an object; one that is not there is no error.
    pub fn delete(&self, path: &str) -> anyhow::Result<()> {
        if !is_cloud(path) {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove {path}"))
                }
                _ => Ok(()),
            };
        }
        self.rt.block_on(async {
            let (u, account) = Url::parse(path, false)?;
            let store = self.reader.open(&u, account.as_deref()).await?;
            store
                .delete(&u.key)
                .await
                .with_context(|| format!("cannot delete {path}"))
        })
    }

    /// Removes a directory once emptied (a cloud prefix is gone with its last object).
    pub fn remove_dir(&self, path: &str) -> anyhow::Result<()> {
        if is_cloud(path) {
            return Ok(());
        }
        std::fs::remove_dir(path).with_context(|| format!("cannot remove {path}"))
    }
}
