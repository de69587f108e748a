//! An inventory: the digests (and generations) of every record of a backup's scope at the
//! backup's start, taken by a scan without bins. It is what lets a restore to a point in time
//! leave out the records that no longer existed then, which the ASB format cannot say (it has
//! no tombstones), and what tells two backups' inserts, updates and deletes apart.
//!
//! Stored as one zstd frame of: the line `as-tools inventory 1\n`, the count (u64, big-endian),
//! then each record's digest (20 bytes) and generation (u16, big-endian), sorted by digest, so
//! the same records always make the same bytes (and the same SHA-256 in the manifest).

use crate::record::DIGEST_LEN;
use std::io::{self, Read, Write};

/// The inventory's name beside a backup's files: `PREFIX.inventory`.
pub const SUFFIX: &str = ".inventory";

const MAGIC: &[u8] = b"as-tools inventory 1\n";
const ENTRY: usize = DIGEST_LEN + 2;

/// The records of a scope at one time, sorted by digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    entries: Vec<([u8; DIGEST_LEN], u16)>,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("not an inventory (it does not start as one)")]
    Foreign,
    #[error("the inventory is cut short: {0} of {1} records")]
    Truncated(u64, u64),
    #[error("the inventory holds more than it says")]
    Trailing,
    #[error("the inventory is not sorted or repeats a digest")]
    Unsorted,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What changed between two inventories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Digests in the newer only.
    pub inserted: Vec<[u8; DIGEST_LEN]>,
    /// In both, with another generation (a touch counts: it is a write).
    pub updated: Vec<[u8; DIGEST_LEN]>,
    /// In the older only (deleted, or expired).
    pub deleted: Vec<[u8; DIGEST_LEN]>,
}

impl Inventory {
    /// From records in any order; a digest seen twice (a partition retried on another node)
    /// keeps the higher generation.
    pub fn from_entries(mut entries: Vec<([u8; DIGEST_LEN], u16)>) -> Inventory {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        entries.dedup_by(|later, kept| later.0 == kept.0);
        Inventory { entries }
    }

    /// The inventories of the shards of one backup, as one.
    pub fn merge(parts: Vec<Inventory>) -> Inventory {
        Inventory::from_entries(parts.into_iter().flat_map(|p| p.entries).collect())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, digest: &[u8; DIGEST_LEN]) -> bool {
        self.entries.binary_search_by(|e| e.0.cmp(digest)).is_ok()
    }

    pub fn digests(&self) -> impl Iterator<Item = &[u8; DIGEST_LEN]> {
        self.entries.iter().map(|e| &e.0)
    }

    /// Writes the stored form (zstd level 3).
    pub fn write_to(&self, out: impl Write) -> io::Result<()> {
        let mut z = zstd::Encoder::new(out, 3)?;
        z.include_checksum(true)?;
        z.write_all(MAGIC)?;
        z.write_all(&(self.entries.len() as u64).to_be_bytes())?;
        for (d, g) in &self.entries {
            z.write_all(d)?;
            z.write_all(&g.to_be_bytes())?;
        }
        z.finish()?.flush()
    }

    /// Reads the stored form, refusing anything cut short, foreign or out of order.
    pub fn read_from(input: impl Read) -> Result<Inventory, InventoryError> {
        let mut z = zstd::Decoder::new(input).map_err(|_| InventoryError::Foreign)?;
        let mut head = [0u8; MAGIC.len() + 8];
        if z.read_exact(&mut head).is_err() || &head[..MAGIC.len()] != MAGIC {
            return Err(InventoryError::Foreign);
        }
        let count = u64::from_be_bytes(head[MAGIC.len()..].try_into().expect("8 bytes"));
        let mut entries = Vec::with_capacity(count.min(1 << 24) as usize);
        let mut e = [0u8; ENTRY];
        for i in 0..count {
            match z.read_exact(&mut e) {
                Ok(()) => {}
                Err(x) if x.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(InventoryError::Truncated(i, count))
                }
                Err(x) => return Err(x.into()),
            }
            let d: [u8; DIGEST_LEN] = e[..DIGEST_LEN].try_into().expect("20 bytes");
            if entries
                .last()
                .is_some_and(|l: &([u8; DIGEST_LEN], u16)| l.0 >= d)
            {
                return Err(InventoryError::Unsorted);
            }
            entries.push((d, u16::from_be_bytes([e[DIGEST_LEN], e[DIGEST_LEN + 1]])));
        }
        if z.read(&mut [0u8; 1])? != 0 {
            return Err(InventoryError::Trailing);
        }
        Ok(Inventory { entries })
    }

    /// What changed from `self` (older) to `newer`.
    pub fn changes(&self, newer: &Inventory) -> Changes {
        let mut c = Changes::default();
        let (mut a, mut b) = (
            self.entries.iter().peekable(),
            newer.entries.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    if x.1 != y.1 {
                        c.updated.push(x.0);
                    }
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    c.deleted.push(x.0);
                    a.next();
                }
                (Some(_), Some(y)) => {
                    c.inserted.push(y.0);
                    b.next();
                }
                (Some(x), None) => {
                    c.deleted.push(x.0);
                    a.next();
                }
                (None, Some(y)) => {
                    c.inserted.push(y.0);
                    b.next();
                }
                (None, None) => return c,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> [u8; DIGEST_LEN] {
        [n; DIGEST_LEN]
    }

    #[test]
    fn stored_form_round_trips_and_refuses_damage() {
        let inv = Inventory::from_entries(vec![(d(3), 1), (d(1), 4), (d(3), 2), (d(2), 1)]);
        assert_eq!(inv.len(), 3, "the repeated digest kept once");
        let mut bytes = Vec::new();
        inv.write_to(&mut bytes).unwrap();
        let back = Inventory::read_from(&bytes[..]).unwrap();
        assert_eq!(back, inv);
        assert!(back.contains(&d(3)) && !back.contains(&d(4)));
        assert_eq!(back.entries[2], (d(3), 2), "the higher generation kept");
        // The same records, the same bytes.
        let mut again = Vec::new();
        Inventory::from_entries(vec![(d(2), 1), (d(3), 2), (d(1), 4)])
            .write_to(&mut again)
            .unwrap();
        assert_eq!(again, bytes);
        for cut in [1, 3, 10] {
            let r = Inventory::read_from(&bytes[..bytes.len() - cut]);
            assert!(r.is_err(), "cut {cut}: {r:?}");
        }
        assert!(matches!(
            Inventory::read_from(&b"plain text"[..]),
            Err(InventoryError::Foreign)
        ));
        // A count that says fewer than there are.
        let mut raw = MAGIC.to_vec();
        raw.extend_from_slice(&1u64.to_be_bytes());
        raw.extend_from_slice(&[1; 2 * ENTRY]);
        let z = zstd::encode_all(&raw[..], 3).unwrap();
        assert!(matches!(
            Inventory::read_from(&z[..]),
            Err(InventoryError::Trailing)
        ));
    }

    #[test]
    fn changes_between_two() {
        let old = Inventory::from_entries(vec![(d(1), 1), (d(2), 1), (d(4), 7)]);
        let new = Inventory::from_entries(vec![(d(2), 2), (d(3), 1), (d(4), 7), (d(5), 1)]);
        let c = old.changes(&new);
        assert_eq!(c.inserted, vec![d(3), d(5)]);
        assert_eq!(c.updated, vec![d(2)]);
        assert_eq!(c.deleted, vec![d(1)]);
        assert_eq!(new.changes(&new), Changes::default());
    }
}
