//! The record model shared by every tool: records with raw particles, and backup metadata.
//!
//! Byte fields are `Cow<[u8]>` so that a reader can hand out records that borrow from its frame
//! buffer (no allocation per bin on the hot path) while producers build owned records.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Bytes that are either borrowed from a buffer or owned.
pub type Bytes<'a> = Cow<'a, [u8]>;

/// Aerospike particle types (the server's `AS_PARTICLE_TYPE_*` numbers).
pub mod particle {
    pub const NIL: u8 = 0;
    pub const INTEGER: u8 = 1;
    pub const FLOAT: u8 = 2;
    pub const STRING: u8 = 3;
    pub const BLOB: u8 = 4;
    pub const JAVA_BLOB: u8 = 7;
    pub const CSHARP_BLOB: u8 = 8;
    pub const PYTHON_BLOB: u8 = 9;
    pub const RUBY_BLOB: u8 = 10;
    pub const PHP_BLOB: u8 = 11;
    pub const ERLANG_BLOB: u8 = 12;
    pub const BOOL: u8 = 17;
    pub const HLL: u8 = 18;
    pub const MAP: u8 = 19;
    pub const LIST: u8 = 20;
    pub const GEOJSON: u8 = 23;
}

/// Length of a record digest (RIPEMD-160).
pub const DIGEST_LEN: usize = 20;

/// Number of partitions in an Aerospike namespace.
pub const PARTITIONS: u16 = 4096;

/// A record as the server returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<'a> {
    #[serde(borrow, with = "serde_bytes")]
    pub namespace: Bytes<'a>,
    /// `None` for records in the null set.
    #[serde(borrow, with = "opt_bytes")]
    pub set: Option<Bytes<'a>>,
    #[serde(with = "serde_bytes")]
    pub digest: [u8; DIGEST_LEN],
    /// Present only when the record was written with "send key".
    #[serde(borrow)]
    pub key: Option<Value<'a>>,
    pub generation: u16,
    /// Absolute expiry in seconds since 2010-01-01T00:00:00Z; 0 = never expires.
    pub expiry: u32,
    #[serde(borrow)]
    pub bins: Vec<Bin<'a>>,
}

/// A typed particle: the server's particle type and its raw bytes (integers and doubles are 8 bytes
/// big-endian, booleans 1 byte, lists and maps the server's msgpack).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value<'a> {
    pub ptype: u8,
    #[serde(borrow, with = "serde_bytes")]
    pub data: Bytes<'a>,
}

/// A bin: name bytes and its particle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bin<'a> {
    #[serde(borrow, with = "serde_bytes")]
    pub name: Bytes<'a>,
    #[serde(borrow)]
    pub value: Value<'a>,
}

impl<'a> Value<'a> {
    pub fn new(ptype: u8, data: impl Into<Bytes<'a>>) -> Self {
        Value {
            ptype,
            data: data.into(),
        }
    }
    pub fn int(v: i64) -> Value<'static> {
        Value::new(particle::INTEGER, v.to_be_bytes().to_vec())
    }
    pub fn double(v: f64) -> Value<'static> {
        Value::new(particle::FLOAT, v.to_bits().to_be_bytes().to_vec())
    }
    pub fn bool(v: bool) -> Value<'static> {
        Value::new(particle::BOOL, vec![v as u8])
    }
    /// The 8-byte big-endian payload of an integer or double particle, if it has that size.
    pub fn as_u64(&self) -> Option<u64> {
        let b: [u8; 8] = self.data.as_ref().try_into().ok()?;
        Some(u64::from_be_bytes(b))
    }
    pub fn into_owned(self) -> Value<'static> {
        Value {
            ptype: self.ptype,
            data: Cow::Owned(self.data.into_owned()),
        }
    }
}

impl Bin<'_> {
    pub fn into_owned(self) -> Bin<'static> {
        Bin {
            name: Cow::Owned(self.name.into_owned()),
            value: self.value.into_owned(),
        }
    }
}

impl Record<'_> {
    /// The partition this record belongs to.
    pub fn partition(&self) -> u16 {
        partition_of(&self.digest)
    }
    pub fn into_owned(self) -> Record<'static> {
        Record {
            namespace: Cow::Owned(self.namespace.into_owned()),
            set: self.set.map(|s| Cow::Owned(s.into_owned())),
            digest: self.digest,
            key: self.key.map(Value::into_owned),
            generation: self.generation,
            expiry: self.expiry,
            bins: self.bins.into_iter().map(Bin::into_owned).collect(),
        }
    }
}

