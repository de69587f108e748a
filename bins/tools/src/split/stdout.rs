//! `-o -`: the one file on standard output, through the filter, hashed on its way for the
//! manifest (`--manifest PATH`). Nothing to resume from: a pipe cannot be cut back.

use super::job::Landed;
use super::landing::{Arrival, Landing};
use as_common::manifest::FileDigest;
use as_common::state::{BackupState, Kind};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct Stdout;

impl Landing for Stdout {
    fn kind(&self) -> Kind {
        Kind::File
    }

    fn default_state(&self) -> Option<PathBuf> {
        None
    }

    fn fresh(&mut self, _remove: bool, _shard: bool) -> anyhow::Result<()> {
        Ok(())
    }

    fn resume(&mut self, _st: &mut BackupState) -> anyhow::Result<VecDeque<u64>> {
        anyhow::bail!("a backup written to standard output cannot be resumed")
    }

    fn name(&self, _n: u64) -> String {
        "standard output".into()
    }

    fn start(
        &self,
        _name: &str,
        filter: &mut Command,
        mac_key: Option<[u8; 32]>,
    ) -> anyhow::Result<Box<dyn Arrival>> {
        filter.stdout(Stdio::piped());
        Ok(Box::new(Piped {
            pump: None,
            pumped: Arc::new(AtomicU64::new(0)),
            mac_key,
        }))
    }
}

struct Piped {
    pump: Option<JoinHandle<anyhow::Result<(std::io::Stdout, FileDigest)>>>,
    pumped: Arc<AtomicU64>,
    mac_key: Option<[u8; 32]>,
}

impl Arrival for Piped {
    fn attach(&mut self, filter: &mut Child) -> anyhow::Result<()> {
        let out = filter.stdout.take().expect("piped");
        self.pump = Some(super::sink::spawn_pump(
            out,
            std::io::stdout(),
            self.pumped.clone(),
            "standard output".into(),
            self.mac_key,
        ));
        Ok(())
    }

    fn landed(&self) -> u64 {
        self.pumped.load(Ordering::Relaxed)
    }

    fn cheap_to_measure(&self) -> bool {
        true
    }

    fn failure(&mut self) -> Option<anyhow::Error> {
        match self.pump.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Some(e),
            _ => None,
        }
    }

    fn finish(&mut self, written: anyhow::Result<()>) -> anyhow::Result<Landed> {
        written?;
        let (_, digest) = self
            .pump
            .take()
            .expect("attached")
            .join()
            .map_err(|_| anyhow::anyhow!("the output thread panicked"))??;
        Ok(Landed {
            bytes: digest.size,
            file_len: None,
            digest: Some(digest),
        })
    }

    fn abort(&mut self) {
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}
