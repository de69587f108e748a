//! `as-verify --cluster`: the backup compared, record by record, with its scope on the cluster.

use crate::backup::Layers;
use as_common::backup::BackupSet;

/// Against the cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Also compare the backup with the cluster it came from.
    #[arg(long)]
    pub cluster: bool,
}

pub fn verify(_args: &ClusterArgs, _set: &BackupSet, _layers: &Layers) -> anyhow::Result<()> {
    anyhow::bail!("--cluster is not built yet")
}