/// Partition id of a digest, as the server computes it.
pub fn partition_of(digest: &[u8; DIGEST_LEN]) -> u16 {
    u16::from_le_bytes([digest[0], digest[1]]) & (PARTITIONS - 1)
}

/// What a secondary index collects from its bin (`N` plain value, `L` list elements, `K` map keys,
/// `V` map values): the letters of the ASB format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexType {
    Default,
    List,
    MapKeys,
    MapValues,
}

/// The indexed data type (`N` numeric, `S` string, `G` geo, `B` blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexDataType {
    Numeric,
    String,
    Geo,
    Blob,
}

impl IndexType {
    pub const fn letter(self) -> u8 {
        match self {
            IndexType::Default => b'N',
            IndexType::List => b'L',
            IndexType::MapKeys => b'K',
            IndexType::MapValues => b'V',
        }
    }
    pub fn from_letter(c: u8) -> Option<Self> {
        Some(match c {
            b'N' => IndexType::Default,
            b'L' => IndexType::List,
            b'K' => IndexType::MapKeys,
            b'V' => IndexType::MapValues,
            _ => return None,
        })
    }
}

impl IndexDataType {
    pub const fn letter(self) -> u8 {
        match self {
            IndexDataType::Numeric => b'N',
            IndexDataType::String => b'S',
            IndexDataType::Geo => b'G',
            IndexDataType::Blob => b'B',
        }
    }
    pub fn from_letter(c: u8) -> Option<Self> {
        Some(match c {
            b'N' => IndexDataType::Numeric,
            b'S' => IndexDataType::String,
            b'G' => IndexDataType::Geo,
            b'B' => IndexDataType::Blob,
            _ => return None,
        })
    }
}

/// A secondary-index definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SIndex {
    #[serde(with = "serde_bytes")]
    pub namespace: Vec<u8>,
    /// `None` when the index is not scoped to a set.
    #[serde(with = "opt_bytes")]
    pub set: Option<Vec<u8>>,
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    pub index_type: IndexType,
    #[serde(with = "serde_bytes")]
    pub bin: Vec<u8>,
    pub data_type: IndexDataType,
    /// Base64 of the packed CDT context, exactly as the server lists it.
    #[serde(with = "opt_bytes")]
    pub context: Option<Vec<u8>>,
    /// Base64 of the packed expression of an expression index (absctl's `* e` lines, ASB 3.2).
    /// Written only when there is one, so that the readers of streams without it (older tools)
    /// read every other index as before.
    #[serde(default, with = "opt_bytes", skip_serializing_if = "Option::is_none")]
    pub expression: Option<Vec<u8>>,
}

/// A UDF module. `kind` is the ASB letter of its language; only `L` (Lua) exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Udf<'a> {
    pub kind: u8,
    #[serde(borrow, with = "serde_bytes")]
    pub name: Bytes<'a>,
    #[serde(borrow, with = "serde_bytes")]
    pub content: Bytes<'a>,
}

impl Udf<'_> {
    pub fn into_owned(self) -> Udf<'static> {
        Udf {
            kind: self.kind,
            name: Cow::Owned(self.name.into_owned()),
            content: Cow::Owned(self.content.into_owned()),
        }
    }
}

/// serde helpers for `Option` of byte fields, kept as msgpack bin (not an array of integers).
mod opt_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::borrow::Cow;

    pub trait FromCow<'de>: Sized {
        fn from_cow(c: Option<Cow<'de, [u8]>>) -> Self;
    }
    impl<'de> FromCow<'de> for Option<Vec<u8>> {
        fn from_cow(c: Option<Cow<'de, [u8]>>) -> Self {
            c.map(Cow::into_owned)
        }
    }
    impl<'de: 'a, 'a> FromCow<'de> for Option<Cow<'a, [u8]>> {
        fn from_cow(c: Option<Cow<'de, [u8]>>) -> Self {
            c
        }
    }

    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(serde_bytes::Bytes::new(b.as_ref())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: FromCow<'de>>(d: D) -> Result<T, D::Error> {
        #[derive(Deserialize)]
        struct Wrap<'a>(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>);
        let v: Option<Wrap<'de>> = Deserialize::deserialize(d)?;
        Ok(T::from_cow(v.map(|w| w.0)))
    }
}
