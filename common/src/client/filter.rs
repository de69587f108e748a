//! Scan scope as asbackup takes it: partition filters (`-X`, `-D`) split into jobs, and the
//! filter expressions for several sets, modification times and `--no-ttl-only`.

use crate::client::InvalidOption;
use crate::record::{partition_of, DIGEST_LEN, PARTITIONS};
use base64_simd::STANDARD as B64;

/// A partition to scan, and the digest to resume after (records after it only).
pub type Work = (u16, Option<[u8; DIGEST_LEN]>);

/// One partition filter: a range of partitions, or the records after a digest in its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFilter {
    Range { begin: u16, count: u16 },
    After([u8; DIGEST_LEN]),
}

impl PartFilter {
    pub fn begin(&self) -> u16 {
        match self {
            PartFilter::Range { begin, .. } => *begin,
            PartFilter::After(d) => partition_of(d),
        }
    }
    pub fn count(&self) -> u16 {
        match self {
            PartFilter::Range { count, .. } => *count,
            PartFilter::After(_) => 1,
        }
    }
    /// (partition, resume after this digest) for every partition of the filter.
    pub fn work(&self) -> Vec<Work> {
        match self {
            PartFilter::Range { begin, count } => {
                (*begin..begin + count).map(|p| (p, None)).collect()
            }
            PartFilter::After(d) => vec![(partition_of(d), Some(*d))],
        }
    }
}

fn parse_digest(s: &str) -> Result<[u8; DIGEST_LEN], String> {
    B64.decode_to_vec(s.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format!("invalid digest {s:?}: expected base64 of 20 bytes"))
}

/// `-X/--partition-list`: `begin[-count]` items and base64 digests, sorted, overlaps refused.
pub fn parse_partition_list(s: &str) -> Result<Vec<PartFilter>, InvalidOption> {
    parse_partition_list_msg(s).map_err(InvalidOption)
}

fn parse_partition_list_msg(s: &str) -> Result<Vec<PartFilter>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("empty item in the partition list".into());
        }
        // A digest is 28 base64 characters; a range is digits.
        if item.bytes().all(|c| c.is_ascii_digit() || c == b'-') {
            let (b, c) = item.split_once('-').unwrap_or((item, "1"));
            let begin: u16 = b.parse().map_err(|_| format!("invalid partition {b:?}"))?;
            let count: u16 = c
                .parse()
                .map_err(|_| format!("invalid partition count {c:?}"))?;
            if begin >= PARTITIONS {
                return Err(format!("partition {begin} is out of range (0 to 4095)"));
            }
            if count == 0 || begin as u32 + count as u32 > PARTITIONS as u32 {
                return Err(format!(
                    "partition range {item} goes past partition 4095 (or is empty)"
                ));
            }
            out.push(PartFilter::Range { begin, count });
        } else {
            out.push(PartFilter::After(parse_digest(item)?));
        }
    }
    out.sort_by_key(|f| f.begin());
    for w in out.windows(2) {
        if w[0].begin() as u32 + w[0].count() as u32 > w[1].begin() as u32 {
            return Err(format!(
                "partition filters overlap (at partition {})",
                w[1].begin()
            ));
        }
    }
    Ok(out)
}

/// `-D/--after-digest`: the records after the digest in its partition, and all later partitions.
pub fn after_digest(s: &str) -> Result<Vec<PartFilter>, InvalidOption> {
    after_digest_msg(s).map_err(InvalidOption)
}

fn after_digest_msg(s: &str) -> Result<Vec<PartFilter>, String> {
    let d = parse_digest(s)?;
    let p = partition_of(&d);
    let mut v = vec![PartFilter::After(d)];
    if p + 1 < PARTITIONS {
        v.push(PartFilter::Range {
            begin: p + 1,
            count: PARTITIONS - p - 1,
        });
    }
    Ok(v)
}

/// Jobs as asbackup makes them: with at most one filter the range is cut into `parallel`
/// contiguous pieces of nearly equal size; with several filters each filter is a job.
pub fn jobs(filters: &[PartFilter], parallel: usize) -> Vec<Vec<Work>> {
    let all = PartFilter::Range {
        begin: 0,
        count: PARTITIONS,
    };
    match filters {
        [] | [PartFilter::Range { .. }] => {
            let f = filters.first().copied().unwrap_or(all);
            let (begin, count) = (f.begin() as usize, f.count() as usize);
            let n = parallel.clamp(1, count);
            (0..n)
                .map(|i| {
                    let lo = begin + count * i / n;
                    let hi = begin + count * (i + 1) / n;
                    (lo as u16..hi as u16).map(|p| (p, None)).collect()
                })
                .collect()
        }
        _ => filters.iter().map(PartFilter::work).collect(),
    }
}

/// Expression builders (MessagePack `[op, args...]`, strings with a particle-type byte).
pub mod exp {
    use rmp::encode;

    const EQ: i64 = 1;
    const GE: i64 = 4;
    const LT: i64 = 5;
    const AND: i64 = 16;
    const OR: i64 = 17;
    const LAST_UPDATE: i64 = 66;
    const TTL: i64 = 69;
    const SET_NAME: i64 = 70;

