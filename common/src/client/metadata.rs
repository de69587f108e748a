//! Secondary-index definitions (`sindex-list:ns=..;b64=true`) and UDF modules (`udf-list`,
//! `udf-get`), as asbackup reads them.

use super::conn::Conn;
use super::ClientError;
use crate::record::{IndexDataType, IndexType, SIndex, Udf};
use crate::wire::info::kv;
use base64_simd::STANDARD as B64;
use std::borrow::Cow;

/// Parses one `sindex-list` item; `None` for index kinds a backup cannot express.
pub fn parse_sindex(item: &str) -> Result<SIndex, String> {
    let f = kv(item, ':');
    let get = |k: &str| f.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let need = |k: &str| get(k).ok_or_else(|| format!("index listing without {k}: {item}"));
    let index_type = match need("indextype")?.to_ascii_lowercase().as_str() {
        "default" | "none" => IndexType::Default,
        "list" => IndexType::List,
        "mapkeys" => IndexType::MapKeys,
        "mapvalues" => IndexType::MapValues,
        other => return Err(format!("unknown index type {other:?}")),
    };
    let data_type = match need("type")?.to_ascii_lowercase().as_str() {
        "numeric" | "int signed" => IndexDataType::Numeric,
        "string" | "text" => IndexDataType::String,
        "geo2dsphere" | "geojson" => IndexDataType::Geo,
        "blob" => IndexDataType::Blob,
        other => return Err(format!("unknown index data type {other:?}")),
    };
    // Servers spell "no set" as NULL, and 8.1 as null (docs/asb-format.md#set-null).
    let set = get("set").filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("null"));
    let context = get("context").filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("null"));
    Ok(SIndex {
        namespace: need("ns")?.as_bytes().to_vec(),
        set: set.map(|s| s.as_bytes().to_vec()),
        name: need("indexname")?.as_bytes().to_vec(),
        index_type,
        bin: need("bin")?.as_bytes().to_vec(),
        data_type,
        context: context.map(|c| c.as_bytes().to_vec()),
        // Expression indexes are backed up as asbackup backs them up (by their bin).
        expression: None,
    })
}

/// The cluster's index named `name` in `ns`, with its expression, to compare a backup's index
/// with before restoring it. Items this reader does not know (a newer index type) are passed
/// over rather than failing the restore.
pub fn find_sindex(conn: &mut Conn, ns: &str, name: &[u8]) -> Result<Option<SIndex>, ClientError> {
    let list = conn.info1(&format!("sindex-list:ns={ns};b64=true"))?;
    for item in list.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let Ok(mut s) = parse_sindex(item) else {
            continue;
        };
        if s.name == name {
            s.expression = kv(item, ':')
                .into_iter()
                .find(|(k, v)| *k == "exp" && !v.is_empty() && !v.eq_ignore_ascii_case("null"))
                .map(|(_, v)| v.as_bytes().to_vec());
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// The namespace's indexes; with `sets`, only those on one of them (as asbackup does: indexes
/// without a set are then skipped). Returns the indexes kept and how many were skipped.
pub fn sindexes(
    conn: &mut Conn,
    namespace: &str,
    sets: &[String],
) -> Result<(Vec<SIndex>, usize), ClientError> {
    let list = conn.info1(&format!("sindex-list:ns={namespace};b64=true"))?;
    let mut kept = Vec::new();
    let mut skipped = 0;
    for item in list.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let s = parse_sindex(item).map_err(|e| ClientError::Protocol(conn.addr.to_string(), e))?;
        if !sets.is_empty()
            && !s
                .set
                .as_ref()
                .is_some_and(|x| sets.iter().any(|w| w.as_bytes() == x.as_slice()))
        {
            skipped += 1;
            continue;
        }
        kept.push(s);
    }
    Ok((kept, skipped))
}

/// Every UDF module with its content.
pub fn udfs(conn: &mut Conn) -> Result<Vec<Udf<'static>>, ClientError> {
    let list = conn.info1("udf-list")?;
    let mut out = Vec::new();
    for item in list.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let f = kv(item, ',');
        let Some(name) = f
            .iter()
            .find(|(k, _)| *k == "filename")
            .map(|(_, v)| v.to_string())
        else {
            continue;
        };
        let reply = conn.info1(&format!("udf-get:filename={name}"))?;
        let content = kv(&reply, ';')
            .into_iter()
            .find(|(k, _)| *k == "content")
            .and_then(|(_, v)| B64.decode_to_vec(v).ok())
            .ok_or_else(|| {
                ClientError::Protocol(
                    conn.addr.to_string(),
                    format!("no content for UDF {name}: {reply}"),
                )
            })?;
        out.push(Udf {
            kind: b'L',
            name: Cow::Owned(name.into_bytes()),
            content: Cow::Owned(content),
        });
    }
    Ok(out)
}

