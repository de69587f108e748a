//! The scope of a backup: what a scan covers. Its text form is carried in the stream header
//! and kept in the backup's state, and a resume must describe the same scope: the text is
//! defined here, once.

use crate::client::filter::PartFilter;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// As data (a manifest's `scope`): every field by name, partition filters as `{"begin",
/// "count"}` or `{"after": DIGEST}`, the shard as `"K/N"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scope {
    pub namespace: String,
    /// Only these sets (none: all).
    pub sets: Vec<String>,
    /// Only these bins (none: all).
    pub bins: Vec<String>,
    /// Partition filters (none: all 4096 partitions).
    #[serde(with = "filters")]
    pub partitions: Vec<PartFilter>,
    /// The times as given (`-a`, `-b`): the same text resumes the same scope.
    pub modified_after: Option<String>,
    pub modified_before: Option<String>,
    /// The same times as the scan resolved them (nanoseconds since the Unix epoch): what a
    /// later check of the backup filters on (a time of day given alone meant that day). Data
    /// only, not in the text form.
    pub modified_after_ns: Option<i64>,
    pub modified_before_ns: Option<i64>,
    pub no_ttl_only: bool,
    pub no_bins: bool,
    /// A filter expression applied to every record (base64 of the packed expression).
    pub filter_exp: Option<String>,
    /// 0: all records.
    pub max_records: u64,
    /// One shard of a backup spread over hosts (`--shard K/N`): its partitions are in
    /// `partitions`, the scope of the whole backup is the rest.
    #[serde(with = "shard_text")]
    pub shard: Option<Shard>,
}

/// Shard K of N (1 <= K <= N <= 4096): the K-th of N contiguous ranges of the 4096 partitions,
/// as even as whole partitions allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard {s:?}: expected K/N with 1 <= K <= N <= 4096");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n || n > 4096 {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// The first partition and how many.
    pub fn range(self) -> (u16, u16) {
        let at = |i: u32| (i * 4096 / self.n) as u16;
        (at(self.k - 1), at(self.k) - at(self.k - 1))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl Scope {
    /// The scope of the whole backup a shard belongs to (itself when not a shard).
    pub fn whole(&self) -> Scope {
        match self.shard {
            Some(_) => Scope {
                partitions: Vec::new(),
                shard: None,
                ..self.clone()
            },
            None => self.clone(),
        }
    }
}

impl Scope {
    /// What the backups of one catalog chain share: the whole scope without its time window
    /// (each incremental has a window of its own).
    pub fn lineage(&self) -> Scope {
        Scope {
            modified_after: None,
            modified_before: None,
            modified_after_ns: None,
            modified_before_ns: None,
            ..self.whole()
        }
    }
}

impl fmt::Display for Scope {
    /// `namespace=NS [sets=A,B] [bins=X,Y] [partitions=0-10,DIGEST] [modified-after=T]
    /// [modified-before=T] [no-ttl-only] [no-bins] [max-records=N]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "namespace={}", self.namespace)?;
        if !self.sets.is_empty() {
            write!(f, " sets={}", self.sets.join(","))?;
        }
        if !self.bins.is_empty() {
            write!(f, " bins={}", self.bins.join(","))?;
        }
        if !self.partitions.is_empty() {
            let list: Vec<String> = self
                .partitions
                .iter()
                .map(|p| match p {
                    PartFilter::Range { begin, count } => format!("{begin}-{count}"),
                    PartFilter::After(d) => base64_simd::STANDARD.encode_to_string(d),
                })
                .collect();
            write!(f, " partitions={}", list.join(","))?;
        }
        if let Some(t) = &self.modified_after {
            write!(f, " modified-after={t}")?;
        }
        if let Some(t) = &self.modified_before {
            write!(f, " modified-before={t}")?;
        }
        if self.no_ttl_only {
            f.write_str(" no-ttl-only")?;
        }
        if self.no_bins {
            f.write_str(" no-bins")?;
        }
        if let Some(e) = &self.filter_exp {
            write!(f, " filter-exp={e}")?;
        }
        if self.max_records > 0 {
            write!(f, " max-records={}", self.max_records)?;
        }
        if let Some(sh) = self.shard {
            write!(f, " shard={sh}")?;
        }
        Ok(())
    }
}

