//! `-o -`: the one file on standard output, through the filter, hashed on its way for the
//! manifest (`--manifest PATH`). Nothing to resume from: a pipe cannot be cut back.

use super::job::Landed;
use super::landing::{Arrival, Landing, Output};
use super::sink::Pump;
use as_common::state::{BackupState, Kind};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Child;

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
        mac_key: Option<[u8; 32]>,
    ) -> anyhow::Result<(Output, Box<dyn Arrival>)> {
        let arrival = Box::new(Piped {
            pump: Pump::idle(),
            mac_key,
        });
        Ok((Output::Piped, arrival))
    }
}

struct Piped {
    pump: Pump<std::io::Stdout>,
    mac_key: Option<[u8; 32]>,
}

impl Arrival for Piped {
    fn attach(&mut self, filter: &mut Child) -> anyhow::Result<()> {
        let out = filter.stdout.take().expect("piped");
        let name = "standard output".to_string();
        self.pump.start(out, std::io::stdout(), name, self.mac_key);
        Ok(())
    }

    fn landed(&mut self) -> u64 {
        self.pump.landed()
    }

    fn cheap_to_measure(&self) -> bool {
        true
    }

    fn failure(&mut self) -> Option<anyhow::Error> {
        self.pump.failure()
    }

    fn finish(&mut self, written: anyhow::Result<()>) -> anyhow::Result<Landed> {
        written?;
        let (_, digest) = self.pump.finish()?;
        Ok(Landed {
            bytes: digest.size,
            file_len: None,
            digest: Some(digest),
        })
    }

    fn abort(&mut self) {
        self.pump.abandon();
    }
}
