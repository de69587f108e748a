//! Info answers compared as the recorded server gave them, but for what names the server (its
//! node, cluster, build and port), its internals (statistics) and its data (bar's sets).

use as_common::wire::info;

/// The differences between a recorded info answer and ours, line by line.
pub fn diff(recorded: &[u8], ours: &[u8]) -> Vec<String> {
    let (r, o) = (norm_info(recorded), norm_info(ours));
    r.iter()
        .zip(o.iter().chain(std::iter::repeat(&String::new())))
        .filter(|(a, b)| a != b && !sindex_list_behind(a, b))
        .map(|(a, b)| format!("recorded {a:?}\n      ours {b:?}"))
        .chain((o.len() > r.len()).then(|| format!("ours has more lines: {:?}", &o[r.len()..])))
        .collect()
}

/// How an info command's value is compared.
fn info_value(cmd: &str, v: &str) -> String {
    let name = cmd.split([':', '/']).next().unwrap_or("");
    let kv_keys = |v: &str, sep: char| {
        v.split(sep)
            .filter(|x| !x.is_empty())
            .map(|x| x.split_once('=').map_or(x, |(k, _)| k).to_string())
            .collect::<Vec<_>>()
    };
    let pick = |v: &str, keys: &[&str]| {
        let pairs = info::kv(v, ';');
        keys.iter()
            .map(|k| {
                let got = pairs.iter().find(|(x, _)| x == k).map(|(_, v)| *v);
                format!("{k}={}", got.unwrap_or("<missing>"))
            })
            .collect::<Vec<_>>()
            .join(";")
    };
    match name {
        // Identity: the node's name, the cluster's name, the build's hashes and times.
        "node" | "cluster_principal" => {
            let ok = v.len() == 15 && v.bytes().all(|c| c.is_ascii_hexdigit());
            format!("<node name: {}>", if ok { "15 hex digits" } else { v })
        }
        "cluster-name" | "build_time" | "build_sha" | "build_ee_sha" | "build_os"
        | "build_arch" | "compatibility-id" => "<identity>".into(),
        // Server internals: only the form, `k=v;...`.
        "statistics" => format!("<k=v list: {}>", v.contains('=')),
        // The keys clients read, with their values.
        "namespace" => pick(
            v,
            &[
                "objects",
                "effective_replication_factor",
                "replication-factor",
            ],
        ),
        "get-config" => pick(v, &["batch-index-threads"]),
        "sindex-stat" => format!("{:?} {}", kv_keys(v, ';'), pick(v, &["load_pct"])),
        // Sets the recorded server kept from its history (objects=0) are left out.
        "sets" => {
            let mut items: Vec<String> = v
                .split(';')
                // `bar`'s 200,000 records are in no capture.
                .filter(|x| {
                    !x.is_empty() && !x.contains(":objects=0:") && !x.starts_with("ns=bar:")
                })
                .map(|x| {
                    let pairs = info::kv(x, ':');
                    let get = |k: &str| pairs.iter().find(|(a, _)| *a == k).map_or("", |p| p.1);
                    format!(
                        "{:?} set={} objects={} sindexes={}",
                        kv_keys(x, ':'),
                        get("set"),
                        get("objects"),
                        get("sindexes")
                    )
                })
                .collect();
            items.sort();
            items.join("\n")
        }
        // The recorded hashes are not the SHA-1 of the content, which as-testd sends; no client
        // reads them but to compare with what it put, so only their form is compared.
        "udf-list" => v
            .split(';')
            .map(|item| {
                item.split(',')
                    .map(|kv| match kv.split_once('=') {
                        Some(("hash", h)) if h.len() == 40 => "hash=<40 hex>".to_string(),
                        _ => kv.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(";"),
        // A list whose order the server does not promise.
        "sindex-list" => {
            let mut items: Vec<&str> = v.split(';').collect();
            items.sort();
            items.join(";")
        }
        "peers-clear-std" | "peers-clear-alt" => {
            // generation, the default port, then the peers.
            let mut parts = v.splitn(3, ',');
            let (g, _, rest) = (parts.next(), parts.next(), parts.next());
            format!("{},<port>,{}", g.unwrap_or(""), rest.unwrap_or(""))
        }
        _ => v.to_string(),
    }
}

fn norm_info(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for line in text.split_terminator('\n') {
        let (cmd, v) = line.split_once('\t').unwrap_or((line, "<no tab>"));
        let v = port_free(v);
        out.push(format!("{cmd}\t{}", info_value(cmd, &v)));
    }
    if !text.is_empty() && !text.ends_with('\n') {
        out.push("<no final newline>".into());
    }
    out
}

/// A recorded `sindex-list` that lacks indexes ours lists and is otherwise the same: index
/// definitions reach a real server's list asynchronously, so a list taken right after another
/// connection's `sindex-create` was answered `ok` may not show it yet (asrestore creates from
/// several threads at once); as-testd lists an index as soon as it is created.
fn sindex_list_behind(recorded: &str, ours: &str) -> bool {
    let items = |l: &str| -> Option<(String, Vec<String>)> {
        let (cmd, v) = l.split_once('\t')?;
        cmd.starts_with("sindex-list")
            .then(|| (cmd.to_string(), v.split(';').map(str::to_string).collect()))
    };
    match (items(recorded), items(ours)) {
        (Some((a, r)), Some((b, o))) => a == b && r.iter().all(|i| i.is_empty() || o.contains(i)),
        _ => false,
    }
}

/// Addresses name the server's port, which is ours to choose.
fn port_free(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..i + 10]);
        rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("<port>");
    }
    out + rest
}
