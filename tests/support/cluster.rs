//! Helpers of the tests that scan the bundled test server with data written by the official
//! `aerospike` crate: a runtime and client, loading records, and reading what as-scan wrote.

use crate::{run, TestServer};
use aerospike::{as_key, Bin, Client, ClientPolicy, Expiration, Value, WritePolicy};
use as_common::record::Record;
use as_common::stream::{Frame, StreamReader};
use std::collections::BTreeMap;

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub async fn client(s: &TestServer) -> Client {
    Client::new(&ClientPolicy::default(), &s.host())
        .await
        .expect("the aerospike crate connects to as-testd")
}

/// What a backup stream holds: records by digest, plus index and UDF counts.
pub struct Backup {
    pub records: BTreeMap<[u8; 20], Record<'static>>,
    pub sindexes: usize,
    pub udfs: usize,
    pub done: usize,
}

pub fn read_stream(bytes: &[u8]) -> Backup {
    let mut r = StreamReader::new(bytes).expect("a record stream");
    let mut b = Backup {
        records: BTreeMap::new(),
        sindexes: 0,
        udfs: 0,
        done: 0,
    };
    while let Some(f) = r.next_frame().expect("a complete, valid stream") {
        match f {
            Frame::Record(rec) => {
                let d = rec.digest;
                assert!(
                    b.records.insert(d, rec.into_owned()).is_none(),
                    "record written twice"
                );
            }
            Frame::SIndex(_) => b.sindexes += 1,
            Frame::Udf(_) => b.udfs += 1,
            Frame::PartitionDone(_) => b.done += 1,
        }
    }
    b
}

pub fn scan(s: &TestServer, args: &[&str]) -> Backup {
    let host = s.host();
    let mut all = vec!["-h", &host[..]];
    all.extend_from_slice(args);
    let (code, out, err) = run(crate::tool("as-scan"), &all, b"");
    assert_eq!(code, 0, "as-scan {args:?} failed: {err}");
    read_stream(&out)
}

pub fn int(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Loads `n` plain records into `set` (integer keys, stored), bins `i` = key and `s` = "v<key>".
pub async fn load(c: &Client, set: &str, keys: std::ops::Range<i64>, ttl: Option<u32>) {
    let wp = WritePolicy {
        send_key: true,
        expiration: ttl.map_or(Expiration::NamespaceDefault, Expiration::Seconds),
        ..Default::default()
    };
    for k in keys {
        let key = as_key!("test", set, k);
        c.put(
            &wp,
            &key,
            &[
                Bin::new("i", Value::Int(k)),
                Bin::new("s", Value::String(format!("v{k}"))),
            ],
        )
        .await
        .unwrap();
    }
}

/// A server with three sets: a (100 records), b (50, with a TTL), c (10); an index per set and
/// a UDF module.
pub fn loaded() -> (TestServer, tokio::runtime::Runtime, Client) {
    let s = TestServer::start(2, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..100, None));
    rt.block_on(load(&c, "b", 100..150, Some(100_000)));
    rt.block_on(load(&c, "c", 150..160, None));
    for set in ["a", "b"] {
        let r = s.info(
            0,
            &format!("sindex-create:ns=test;set={set};indexname=idx_{set};bin=i;type=numeric"),
        );
        assert_eq!(r, "ok");
    }
    let lua = base64_simd::STANDARD.encode_to_string(b"function f(r)\n  return 1\nend\n");
    s.info(
        0,
        &format!("udf-put:filename=f.lua;content={lua};content-len=29;udf-type=LUA;"),
    );
    (s, rt, c)
}

pub fn sets_of(b: &Backup) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in b.records.values() {
        *m.entry(String::from_utf8_lossy(r.set.as_deref().unwrap_or_default()).into_owned())
            .or_default() += 1;
    }
    m
}