    fn cmd(op: i64) -> Vec<u8> {
        let mut v = Vec::new();
        encode::write_array_len(&mut v, 1).unwrap();
        encode::write_sint(&mut v, op).unwrap();
        v
    }

    fn call(op: i64, args: &[Vec<u8>]) -> Vec<u8> {
        let mut v = Vec::new();
        encode::write_array_len(&mut v, 1 + args.len() as u32).unwrap();
        encode::write_sint(&mut v, op).unwrap();
        for a in args {
            v.extend_from_slice(a);
        }
        v
    }

    fn int(i: i64) -> Vec<u8> {
        let mut v = Vec::new();
        encode::write_sint(&mut v, i).unwrap();
        v
    }

    fn string(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode::write_str_len(&mut v, s.len() as u32 + 1).unwrap();
        v.push(crate::record::particle::STRING);
        v.extend_from_slice(s);
        v
    }

    /// set name is one of `sets`.
    pub fn set_in(sets: &[String]) -> Vec<u8> {
        let eqs: Vec<Vec<u8>> = sets
            .iter()
            .map(|s| call(EQ, &[cmd(SET_NAME), string(s.as_bytes())]))
            .collect();
        if eqs.len() == 1 {
            eqs.into_iter().next().unwrap()
        } else {
            call(OR, &eqs)
        }
    }

    /// last update time ≥ `ns` (nanoseconds since the Unix epoch).
    pub fn modified_after(ns: i64) -> Vec<u8> {
        call(GE, &[cmd(LAST_UPDATE), int(ns)])
    }

    /// last update time < `ns`.
    pub fn modified_before(ns: i64) -> Vec<u8> {
        call(LT, &[cmd(LAST_UPDATE), int(ns)])
    }

    /// records that never expire (TTL -1).
    pub fn no_ttl() -> Vec<u8> {
        call(EQ, &[cmd(TTL), int(-1)])
    }

    /// All of `parts` (or the one part alone).
    pub fn and(mut parts: Vec<Vec<u8>>) -> Option<Vec<u8>> {
        match parts.len() {
            0 => None,
            1 => parts.pop(),
            _ => Some(call(AND, &parts)),
        }
    }
}

/// Parses asbackup's time formats in the local time zone: `YYYY-MM-DD_HH:MM:SS`, `YYYY-MM-DD`
/// (midnight) or `HH:MM:SS` (today); returns nanoseconds since the Unix epoch.
pub fn parse_time(s: &str) -> Result<i64, InvalidOption> {
    parse_time_msg(s).map_err(InvalidOption)
}

fn parse_time_msg(s: &str) -> Result<i64, String> {
    use chrono::{Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
    let bad =
        || format!("invalid time {s:?}: expected YYYY-MM-DD_HH:MM:SS, YYYY-MM-DD or HH:MM:SS");
    let naive = if let Ok(dt) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d_%H:%M:%S") {
        dt
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).ok_or_else(bad)?
    } else if let Ok(t) = NaiveTime::parse_from_str(s, "%H:%M:%S") {
        Local::now().date_naive().and_time(t)
    } else {
        return Err(bad());
    };
    let local = Local
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(bad)?;
    local.timestamp_nanos_opt().ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_lists() {
        let f = parse_partition_list("100-10,5,0-2").unwrap();
        assert_eq!(f[0], PartFilter::Range { begin: 0, count: 2 });
        assert_eq!(f[1], PartFilter::Range { begin: 5, count: 1 });
        assert_eq!(f[2].work().len(), 10);
        assert!(parse_partition_list("0-10,5")
            .unwrap_err()
            .0
            .contains("overlap"));
        assert!(parse_partition_list("4096")
            .unwrap_err()
            .0
            .contains("out of range"));
        assert!(parse_partition_list("4000-200")
            .unwrap_err()
            .0
            .contains("past partition 4095"));
        assert!(parse_partition_list("x")
            .unwrap_err()
            .0
            .contains("invalid digest"));
        let d = "7JEZLUt/jONdXXjTS8ply6qqyWA=";
        let f = parse_partition_list(d).unwrap();
        assert!(matches!(f[0], PartFilter::After(_)));
        let a = after_digest(d).unwrap();
        assert_eq!(a[1].begin(), a[0].begin() + 1);
        assert_eq!(a[1].begin() + a[1].count(), 4096);
    }

    #[test]
    fn jobs_split_like_asbackup() {
        let j = jobs(&[], 3);
        assert_eq!(j.len(), 3);
        assert_eq!(j.iter().map(Vec::len).sum::<usize>(), 4096);
        assert_eq!(j[0][0].0, 0);
        assert_eq!(j[2].last().unwrap().0, 4095);
        let j = jobs(
            &[PartFilter::Range {
                begin: 10,
                count: 2,
            }],
            8,
        );
        assert_eq!(j.len(), 2);
        let f = parse_partition_list("0-5,10-5").unwrap();
        assert_eq!(jobs(&f, 1).len(), 2);
    }

    #[test]
    fn times() {
        let a = parse_time("2024-01-02_03:04:05").unwrap();
        let b = parse_time("2024-01-02").unwrap();
        assert_eq!(a - b, (3 * 3600 + 4 * 60 + 5) * 1_000_000_000);
        assert!(parse_time("02/01/2024").is_err());
        assert!(parse_time("12:00:00").is_ok());
    }
}
