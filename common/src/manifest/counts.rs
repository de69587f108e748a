//! The records of each of the 4096 partitions, written compactly: space-separated counts in
//! partition order, a run of equal counts as `COUNT*RUN` (a shard's or a partition range's
//! backup is mostly `0*N`).

use crate::record::PARTITIONS;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCounts(Vec<u64>);

impl Default for PartitionCounts {
    fn default() -> Self {
        PartitionCounts(vec![0; PARTITIONS as usize])
    }
}

impl PartitionCounts {
    pub fn from_vec(v: Vec<u64>) -> Result<Self, String> {
        if v.len() != PARTITIONS as usize {
            return Err(format!("{} partition counts, not {PARTITIONS}", v.len()));
        }
        Ok(PartitionCounts(v))
    }

    pub fn add(&mut self, partition: u16, n: u64) {
        self.0[usize::from(partition)] += n;
    }

    pub fn get(&self, partition: u16) -> u64 {
        self.0[usize::from(partition)]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    /// The partitions whose counts differ: (partition, here, there).
    pub fn differences(&self, other: &PartitionCounts) -> Vec<(u16, u64, u64)> {
        (0..PARTITIONS)
            .filter(|&p| self.get(p) != other.get(p))
            .map(|p| (p, self.get(p), other.get(p)))
            .collect()
    }

    fn to_text(&self) -> String {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.0.len() {
            let run = self.0[i..].iter().take_while(|&&c| c == self.0[i]).count();
            out.push(match run {
                1 => self.0[i].to_string(),
                _ => format!("{}*{run}", self.0[i]),
            });
            i += run;
        }
        out.join(" ")
    }

    fn from_text(s: &str) -> Result<Self, String> {
        let mut v = Vec::with_capacity(PARTITIONS as usize);
        for token in s.split_ascii_whitespace() {
            let bad = || format!("bad partition count {token:?}");
            let (count, run) = match token.split_once('*') {
                Some((c, r)) => (c, r.parse::<usize>().map_err(|_| bad())?),
                None => (token, 1),
            };
            let count: u64 = count.parse().map_err(|_| bad())?;
            if run == 0 || run > PARTITIONS as usize - v.len() {
                return Err(format!("partition counts past {PARTITIONS} partitions"));
            }
            v.extend(std::iter::repeat_n(count, run));
        }
        Self::from_vec(v)
    }
}

impl Serialize for PartitionCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for PartitionCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PartitionCounts::from_text(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip() {
        let mut c = PartitionCounts::default();
        assert_eq!(c.to_text(), "0*4096");
        c.add(1, 5);
        c.add(2, 5);
        c.add(4095, 1);
        assert_eq!(c.to_text(), "0 5*2 0*4092 1");
        assert_eq!(PartitionCounts::from_text(&c.to_text()).unwrap(), c);
        assert_eq!(c.total(), 11);
        assert!(PartitionCounts::from_text("0*4095").is_err());
        assert!(PartitionCounts::from_text("0*4097").is_err());
        assert!(PartitionCounts::from_text("x*4096").is_err());
        let mut d = c.clone();
        d.add(2, 1);
        assert_eq!(c.differences(&d), [(2, 5, 6)]);
    }
}