mod filters {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Data {
        Range { begin: u16, count: u16 },
        After { after: String },
    }

    /// A binary form (a stream header's MessagePack) by position: (begin, count, digest).
    type Binary = (u16, u16, Option<serde_bytes::ByteBuf>);

    pub fn serialize<S: Serializer>(v: &[PartFilter], s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            let data: Vec<Binary> = v
                .iter()
                .map(|p| match *p {
                    PartFilter::Range { begin, count } => (begin, count, None),
                    PartFilter::After(d) => (0, 0, Some(serde_bytes::ByteBuf::from(d.to_vec()))),
                })
                .collect();
            return data.serialize(s);
        }
        let data: Vec<Data> = v
            .iter()
            .map(|p| match *p {
                PartFilter::Range { begin, count } => Data::Range { begin, count },
                PartFilter::After(d) => Data::After {
                    after: base64_simd::STANDARD.encode_to_string(d),
                },
            })
            .collect();
        data.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PartFilter>, D::Error> {
        let digest = |b: Vec<u8>| {
            b.try_into()
                .map(PartFilter::After)
                .map_err(|_| serde::de::Error::custom("a digest of another length"))
        };
        if !d.is_human_readable() {
            return Vec::<Binary>::deserialize(d)?
                .into_iter()
                .map(|(begin, count, after)| match after {
                    Some(b) => digest(b.into_vec()),
                    None => Ok(PartFilter::Range { begin, count }),
                })
                .collect();
        }
        Vec::<Data>::deserialize(d)?
            .into_iter()
            .map(|x| match x {
                Data::Range { begin, count } => Ok(PartFilter::Range { begin, count }),
                Data::After { after } => match base64_simd::STANDARD.decode_to_vec(&after) {
                    Ok(b) => digest(b),
                    Err(_) => Err(serde::de::Error::custom(format!("bad digest {after:?}"))),
                },
            })
            .collect()
    }
}

mod shard_text {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Shard>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|sh| sh.to_string()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Shard>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| Shard::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form() {
        let s = Scope {
            namespace: "test".into(),
            sets: vec!["a".into(), "b".into()],
            partitions: vec![PartFilter::Range {
                begin: 0,
                count: 10,
            }],
            no_bins: true,
            max_records: 5,
            ..Default::default()
        };
        assert_eq!(
            s.to_string(),
            "namespace=test sets=a,b partitions=0-10 no-bins max-records=5"
        );
        let data = Scope {
            partitions: vec![s.partitions[0], PartFilter::After([3; 20])],
            shard: Some(Shard { k: 1, n: 2 }),
            ..s.clone()
        };
        let json = serde_json::to_string(&data).unwrap();
        assert!(json.contains(r#""shard":"1/2""#) && json.contains(r#"{"begin":0,"count":10}"#));
        assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), data);
        let bin = rmp_serde::to_vec(&data).unwrap();
        assert_eq!(rmp_serde::from_slice::<Scope>(&bin).unwrap(), data);
    }

    #[test]
    fn shards_cover_every_partition_once() {
        for n in [1, 2, 3, 4, 7, 100, 4096] {
            let mut next = 0u32;
            for k in 1..=n {
                let (b, c) = Shard { k, n }.range();
                assert_eq!(u32::from(b), next, "{k}/{n}");
                assert!(c >= 1 && u32::from(c) <= 4096 / n + 1);
                next += u32::from(c);
            }
            assert_eq!(next, 4096);
        }
        assert_eq!(Shard::parse("2/4").unwrap().range(), (1024, 1024));
        for bad in ["0/4", "5/4", "1/0", "1/4097", "x/4", "4"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
