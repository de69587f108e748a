//! Info commands of the test server, in the formats a real server uses.

use super::store::{now_cl, IndexDef};
use super::{ownership_bitmap, Cluster};
use as_common::wire::info;
use base64_simd::STANDARD as B64;
use std::sync::atomic::Ordering;

pub fn handle(cluster: &Cluster, node: usize, body: &[u8], authenticated: bool) -> Vec<u8> {
    let names = info::parse_request(body);
    let pairs: Vec<(String, String)> = if !authenticated {
        names
            .into_iter()
            .map(|n| (n, "ERROR:80:not authenticated".into()))
            .collect()
    } else if names.is_empty() {
        vec![
            ("build".into(), cluster.build.clone()),
            ("node".into(), cluster.nodes[node].name.clone()),
        ]
    } else {
        names
            .into_iter()
            .map(|n| {
                let v = answer(cluster, node, &n);
                (n, v)
            })
            .collect()
    };
    info::reply(&pairs)
}

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
    match base {
        "node" => cluster.nodes[node].name.clone(),
        "cluster-name" => "testd".into(),
        "build" => cluster.build.clone(),
        "version" => format!("Aerospike Community Edition build {}", cluster.build),
        "edition" => "Aerospike Community Edition".into(),
        "features" => "batch-index;blob-bits;cdt-list;cdt-map;float;geo;pipelining;peers;pquery;pscans;query-show;relaxed-sc;replicas;truncate-namespace;udf".into(),
        "partition-generation" | "peers-generation" | "rebalance-generation" => gen.to_string(),
        "peers-clear-std" | "peers-clear-alt" | "peers-tls-std" | "peers-tls-alt" => peers(cluster, node),
        "service-clear-std" | "service-clear-alt" | "service" => format!("127.0.0.1:{}", cluster.nodes[node].port),
        "replicas" | "replicas-all" | "replicas-master" => cluster
            .namespaces
            .iter()
            .map(|ns| {
                let copies: Vec<String> = (0..cluster.replication)
                    .map(|k| B64.encode_to_string(ownership_bitmap(cluster, node, k)))
                    .collect();
                format!("{}:0,{},{}", ns.name, cluster.replication, copies.join(","))
            })
            .collect::<Vec<_>>()
            .join(";"),
        "rack-ids" => cluster.namespaces.iter().map(|ns| format!("{}:{}", ns.name, cluster.racks[node])).collect::<Vec<_>>().join(";"),
        "testd-stats" => format!("scanned={}", cluster.scanned[node].load(Ordering::SeqCst)),
        "namespaces" => cluster.namespaces.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(";"),
        "namespace" => namespace_stats(cluster, node, cmd.split_once('/').map_or("", |(_, n)| n)),
        "sets" => sets(cluster, node, cmd.split_once('/').map(|(_, n)| n)),
        "sindex-list" | "sindex" => sindex_list(cluster, ns_arg(cmd), arg(cmd, "b64") == Some("true")),
        "sindex-create" => sindex_create(cluster, cmd),
        // Indexes are "built" at once: clients poll this until load_pct reaches 100.
        "sindex-stat" => match ns_arg(cmd).and_then(|n| cluster.namespace(n.as_bytes())) {
            Some(ns) if ns.sindexes.lock().unwrap().iter().any(|d| Some(d.name.as_str()) == arg(cmd, "indexname")) => {
                "keys=0;entries=0;load_pct=100;loadtime=0;stat_gc_recs=0".into()
            }
            _ => "ERROR:201:no such index".into(),
        },
        "sindex-delete" => sindex_delete(cluster, cmd),
        "udf-list" => cluster
            .udfs
            .lock()
            .unwrap()
            .iter()
            .map(|(name, content)| format!("filename={name},hash={:040x},type=LUA;", content.len()))
            .collect(),
        "udf-get" => match arg(cmd, "filename").and_then(|f| cluster.udfs.lock().unwrap().get(f).cloned()) {
            Some(c) => format!("gen=1;type=LUA;content={}", B64.encode_to_string(&c)),
            None => "error=not_found".into(),
        },
        "udf-put" => udf_put(cluster, cmd),
        "udf-remove" => match arg(cmd, "filename") {
            Some(f) if cluster.udfs.lock().unwrap().remove(f).is_some() => "ok".into(),
            _ => "error=file_not_found".into(),
        },
        "testd-fault" => fault(cluster, cmd),
        "testd-kill" | "testd-revive" => match arg(cmd, "node").and_then(|n| n.parse::<usize>().ok()) {
            Some(i) if i < cluster.nodes.len() => {
                cluster.nodes[i].alive.store(base == "testd-revive", Ordering::SeqCst);
                cluster.generation.fetch_add(1, Ordering::SeqCst);
                "ok".into()
            }
            _ => "ERROR::bad node".into(),
        },
        _ => String::new(),
    }
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
        for set in ns.set_counts().keys().filter(|s| !s.is_empty()) {
            let n = owned_count(cluster, node, ns, Some(set));
            out.push_str(&format!(
                "ns={}:set={}:objects={n}:tombstones=0:memory_data_bytes=0:truncate_lut=0:stop-writes-count=0:disable-eviction=false;",
                ns.name,
                String::from_utf8_lossy(set)
            ));
        }
    }
    out
}

fn sindex_list(cluster: &Cluster, ns: Option<&str>, b64: bool) -> String {
    let mut out = String::new();
    for n in &cluster.namespaces {
        if ns.is_some_and(|w| w != n.name) {
            continue;
        }
        for d in n.sindexes.lock().unwrap().iter() {
            let ctx = match (&d.context, b64) {
                (Some(c), true) => c.clone(),
                (Some(_), false) => "<binary>".into(),
                (None, _) => "NULL".into(),
            };
            out.push_str(&format!(
                "ns={}:indexname={}:set={}:bin={}:type={}:indextype={}:context={ctx}:exp=null:state=RW;",
                n.name,
                d.name,
                d.set.as_deref().unwrap_or("null"),
                d.bin,
                d.data_type,
                d.index_type
            ));
        }
    }
    out
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
    "OK".into()
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
        "OK".into()
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
            cluster.udfs.lock().unwrap().insert(name.to_string(), bytes);
            String::new()
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
    if arg(cmd, "clear").is_some() {
        *f = Default::default();
    }
    "ok".into()
}
