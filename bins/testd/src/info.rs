//! Info commands of the test server, in the formats a real server uses.

use super::store::{now_cl, IndexDef};
use super::{ownership_bitmap, Cluster};
use as_common::wire::info;
use base64_simd::STANDARD as B64;
use std::sync::atomic::Ordering;

pub fn handle(cluster: &Cluster, node: usize, body: &[u8], authenticated: bool) -> Vec<u8> {
    // Only commands ended by LF are answered: `build` without its LF got an empty answer, and
    // an empty request the default list (server-behaviours S15).
    let text = String::from_utf8_lossy(body);
    let names: Vec<String> = if body.is_empty() {
        DEFAULT_LIST.iter().map(|s| s.to_string()).collect()
    } else {
        let mut lines: Vec<&str> = text.split('\n').collect();
        lines.pop(); // what follows the last LF
        lines.into_iter().map(str::to_string).collect()
    };
    let pairs: Vec<(String, String)> = names
        .into_iter()
        .map(|n| {
            let v = if authenticated {
                answer(cluster, node, &n)
            } else {
                "ERROR:80:not authenticated".into()
            };
            (n, v)
        })
        .collect();
    info::reply(&pairs)
}

/// What an empty request is answered with, in the recorded server's order.
const DEFAULT_LIST: [&str; 15] = [
    "features",
    "node",
    "compatibility-id",
    "edition",
    "build_ee_sha",
    "build_sha",
    "build_arch",
    "build_time",
    "build_os",
    "build",
    "version",
    "statistics",
    "services-alumni",
    "services",
    "partition-generation",
];

/// The recorded CE 8.1.2.0 server's `features`.
const FEATURES: &str = "batch-any;batch-index;blob-bits;cdt-index;cdt-list;cdt-map;cluster-stable;float;geo;sindex-exists;peers;pipelining;pquery;pscans;query-show;relaxed-sc;replicas;replicas-all;replicas-master;replicas-max;truncate-namespace;udf";

const ENTERPRISE_ONLY: &str = "ERROR:25:enterprise only";

fn peers(cluster: &Cluster, node: usize) -> String {
    let list: Vec<String> = cluster
        .live()
        .into_iter()
        .filter(|&i| i != node)
        .map(|i| {
            format!(
                "[{},,[127.0.0.1:{}]]",
                cluster.nodes[i].name, cluster.nodes[i].port
            )
        })
        .collect();
    format!(
        "{},{},[{}]",
        cluster.generation.load(Ordering::SeqCst),
        cluster.nodes[node].port,
        list.join(",")
    )
}

fn arg<'a>(cmd: &'a str, key: &str) -> Option<&'a str> {
    let params = cmd.split_once(':').map_or("", |(_, p)| p);
    info::kv(params, ';')
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn answer(cluster: &Cluster, node: usize, cmd: &str) -> String {
    let v = answer_inner(cluster, node, cmd);
    if std::env::var_os("AS_TESTD_DEBUG").is_some() {
        eprintln!("as-testd: node {node}: info {cmd:?} -> {v:?}");
    }
    v
}

/// The namespace argument, spelled `ns=` or `namespace=`.
fn ns_arg(cmd: &str) -> Option<&str> {
    arg(cmd, "ns").or_else(|| arg(cmd, "namespace"))
}

