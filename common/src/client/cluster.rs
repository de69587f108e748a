//! Cluster discovery: seeds → every node (through `peers-clear-std`) → who masters each
//! partition of a namespace (through `replicas`).

use super::conn::{Conn, ConnSettings};
use super::ClientError;
use crate::client::InvalidOption;
use crate::record::PARTITIONS;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

/// A seed as asbackup takes it: `host`, `host:port`, `host:tlsname:port`, `[v6]:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub host: String,
    pub tls_name: Option<String>,
    pub port: u16,
}

/// Parses asbackup's `--host` list (comma- or semicolon-separated) with a default port.
pub fn parse_seeds(s: &str, default_port: u16) -> Result<Vec<Seed>, InvalidOption> {
    parse_seeds_msg(s, default_port).map_err(InvalidOption)
}

fn parse_seeds_msg(s: &str, default_port: u16) -> Result<Vec<Seed>, String> {
    let mut out = Vec::new();
    for item in s.split([',', ';']).map(str::trim).filter(|i| !i.is_empty()) {
        let (host, rest) = if let Some(v6) = item.strip_prefix('[') {
            let (h, r) = v6
                .split_once(']')
                .ok_or_else(|| format!("bad host {item:?}: missing ']'"))?;
            (h.to_string(), r.strip_prefix(':').unwrap_or(r))
        } else {
            match item.split_once(':') {
                Some((h, r)) => (h.to_string(), r),
                None => (item.to_string(), ""),
            }
        };
        let parts: Vec<&str> = if rest.is_empty() {
            vec![]
        } else {
            rest.split(':').collect()
        };
        let port = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("bad port {p:?} in host {item:?}"))
        };
        let (tls_name, port) = match parts.as_slice() {
            [] => (None, default_port),
            [p] => (None, port(p)?),
            [t, p] => (Some(t.to_string()), port(p)?),
            _ => return Err(format!("bad host {item:?}")),
        };
        if host.is_empty() {
            return Err(format!("bad host {item:?}: empty name"));
        }
        out.push(Seed {
            host,
            tls_name,
            port,
        });
    }
    if out.is_empty() {
        return Err("no host given".into());
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    /// The name its TLS certificate is verified against.
    pub tls_name: Option<String>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Master node (index into `nodes`) of each partition of the namespace.
    pub owners: Vec<Option<usize>>,
    /// Holder of each copy (0 = master) of each partition.
    pub copies: Vec<Vec<Option<usize>>>,
    /// Rack id of each node in the namespace, when it reports one.
    pub racks: Vec<Option<u32>>,
    pub build: String,
    settings: ConnSettings,
    /// The info command that lists a node's peers (clear or TLS, standard or alternate).
    peers_cmd: &'static str,
}

/// `host:port` for an address that may lack the port (IPv6 in brackets).
fn with_port(a: &str, default_port: &str) -> String {
    if a.starts_with('[') {
        if a.contains("]:") {
            a.to_string()
        } else {
            format!("{a}:{default_port}")
        }
    } else if a.matches(':').count() == 1 {
        a.to_string()
    } else if a.contains(':') {
        format!("[{a}]:{default_port}")
    } else {
        format!("{a}:{default_port}")
    }
}

/// Parses `peers-clear-std`: `gen,port,[[name,tls,[addr:port,...]],...]` into
/// (name, TLS name, addresses).
pub fn parse_peers(s: &str) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    let Some(start) = s.find('[') else { return out };
    let default_port = s.split(',').nth(1).unwrap_or("3000").to_string();
    // Up to the closing bracket of the list (an answer cut short has none: no peers then).
    let Some(end) = s.rfind(']').filter(|&e| e > start) else {
        return out;
    };
    let body = &s[start + 1..end];
    // Each peer is `[name,tls,[a,b]]`.
    let mut depth = 0;
    let mut cur = String::new();
    for c in body.chars() {
        match c {
            '[' => {
                depth += 1;
                if depth > 1 {
                    cur.push(c);
                }
            }
            ']' if depth == 0 => {}
            ']' => {
                depth -= 1;
                if depth == 0 {
                    let (name, rest) = cur.split_once(',').unwrap_or((&cur, ""));
                    let (tls, rest) = rest.split_once(',').unwrap_or(("", rest));
                    let addrs = rest
                        .split_once('[')
                        .map(|(_, a)| a.trim_end_matches(']'))
                        .unwrap_or("")
                        .split(',')
                        .filter(|a| !a.is_empty())
                        .map(|a| with_port(a, &default_port))
                        .collect();
                    out.push((name.to_string(), tls.to_string(), addrs));
                    cur.clear();
                } else {
                    cur.push(c);
                }
            }
            ',' if depth == 0 => {}
            _ => cur.push(c),
        }
    }
    out
}

