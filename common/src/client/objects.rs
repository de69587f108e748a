//! What the cluster says about a namespace beyond the partition map: how many objects it holds
//! (for progress and `--count`) and which partitions given nodes master (`--node-list`).

use super::cluster::{parse_seeds, Cluster};
use super::filter::PartFilter;
use super::InvalidOption;
use crate::wire::info::kv;

impl Cluster {
    /// Objects in the namespace (or its listed sets): every node counts the copies it holds, so
    /// the sum is divided by the replication factor, as asbackup does. Nodes that do not answer
    /// count nothing: this is an estimate, for progress.
    pub fn objects(&self, ns: &str, sets: &[String]) -> u64 {
        let mut total = 0;
        let mut factor = 1;
        for i in 0..self.nodes.len() {
            let Ok(mut c) = self.connect(i) else {
                continue;
            };
            let stats = c.info1(&format!("namespace/{ns}")).unwrap_or_default();
            let stat = |k: &str| {
                kv(&stats, ';')
                    .iter()
                    .find(|(x, _)| *x == k)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
            };
            factor = stat("effective_replication_factor")
                .or(stat("replication-factor"))
                .unwrap_or(factor)
                .max(1);
            if sets.is_empty() {
                total += stat("objects").unwrap_or(0);
            } else if let Ok(v) = c.info1(&format!("sets/{ns}")) {
                for item in v.split(';') {
                    let f = kv(item, ':');
                    let get = |k: &str| f.iter().find(|(x, _)| *x == k).map(|(_, v)| *v);
                    if get("set").is_some_and(|s| sets.iter().any(|w| w == s)) {
                        total += get("objects")
                            .and_then(|o| o.parse::<u64>().ok())
                            .unwrap_or(0);
                    }
                }
            }
        }
        total / factor
    }

    /// The partitions mastered by the listed nodes (`addr:port`, comma- or semicolon-separated),
    /// as filters of contiguous runs; empty when they master none.
    pub fn mastered_by(&self, list: &str) -> Result<Vec<PartFilter>, InvalidOption> {
        use std::net::ToSocketAddrs;
        let mut wanted = Vec::new();
        for seed in parse_seeds(list, 3000)? {
            let addrs: Vec<_> = (seed.host.as_str(), seed.port)
                .to_socket_addrs()
                .map_err(|e| {
                    InvalidOption(format!(
                        "cannot resolve node {}:{}: {e}",
                        seed.host, seed.port
                    ))
                })?
                .collect();
            match self.nodes.iter().position(|n| addrs.contains(&n.addr)) {
                Some(i) => wanted.push(i),
                None => {
                    return Err(InvalidOption(format!(
                        "{}:{} is not a node of the cluster",
                        seed.host, seed.port
                    )))
                }
            }
        }
        let mut filters: Vec<PartFilter> = Vec::new();
        for (p, owner) in self.owners.iter().enumerate() {
            if !owner.is_some_and(|o| wanted.contains(&o)) {
                continue;
            }
            match filters.last_mut() {
                Some(PartFilter::Range { begin, count }) if (*begin + *count) as usize == p => {
                    *count += 1
                }
                _ => filters.push(PartFilter::Range {
                    begin: p as u16,
                    count: 1,
                }),
            }
        }
        Ok(filters)
    }
}