fn answer_inner(cluster: &Cluster, node: usize, cmd: &str) -> String {
    let gen = cluster.generation.load(Ordering::SeqCst);
    let base = cmd.split([':', '/']).next().unwrap_or("");
    let me = &cluster.nodes[node];
    let tls = cluster.tls.is_some();
    match base {
        "node" => me.name.clone(),
        "cluster-name" => "testd".into(),
        "build" => cluster.build.clone(),
        "version" => format!("Aerospike Community Edition build {}", cluster.build),
        "edition" => "Aerospike Community Edition".into(),
        "features" => FEATURES.into(),
        "compatibility-id" => "15".into(),
        "build_ee_sha" => String::new(),
        "build_sha" => "0".repeat(40),
        "build_arch" => std::env::consts::ARCH.into(),
        "build_time" => "as-testd".into(),
        "build_os" => std::env::consts::OS.into(),
        "statistics" => format!(
            "cluster_size={};cluster_generation={gen};cluster_principal={};cluster_integrity=true;cluster_is_member=true",
            cluster.live().len(),
            cluster.nodes[cluster.live().first().copied().unwrap_or(0)].name
        ),
        "get-config" => "advertise-ipv6=false;batch-index-threads=2;cluster-name=testd;proto-fd-max=15000".into(),
        "user-agent-set" => "ok".into(),
        "partition-generation" | "peers-generation" | "rebalance-generation" => gen.to_string(),
        "peers-clear-std" | "peers-clear-alt" => peers(cluster, node),
        "peers-tls-std" | "peers-tls-alt" if tls => peers(cluster, node),
        "peers-tls-std" | "peers-tls-alt" => ENTERPRISE_ONLY.into(),
        "service-clear-std" | "service" => format!("127.0.0.1:{}", me.port),
        "service-clear-alt" | "services-alumni" => String::new(),
        "services" => cluster
            .live()
            .into_iter()
            .filter(|&i| i != node)
            .map(|i| format!("127.0.0.1:{}", cluster.nodes[i].port))
            .collect::<Vec<_>>()
            .join(";"),
        // replicas: regime, copies, a bitmap per copy; replicas-all: copies and bitmaps;
        // replicas-master: the master bitmap.
        "replicas" | "replicas-all" | "replicas-master" => cluster
            .namespaces
            .iter()
            .map(|ns| {
                let copies = if base == "replicas-master" { 1 } else { cluster.replication };
                let maps: Vec<String> = (0..copies)
                    .map(|k| B64.encode_to_string(ownership_bitmap(cluster, node, k)))
                    .collect();
                match base {
                    "replicas" => format!("{}:0,{copies},{}", ns.name, maps.join(",")),
                    "replicas-all" => format!("{}:{copies},{}", ns.name, maps.join(",")),
                    _ => format!("{}:{}", ns.name, maps[0]),
                }
            })
            .collect::<Vec<_>>()
            .join(";"),
        "rack-ids" if cluster.racks_given => cluster
            .namespaces
            .iter()
            .map(|ns| format!("{}:{}", ns.name, cluster.racks[node]))
            .collect::<Vec<_>>()
            .join(";"),
        "rack-ids" => ENTERPRISE_ONLY.into(),
        "testd-stats" => format!("scanned={}", cluster.scanned[node].load(Ordering::SeqCst)),
        "namespaces" => cluster.namespaces.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(";"),
        "namespace" => namespace_stats(cluster, node, cmd.split_once('/').map_or("", |(_, n)| n)),
        "sets" => sets(cluster, node, cmd.split_once('/').map(|(_, n)| n)),
        "sindex-list" | "sindex" => sindex_list(cluster, ns_arg(cmd), arg(cmd, "b64") == Some("true")),
        "sindex-create" => sindex_create(cluster, cmd),
        "sindex-stat" => sindex_stat(cluster, cmd),
        "sindex-delete" => sindex_delete(cluster, cmd),
        "truncate-namespace" => match arg(cmd, "namespace").and_then(|n| cluster.namespace(n.as_bytes())) {
            Some(ns) => {
                for p in &ns.parts {
                    p.lock().unwrap().clear();
                }
                "ok".into()
            }
            None => "ERROR:20:namespace not found".into(),
        },
        "udf-list" => cluster
            .udfs
            .lock()
            .unwrap()
            .iter()
            .map(|(name, content)| format!("filename={name},hash={},type=LUA;", sha1_hex(content)))
            .collect(),
        "udf-get" => match arg(cmd, "filename").and_then(|f| udf(cluster, f)) {
            Some(c) => format!("type=LUA;content={};", B64.encode_to_string(&c)),
            // Not recorded: the server's source answers a missing module so.
            None => "error=not_found".into(),
        },
        "udf-put" => udf_put(cluster, cmd),
        "udf-remove" => {
            let mut list = cluster.udfs.lock().unwrap();
            let before = list.len();
            list.retain(|(n, _)| Some(n.as_str()) != arg(cmd, "filename"));
            if list.len() < before { "ok".into() } else { "error=file_not_found".into() }
        }
        "testd-fault" => fault(cluster, cmd),
        "testd-kill" | "testd-revive" => match arg(cmd, "node").and_then(|n| n.parse::<usize>().ok()) {
            Some(i) if i < cluster.nodes.len() => {
                cluster.nodes[i].alive.store(base == "testd-revive", Ordering::SeqCst);
                cluster.generation.fetch_add(1, Ordering::SeqCst);
                "ok".into()
            }
            _ => "ERROR::bad node".into(),
        },
        _ => "ERROR:4:unrecognized command".into(),
    }
}