/// A peer as `peers-*` lists it: its name, TLS name and addresses (the first that resolves).
fn peer_node(name: String, tls: String, addrs: &[String], settings: &ConnSettings) -> Option<Node> {
    let addr = addrs
        .iter()
        .find_map(|a| a.to_socket_addrs().ok().and_then(|mut i| i.next()))?;
    let tls_name = Some(tls)
        .filter(|t| !t.is_empty())
        .or_else(|| settings.tls_name.clone());
    Some(Node {
        name,
        addr,
        tls_name,
    })
}

impl Cluster {
    /// Connects to the first seed that answers, then to every peer, and reads the partition map
    /// of `namespace` from every node.
    /// With `alternate`, peers are reached at their alternate access addresses.
    pub fn discover(
        seeds: &[Seed],
        namespace: &str,
        settings: ConnSettings,
        alternate: bool,
    ) -> Result<Cluster, ClientError> {
        let peers_cmd = match (settings.tls.is_some(), alternate) {
            (false, false) => "peers-clear-std",
            (false, true) => "peers-clear-alt",
            (true, false) => "peers-tls-std",
            (true, true) => "peers-tls-alt",
        };
        let mut errors = Vec::new();
        for seed in seeds {
            match Conn::connect_host(&seed.host, seed.port, seed.tls_name.as_deref(), &settings) {
                Ok(mut c) => {
                    let v = c.info(&["node", "build", peers_cmd, "namespaces"])?;
                    let [name, build, peers, namespaces]: [String; 4] =
                        v.try_into().expect("four answers");
                    if name.is_empty() {
                        return Err(ClientError::Protocol(
                            c.addr.to_string(),
                            "node has no name".into(),
                        ));
                    }
                    if !namespaces.split(';').any(|n| n == namespace) {
                        return Err(ClientError::NoNamespace(namespace.to_string()));
                    }
                    let tls_name = seed
                        .tls_name
                        .clone()
                        .or_else(|| settings.tls_name.clone())
                        .or_else(|| Some(seed.host.clone()));
                    let mut nodes = vec![Node {
                        name,
                        addr: c.addr,
                        tls_name,
                    }];
                    for (pname, ptls, addrs) in parse_peers(&peers) {
                        if !nodes.iter().any(|n| n.name == pname) {
                            nodes.extend(peer_node(pname, ptls, &addrs, &settings));
                        }
                    }
                    let mut cluster = Cluster {
                        nodes,
                        owners: vec![None; PARTITIONS as usize],
                        copies: Vec::new(),
                        racks: Vec::new(),
                        build,
                        settings,
                        peers_cmd,
                    };
                    cluster.refresh(namespace)?;
                    return Ok(cluster);
                }
                Err(e @ (ClientError::Auth { .. } | ClientError::Tls(..))) => return Err(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(ClientError::Unreachable(errors.join("; ")))
    }

    /// The server version as (major, minor), from `build`.
    pub fn version(&self) -> (u32, u32) {
        let mut it = self.build.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }

    pub fn connect(&self, node: usize) -> Result<Conn, ClientError> {
        let n = &self.nodes[node];
        Conn::connect(n.addr, n.tls_name.as_deref(), &self.settings)
    }

    /// Any node that answers, for info requests.
    pub fn any(&self) -> Result<Conn, ClientError> {
        let mut last = None;
        for i in 0..self.nodes.len() {
            match self.connect(i) {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Unreachable("no nodes".into())))
    }

    /// Re-reads who masters each partition; nodes that do not answer own nothing. Peers that
    /// are not known yet (a node that joined, or was away when the scan began and came back)
    /// are added, as the clients' tend adds them, and the map read again with them; nodes keep
    /// their indices.
    pub fn refresh(&mut self, namespace: &str) -> Result<(), ClientError> {
        let mut copies: Vec<Vec<Option<usize>>> = Vec::new();
        let mut regimes: BTreeMap<usize, u64> = BTreeMap::new();
        let mut racks = vec![None; self.nodes.len()];
        let mut found: Vec<Node> = Vec::new();
        for (i, rack) in racks.iter_mut().enumerate() {
            let Ok(mut c) = self.connect(i) else { continue };
            let Ok(v) = c.info(&["replicas", "rack-ids", self.peers_cmd]) else {
                continue;
            };
            for (name, tls, addrs) in parse_peers(&v[2]) {
                if !self.nodes.iter().chain(&found).any(|n| n.name == name) {
                    found.extend(peer_node(name, tls, &addrs, &self.settings));
                }
            }
            *rack = v[1]
                .split(';')
                .filter_map(|x| x.split_once(':'))
                .find(|(ns, _)| *ns == namespace)
                .and_then(|(_, r)| r.parse::<u32>().ok());
            for item in v[0].split(';') {
                let Some((ns, rest)) = item.split_once(':') else {
                    continue;
                };
                if ns != namespace {
                    continue;
                }
                let mut f = rest.split(',');
                let regime: u64 = f.next().and_then(|r| r.parse().ok()).unwrap_or(0);
                let _count = f.next();
                // One bitmap per copy: the master's first, then each replica's.
                for (k, b64) in f.enumerate() {
                    let Ok(bits) = base64_simd::STANDARD.decode_to_vec(b64) else {
                        continue;
                    };
                    if copies.len() <= k {
                        copies.resize(k + 1, vec![None; PARTITIONS as usize]);
                    }
                    for (p, holder) in copies[k].iter_mut().enumerate() {
                        let held = bits.get(p >> 3).is_some_and(|b| b & (0x80 >> (p & 7)) != 0);
                        // With two claims (during a migration) the higher regime wins.
                        if held
                            && holder.is_none_or(|o| regimes.get(&o).is_none_or(|&r| regime >= r))
                        {
                            *holder = Some(i);
                        }
                    }
                }
                regimes.insert(i, regime);
            }
        }
        self.owners = copies
            .first()
            .cloned()
            .unwrap_or_else(|| vec![None; PARTITIONS as usize]);
        self.copies = copies;
        self.racks = racks;
        if found.is_empty() {
            return Ok(());
        }
        self.nodes.extend(found);
        self.refresh(namespace)
    }

    /// The node to scan partition `p` on: with preferred racks, the first copy (master first)
    /// held by a node in one of them; otherwise, and when none is, the master.
    pub fn node_for(&self, p: usize, prefer_racks: &[u32]) -> Option<usize> {
        if !prefer_racks.is_empty() {
            for copy in &self.copies {
                if let Some(n) = copy[p] {
                    if self.racks[n].is_some_and(|r| prefer_racks.contains(&r)) {
                        return Some(n);
                    }
                }
            }
        }
        self.owners[p]
    }

    /// The node for attempt `sequence` at partition `p`: the first as [`Self::node_for`], then
    /// each copy in turn (master, replica, ...), as the clients' SEQUENCE replica policy.
    pub fn node_for_attempt(
        &self,
        p: usize,
        prefer_racks: &[u32],
        sequence: usize,
    ) -> Option<usize> {
        if sequence == 0 {
            return self.node_for(p, prefer_racks);
        }
        let holders: Vec<usize> = self.copies.iter().filter_map(|c| c[p]).collect();
        if holders.is_empty() {
            return None;
        }
        Some(holders[sequence % holders.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_in_asbackup_forms() {
        let s = parse_seeds("a, b:4000 ,c:tls1:4333;[::1]:5000,[fe80::1]", 3000).unwrap();
        assert_eq!(
            s[0],
            Seed {
                host: "a".into(),
                tls_name: None,
                port: 3000
            }
        );
        assert_eq!(s[1].port, 4000);
        assert_eq!(
            s[2],
            Seed {
                host: "c".into(),
                tls_name: Some("tls1".into()),
                port: 4333
            }
        );
        assert_eq!(
            s[3],
            Seed {
                host: "::1".into(),
                tls_name: None,
                port: 5000
            }
        );
        assert_eq!(
            s[4],
            Seed {
                host: "fe80::1".into(),
                tls_name: None,
                port: 3000
            }
        );
        assert!(parse_seeds("a:0", 3000).is_err());
        assert!(parse_seeds("a:x", 3000).is_err());
        assert!(parse_seeds("", 3000).is_err());
    }

    #[test]
    fn peers_format() {
        let p = parse_peers("3,3000,[[BB9,,[127.0.0.1:3001]],[BB8,tls,[10.0.0.1,10.0.0.2:4000]]]");
        assert_eq!(
            p[0],
            (
                "BB9".to_string(),
                String::new(),
                vec!["127.0.0.1:3001".to_string()]
            )
        );
        assert_eq!(p[1].1, "tls");
        assert_eq!(
            p[1].2,
            vec!["10.0.0.1:3000".to_string(), "10.0.0.2:4000".to_string()]
        );
        assert!(parse_peers("3,3000,[]").is_empty());
    }
}
