//! One group compared: its backup records in a map, the cluster's scans of the three windows
//! laid over it (a later window wins: a record updated between two scans counts as updated),
//! then every record put in its class.

use super::report::{Class, Tally};
use super::scan::When;
use super::spill::{bins_hash, Entry};
use as_common::record::{Record, DIGEST_LEN};
use std::collections::HashMap;

/// What the cluster showed of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Not,
    /// Before the backup, as in the backup (or, not in it, missing).
    Same,
    Generation,
    Bins,
    During,
    Since,
}

struct Slot {
    /// In the backup (else only on the cluster).
    backed_up: bool,
    generation: u16,
    set: u16,
    hash: [u8; 16],
    seen: Seen,
}

pub struct Group {
    map: HashMap<[u8; DIGEST_LEN], Slot>,
    deep: bool,
}

impl Group {
    /// The group's backup records; a digest the backup holds twice is a defect of its own.
    pub fn new(entries: Vec<Entry>, deep: bool, tally: &mut Tally) -> anyhow::Result<Group> {
        let mut map = HashMap::with_capacity(entries.len());
        for e in entries {
            let slot = Slot {
                backed_up: true,
                generation: e.generation,
                set: e.set,
                hash: e.hash,
                seen: Seen::Not,
            };
            if map.insert(e.digest, slot).is_some() {
                tally.add(Class::Duplicate, e.set, &e.digest)?;
            }
        }
        Ok(Group { map, deep })
    }

    /// A record of the cluster's scan of window `when`; `set` its set's id.
    pub fn seen(&mut self, when: When, r: &Record, set: u16) {
        let seen = match when {
            When::During => Seen::During,
            When::Since => Seen::Since,
            When::Before => match self.map.get(&r.digest) {
                None => Seen::Same,
                Some(s) if s.generation != r.generation => Seen::Generation,
                Some(s) if self.deep && s.hash != bins_hash(r) => Seen::Bins,
                Some(_) => Seen::Same,
            },
        };
        self.map
            .entry(r.digest)
            .and_modify(|s| s.seen = seen)
            .or_insert(Slot {
                backed_up: false,
                generation: r.generation,
                set,
                hash: [0; 16],
                seen,
            });
    }

    /// Every record in its class; `max_records`: the backup holds only some of the records.
    pub fn finish(self, max_records: bool, tally: &mut Tally) -> anyhow::Result<()> {
        let mut out: Vec<(Class, u16, [u8; DIGEST_LEN])> = self
            .map
            .into_iter()
            .map(|(d, s)| {
                let class = match (s.backed_up, s.seen) {
                    (true, Seen::Not) => Class::Gone,
                    (true, Seen::Same) => Class::Matched,
                    (true, Seen::Generation) => Class::Generation,
                    (true, Seen::Bins) => Class::Bins,
                    (_, Seen::During) => Class::During,
                    (true, Seen::Since) => Class::Updated,
                    (false, Seen::Since) => Class::Created,
                    (false, _) if max_records => Class::NotTaken,
                    (false, _) => Class::Missing,
                };
                (class, s.set, d)
            })
            .collect();
        // Lists in digest order, whatever the map's.
        out.sort_unstable_by_key(|a| a.2);
        for (class, set, d) in out {
            tally.add(class, set, &d)?;
        }
        Ok(())
    }
}