fn udf(cluster: &Cluster, name: &str) -> Option<Vec<u8>> {
    let list = cluster.udfs.lock().unwrap();
    list.iter().find(|(n, _)| n == name).map(|(_, c)| c.clone())
}

fn sha1_hex(b: &[u8]) -> String {
    use sha1::Digest;
    sha1::Sha1::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Objects this node holds a copy of (master or replica), as a real server counts them in
/// `namespace/<ns>` and `sets/<ns>`.
fn owned_count(
    cluster: &Cluster,
    node: usize,
    ns: &super::store::Namespace,
    set: Option<&[u8]>,
) -> u64 {
    let now = now_cl();
    (0..ns.parts.len())
        .filter(|&p| (0..cluster.replication).any(|k| cluster.replica(p, k) == Some(node)))
        .map(|p| {
            let part = ns.parts[p].lock().unwrap();
            match set {
                // Like a server's counter: cheap, and expired records count until removed.
                None => part.len() as u64,
                Some(s) => part
                    .values()
                    .filter(|r| !r.expired(now) && r.set == s)
                    .count() as u64,
            }
        })
        .sum()
}

fn namespace_stats(cluster: &Cluster, node: usize, name: &str) -> String {
    match cluster.namespace(name.as_bytes()) {
        None => "type=unknown".into(),
        Some(ns) => {
            let rf = cluster.replication.min(cluster.live().len()).max(1);
            format!(
                "objects={};tombstones=0;replication-factor={};effective_replication_factor={rf};\
                 default-ttl=0;nsup-period=0;storage-engine=memory;strong-consistency=false",
                owned_count(cluster, node, ns, None),
                cluster.replication
            )
        }
    }
}

fn sets(cluster: &Cluster, node: usize, which: Option<&str>) -> String {
    let mut out = String::new();
    for ns in &cluster.namespaces {
        if which.is_some_and(|w| w.trim_end_matches('/') != ns.name) {
            continue;
        }
        let indexes = ns.sindexes.lock().unwrap().clone();
        // A set exists once an index is created on it, records or not: after asrestore's
        // `set=null`, the recorded server listed `set=null:objects=0:...:sindexes=1`
        // (server-behaviours S17).
        let mut names: std::collections::BTreeSet<Vec<u8>> = ns.set_counts().into_keys().collect();
        names.extend(
            indexes
                .iter()
                .filter_map(|d| d.set.clone())
                .map(String::into_bytes),
        );
        for set in names.iter().filter(|s| !s.is_empty()) {
            let n = owned_count(cluster, node, ns, Some(set));
            let name = String::from_utf8_lossy(set);
            let sindexes = indexes
                .iter()
                .filter(|d| d.set.as_deref() == Some(&*name))
                .count();
            out.push_str(&format!(
                "ns={}:set={name}:objects={n}:tombstones=0:data_used_bytes=0:truncate_lut=0:sindexes={sindexes}:\
                 index_populating=false:truncating=false:default-read-touch-ttl-pct=0:default-ttl=0:\
                 disable-eviction=false:enable-index=false:stop-writes-count=0:stop-writes-size=0;",
                ns.name
            ));
        }
    }
    out
}

fn sindex_list(cluster: &Cluster, ns: Option<&str>, b64: bool) -> String {
    let mut items = Vec::new();
    for n in &cluster.namespaces {
        if ns.is_some_and(|w| w != n.name) {
            continue;
        }
        for d in n.sindexes.lock().unwrap().iter() {
            let ctx = match (&d.context, b64) {
                (Some(c), true) => c.clone(),
                (Some(c), false) => readable_context(c),
                (None, _) => "null".into(),
            };
            items.push(format!(
                "ns={}:indexname={}:set={}:bin={}:type={}:indextype={}:context={ctx}:exp=null:state=RW",
                n.name,
                d.name,
                d.set.as_deref().unwrap_or("null"),
                d.bin,
                d.data_type,
                d.index_type
            ));
        }
    }
    items.join(";")
}

/// A CDT context as `sindex-list` prints it without `b64=true`: `[list_index(0)]`,
/// `[map_key(<string#1>)]`, as recorded. The forms of other value types were not recorded.
fn readable_context(b64: &str) -> String {
    let Ok(raw) = B64.decode_to_vec(b64) else {
        return b64.into();
    };
    let mut rd = &raw[..];
    let Ok(n) = rmp::decode::read_array_len(&mut rd) else {
        return b64.into();
    };
    let mut parts = Vec::new();
    for _ in 0..n / 2 {
        let (Ok(t), Ok(v)) = (rmp::decode::read_int::<u8, _>(&mut rd), ctx_value(&mut rd)) else {
            return b64.into();
        };
        let name = match t {
            0x10 => "list_index",
            0x11 => "list_rank",
            0x13 => "list_value",
            0x20 => "map_index",
            0x21 => "map_rank",
            0x22 => "map_key",
            0x23 => "map_value",
            _ => "unknown",
        };
        parts.push(format!("{name}({v})"));
    }
    format!("[{}]", parts.join(", "))
}

fn ctx_value(rd: &mut &[u8]) -> Result<String, ()> {
    match rd.first() {
        Some(0xa0..=0xbf | 0xd9..=0xdb) => {
            let n = rmp::decode::read_str_len(rd).map_err(|_| ())? as usize;
            // A particle string: a type byte, then the text.
            let len = n.saturating_sub(1);
            *rd = rd.get(n..).ok_or(())?;
            Ok(format!("<string#{len}>"))
        }
        _ => rmp::decode::read_int::<i64, _>(rd)
            .map(|v| v.to_string())
            .map_err(|_| ()),
    }
}

/// Index statistics. Not a real index: `entries` counts the records holding the bin, in the
/// index's set (an index on the set "null" counts only records of a set of that name), or in
/// every set for an index of no set.
fn sindex_stat(cluster: &Cluster, cmd: &str) -> String {
    let Some(ns) = ns_arg(cmd).and_then(|n| cluster.namespace(n.as_bytes())) else {
        return "ERROR:20:namespace not found".into();
    };
    let Some(d) = ns
        .sindexes
        .lock()
        .unwrap()
        .iter()
        .find(|d| Some(d.name.as_str()) == arg(cmd, "indexname"))
        .cloned()
    else {
        return "ERROR:201:no such index".into();
    };
    let entries: usize = ns
        .parts
        .iter()
        .map(|p| {
            p.lock()
                .unwrap()
                .values()
                .filter(|r| d.set.as_deref().is_none_or(|s| r.set == s.as_bytes()))
                .filter(|r| r.bins.iter().any(|b| b.0 == d.bin.as_bytes()))
                .count()
        })
        .sum();
    format!("entries={entries};used_bytes=0;entries_per_bval=0;entries_per_rec=1;load_pct=100;load_time=0;stat_gc_recs=0")
}

/// Both syntaxes: `indexdata=bin,type` (old clients) and `bin=..;type=..` (new ones).
fn sindex_create(cluster: &Cluster, cmd: &str) -> String {
    let Some(ns) = ns_arg(cmd).and_then(|n| cluster.namespace(n.as_bytes())) else {
        return "ERROR:20:namespace not found".into();
    };
    let Some(name) = arg(cmd, "indexname") else {
        return "ERROR:4:missing indexname".into();
    };
    let (bin, data_type) = match arg(cmd, "indexdata").and_then(|d| d.split_once(',')) {
        Some((b, t)) => (b.to_string(), t.to_string()),
        None => (
            arg(cmd, "bin").unwrap_or("").to_string(),
            arg(cmd, "type").unwrap_or("").to_string(),
        ),
    };
    let data_type = match data_type.to_ascii_lowercase().as_str() {
        "numeric" => "numeric",
        "string" => "string",
        "geo2dsphere" | "geojson" => "geo2dsphere",
        "blob" => "blob",
        _ => return "ERROR:4:bad type".into(),
    };
    let index_type = arg(cmd, "indextype")
        .unwrap_or("default")
        .to_ascii_lowercase();
    let mut list = ns.sindexes.lock().unwrap();
    if list.iter().any(|d| d.name == name) {
        return "ERROR:200:index already exists".into();
    }
    list.push(IndexDef {
        name: name.to_string(),
        // `set=null` is a set named "null", not "no set": asrestore's
        // `sindex-create:namespace=test;set=null;indexname=idx_noset;...` left the recorded
        // server with an index of 0 entries where the same index created without `set` had 13,
        // and `sets/test` listing `set=null` (server-behaviours S17). Only an absent or empty
        // `set` is none.
        set: arg(cmd, "set")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        bin,
        data_type: data_type.into(),
        index_type: if index_type == "none" {
            "default".into()
        } else {
            index_type
        },
        context: arg(cmd, "context").map(str::to_string),
    });
    "ok".into()
}

fn sindex_delete(cluster: &Cluster, cmd: &str) -> String {
    let Some(ns) = ns_arg(cmd).and_then(|n| cluster.namespace(n.as_bytes())) else {
        return "ERROR:20:namespace not found".into();
    };
    let name = arg(cmd, "indexname").unwrap_or("");
    let mut list = ns.sindexes.lock().unwrap();
    let before = list.len();
    list.retain(|d| d.name != name);
    if list.len() < before {
        "ok".into()
    } else {
        "ERROR:201:no such index".into()
    }
}

fn udf_put(cluster: &Cluster, cmd: &str) -> String {
    let (Some(name), Some(content)) = (arg(cmd, "filename"), arg(cmd, "content")) else {
        return "error=invalid_arguments".into();
    };
    match B64.decode_to_vec(content) {
        Ok(bytes) => {
            let mut list = cluster.udfs.lock().unwrap();
            match list.iter_mut().find(|(n, _)| n == name) {
                Some(u) => u.1 = bytes,
                None => list.push((name.to_string(), bytes)),
            }
            "ok".into()
        }
        Err(_) => "error=invalid_base64_content".into(),
    }
}

fn fault(cluster: &Cluster, cmd: &str) -> String {
    let node = arg(cmd, "node")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let mut f = cluster.faults.lock().unwrap();
    if let Some(k) = arg(cmd, "drop-after").and_then(|v| v.parse().ok()) {
        f.drop_after = Some((node, k));
    }
    if let Some(ms) = arg(cmd, "stall").and_then(|v| v.parse().ok()) {
        f.stall = Some((node, ms));
    }
    if let Some(range) = arg(cmd, "unavailable") {
        let times = arg(cmd, "times").and_then(|t| t.parse().ok()).unwrap_or(1);
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) if a <= b && b < 4096 => {
                for p in a..=b {
                    f.unavailable.insert(p, times);
                }
            }
            _ => return "ERROR::bad partition range".into(),
        }
    }
    if let Some(code) = arg(cmd, "write-error").and_then(|v| v.parse().ok()) {
        let times = arg(cmd, "times").and_then(|t| t.parse().ok()).unwrap_or(1);
        f.write_error = Some((code, times));
    }
    if let Some(n) = arg(cmd, "cut-batches").and_then(|v| v.parse().ok()) {
        f.cut_batches = n;
    }
    if arg(cmd, "clear").is_some() {
        *f = Default::default();
    }
    drop(f);
    if let Some(d) = arg(cmd, "alter-bin") {
        return alter_bin(cluster, d);
    }
    "ok".into()
}

/// Test-only (`alter-bin=DIGEST`, base64): flips the last byte of the record's first bin and
/// keeps its generation and last-update time: a change behind the generation's back (a disk
/// fault, say) that only `as-verify --cluster --deep` can see. No server does this on purpose.
fn alter_bin(cluster: &Cluster, digest: &str) -> String {
    let Some(d) = B64
        .decode_to_vec(digest)
        .ok()
        .and_then(|v| <[u8; 20]>::try_from(v).ok())
    else {
        return "ERROR::bad digest".into();
    };
    for ns in &cluster.namespaces {
        let mut part = ns.parts[super::store::partition_of(&d)].lock().unwrap();
        if let Some(byte) = part
            .get_mut(&d)
            .and_then(|r| r.bins.first_mut())
            .and_then(|b| b.2.last_mut())
        {
            *byte ^= 1;
            return "ok".into();
        }
    }
    "ERROR::no such record with a bin".into()
}