/// The `sindex-create` command for `s` in namespace `ns`, in the form asrestore sends it
/// (`asrestore-batch/*/conn-03..14`), but an index of no set gets no `set=` at all: asrestore's
/// `set=null` makes an index on a set named "null" (server-behaviours S17).
pub fn sindex_create(s: &SIndex, ns: &str) -> String {
    let mut c = format!("sindex-create:namespace={ns}");
    if let Some(set) = &s.set {
        c += &format!(";set={}", String::from_utf8_lossy(set));
    }
    c += &format!(";indexname={}", String::from_utf8_lossy(&s.name));
    if let Some(ctx) = &s.context {
        c += &format!(";context={}", String::from_utf8_lossy(ctx));
    }
    // Not in any capture: the server's `exp=` parameter, as it lists the index
    // (server-behaviours S16).
    if let Some(exp) = &s.expression {
        c += &format!(";exp={}", String::from_utf8_lossy(exp));
    }
    let itype = match s.index_type {
        IndexType::Default => "DEFAULT",
        IndexType::List => "LIST",
        IndexType::MapKeys => "MAPKEYS",
        IndexType::MapValues => "MAPVALUES",
    };
    let dtype = match s.data_type {
        IndexDataType::Numeric => "NUMERIC",
        IndexDataType::String => "STRING",
        IndexDataType::Geo => "GEO2DSPHERE",
        IndexDataType::Blob => "BLOB",
    };
    c += &format!(";indextype={itype}");
    if !s.bin.is_empty() {
        c += &format!(";bin={}", String::from_utf8_lossy(&s.bin));
    }
    c + &format!(";type={dtype}")
}

/// Whether two definitions make the same index (namespaces aside), as asrestore compares them:
/// set, types, bin and context.
pub fn same_index(a: &SIndex, b: &SIndex) -> bool {
    (
        &a.set,
        a.index_type,
        &a.bin,
        a.data_type,
        &a.context,
        &a.expression,
    ) == (
        &b.set,
        b.index_type,
        &b.bin,
        b.data_type,
        &b.context,
        &b.expression,
    )
}

/// The `udf-put` command, as asrestore sends it (`asrestore-batch/*/conn-03..14`).
pub fn udf_put(u: &Udf) -> String {
    let b64 = B64.encode_to_string(&u.content);
    format!(
        "udf-put:filename={};content={b64};content-len={};udf-type=LUA;",
        String::from_utf8_lossy(&u.name),
        b64.len()
    )
}

/// Whether a `sindex-stat` answer shows the index fully built (`load_pct=100`,
/// server-behaviours S16).
pub fn index_built(stat: &str) -> bool {
    kv(stat, ';')
        .iter()
        .any(|(k, v)| *k == "load_pct" && *v == "100")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands asrestore sent in the capture, but for the set-less index.
    #[test]
    fn create_commands_as_captured() {
        let parse = |i| parse_sindex(i).unwrap();
        let s = parse("ns=test:indexname=idx_ctx_map:set=edge:bin=om:type=string:indextype=default:context=kiKiA3o=:exp=null:state=RW");
        assert_eq!(sindex_create(&s, "test"), "sindex-create:namespace=test;set=edge;indexname=idx_ctx_map;context=kiKiA3o=;indextype=DEFAULT;bin=om;type=STRING");
        let s = parse("ns=test:indexname=idx_list:set=edge:bin=l:type=string:indextype=list:context=null:exp=null:state=RW");
        assert_eq!(sindex_create(&s, "other"), "sindex-create:namespace=other;set=edge;indexname=idx_list;indextype=LIST;bin=l;type=STRING");
        let s = parse("ns=test:indexname=idx_noset:set=null:bin=v:type=numeric:indextype=default:context=null:exp=null:state=RW");
        assert_eq!(
            sindex_create(&s, "test"),
            "sindex-create:namespace=test;indexname=idx_noset;indextype=DEFAULT;bin=v;type=NUMERIC"
        );
        let u = Udf {
            kind: b'L',
            name: Cow::Borrowed(b"corpus_a.lua"),
            content: Cow::Borrowed(b"function one(r)\n  return 1\nend\n"),
        };
        assert_eq!(udf_put(&u), "udf-put:filename=corpus_a.lua;content=ZnVuY3Rpb24gb25lKHIpCiAgcmV0dXJuIDEKZW5kCg==;content-len=44;udf-type=LUA;");
        assert!(index_built(
            "entries=13;used_bytes=0;load_pct=100;load_time=0"
        ));
        assert!(!index_built("entries=13;load_pct=42"));
    }

    #[test]
    fn sindex_items_as_servers_list_them() {
        let s = parse_sindex("ns=test:indexname=idx:set=null:bin=v:type=numeric:indextype=default:context=NULL:state=RW").unwrap();
        assert_eq!(s.set, None);
        assert_eq!(s.context, None);
        let s = parse_sindex(
            "ns=test:indexname=i2:set=demo:bin=l:type=string:indextype=list:context=khAA:state=RW",
        )
        .unwrap();
        assert_eq!(s.set.as_deref(), Some(&b"demo"[..]));
        assert_eq!(s.index_type, IndexType::List);
        assert_eq!(s.context.as_deref(), Some(&b"khAA"[..]));
        assert!(parse_sindex("ns=test:indexname=x:bin=b:type=weird:indextype=default").is_err());
    }
}
