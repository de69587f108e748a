//! The test server's data: namespaces of 4096 partitions, each a digest-ordered map of records,
//! plus secondary-index and UDF definitions.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub const PARTITIONS: usize = 4096;
/// 2010-01-01T00:00:00Z in Unix seconds: the server's epoch for void times.
pub const CITRUSLEAF_EPOCH: u64 = 1_262_304_000;

/// A stored bin: name, particle type, raw particle bytes.
pub type StoredBin = (Vec<u8>, u8, Vec<u8>);

#[derive(Debug, Clone)]
pub struct Stored {
    /// The user key (particle type, bytes), when written with "send key".
    pub key: Option<(u8, Vec<u8>)>,
    pub set: Vec<u8>,
    pub generation: u16,
    /// Absolute expiry in seconds since 2010; 0 = never.
    pub void_time: u32,
    /// Last update time, nanoseconds since the Unix epoch.
    pub lut_ns: u64,
    pub bins: Vec<StoredBin>,
}

impl Stored {
    pub fn expired(&self, now_cl: u32) -> bool {
        self.void_time != 0 && self.void_time <= now_cl
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub set: Option<String>,
    pub bin: String,
    /// Server spelling: numeric, string, geo2dsphere, blob.
    pub data_type: String,
    /// default, list, mapkeys, mapvalues.
    pub index_type: String,
    /// Base64 CDT context, when the index is on a nested element.
    pub context: Option<String>,
}

pub struct Namespace {
    pub name: String,
    pub parts: Vec<Mutex<BTreeMap<[u8; 20], Stored>>>,
    pub sindexes: Mutex<Vec<IndexDef>>,
}

impl Namespace {
    pub fn new(name: &str) -> Self {
        Namespace {
            name: name.to_string(),
            parts: (0..PARTITIONS)
                .map(|_| Mutex::new(BTreeMap::new()))
                .collect(),
            sindexes: Mutex::new(Vec::new()),
        }
    }

    /// (set name, live object count) for every set with records.
    pub fn set_counts(&self) -> BTreeMap<Vec<u8>, u64> {
        let now = now_cl();
        let mut m = BTreeMap::new();
        for p in &self.parts {
            for r in p.lock().unwrap().values() {
                if !r.expired(now) {
                    *m.entry(r.set.clone()).or_insert(0) += 1;
                }
            }
        }
        m
    }
}

pub fn partition_of(digest: &[u8; 20]) -> usize {
    (u16::from_le_bytes([digest[0], digest[1]]) as usize) & (PARTITIONS - 1)
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Now in seconds since 2010.
pub fn now_cl() -> u32 {
    (now_ns() / 1_000_000_000).saturating_sub(CITRUSLEAF_EPOCH) as u32
}
