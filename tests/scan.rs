//! as-scan against the bundled test server, with data written and read by an independent
//! client (the official `aerospike` crate): every particle type, each scope flag, refused
//! combinations, faults, and error exits.

mod support;

use aerospike::{
    as_key, Bin, Bins, Client, ClientPolicy, Expiration, PartitionFilter, QueryPolicy, Statement,
    Value, WritePolicy,
};
use as_common::asb::{AsbItem, AsbReader};
use as_common::record::{particle, Record};
use as_common::stream::{Frame, StreamReader};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use support::{run, TestServer};

const SCAN: &str = env!("CARGO_BIN_EXE_as-scan");
const ENCODE: &str = env!("CARGO_BIN_EXE_as-encode");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn client(s: &TestServer) -> Client {
    Client::new(&ClientPolicy::default(), &s.host())
        .await
        .expect("the aerospike crate connects to as-testd")
}

/// What a backup stream holds: records by digest, plus index and UDF counts.
struct Backup {
    records: BTreeMap<[u8; 20], Record<'static>>,
    sindexes: usize,
    udfs: usize,
    done: usize,
}

fn read_stream(bytes: &[u8]) -> Backup {
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

fn scan(s: &TestServer, args: &[&str]) -> Backup {
    let host = s.host();
    let mut all = vec!["-h", &host[..]];
    all.extend_from_slice(args);
    let (code, out, err) = run(SCAN, &all, b"");
    assert_eq!(code, 0, "as-scan {args:?} failed: {err}");
    read_stream(&out)
}

fn int(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Loads `n` plain records into `set` (integer keys, stored), bins `i` = key and `s` = "v<key>".
async fn load(c: &Client, set: &str, keys: std::ops::Range<i64>, ttl: Option<u32>) {
    let mut wp = WritePolicy::default();
    wp.send_key = true;
    if let Some(t) = ttl {
        wp.expiration = Expiration::Seconds(t);
    }
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

#[test]
fn every_particle_type_survives_scan_and_encode() {
    let s = TestServer::start(3, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    let mut wp = WritePolicy::default();
    wp.send_key = true;
    let mut map = HashMap::new();
    map.insert(Value::String("a".into()), Value::Int(1));
    let bins = vec![
        Bin::new("max", Value::Int(i64::MAX)),
        Bin::new("min", Value::Int(i64::MIN)),
        Bin::new("nan", Value::from(f64::NAN)),
        Bin::new("neg0", Value::from(-0.0f64)),
        Bin::new("inf", Value::from(f64::INFINITY)),
        Bin::new("str", Value::String("héllo\nwörld \\ end".into())),
        Bin::new("blob", Value::Blob(vec![0, 10, 0, 255, 32])),
        Bin::new("empty", Value::Blob(vec![])),
        Bin::new("yes", Value::Bool(true)),
        Bin::new(
            "geo",
            Value::GeoJson(r#"{"type":"Point","coordinates":[1.5,2.5]}"#.into()),
        ),
        Bin::new("hll", Value::Hll(vec![0, 8, 1, 2, 3])),
        Bin::new(
            "list",
            Value::List(vec![Value::Int(1), Value::String("a".into())]),
        ),
        Bin::new("map", Value::HashMap(map)),
        Bin::new(
            "java",
            Value::Unknown(particle::JAVA_BLOB, vec![0xac, 0xed, 0, 5]),
        ),
        Bin::new("with space", Value::Int(7)),
    ];
    rt.block_on(async {
        c.put(&wp, &as_key!("test", "types", "k1"), &bins)
            .await
            .unwrap();
        c.put(
            &wp,
            &as_key!("test", "types", vec![1u8, 0, 10]),
            &[Bin::new("b", Value::Int(1))],
        )
        .await
        .unwrap();
        // No stored key, no set, a TTL.
        let mut plain = WritePolicy::default();
        plain.expiration = Expiration::Seconds(86400);
        c.put(
            &plain,
            &as_key!("test", "", 42),
            &[Bin::new("v", Value::Int(42))],
        )
        .await
        .unwrap();
        // The crate reads back what it wrote through the test server.
        let rec = c
            .get(
                &aerospike::ReadPolicy::default(),
                &as_key!("test", "types", "k1"),
                Bins::All,
            )
            .await
            .unwrap();
        assert_eq!(rec.bins.get("max"), Some(&Value::Int(i64::MAX)));
        assert_eq!(
            rec.bins.get("str"),
            Some(&Value::String("héllo\nwörld \\ end".into()))
        );
    });
    let b = scan(&s, &["-n", "test"]);
    assert_eq!(b.records.len(), 3);
    let k1 = b
        .records
        .values()
        .find(|r| r.bins.len() == bins.len())
        .expect("the typed record");
    assert_eq!(k1.set.as_deref(), Some(&b"types"[..]));
    assert_eq!(
        k1.key.as_ref().map(|k| (k.ptype, k.data.to_vec())),
        Some((particle::STRING, b"k1".to_vec()))
    );
    let get = |n: &str| {
        k1.bins
            .iter()
            .find(|b| &b.name[..] == n.as_bytes())
            .map(|b| (b.value.ptype, b.value.data.to_vec()))
            .unwrap()
    };
    assert_eq!(get("max"), (particle::INTEGER, int(i64::MAX)));
    assert_eq!(get("min"), (particle::INTEGER, int(i64::MIN)));
    assert_eq!(get("nan").0, particle::FLOAT);
    assert!(f64::from_be_bytes(get("nan").1.try_into().unwrap()).is_nan());
    assert_eq!(
        get("neg0"),
        (particle::FLOAT, (-0.0f64).to_bits().to_be_bytes().to_vec())
    );
    assert_eq!(
        get("str"),
        (particle::STRING, "héllo\nwörld \\ end".as_bytes().to_vec())
    );
    assert_eq!(get("blob"), (particle::BLOB, vec![0, 10, 0, 255, 32]));
    assert_eq!(get("empty"), (particle::BLOB, vec![]));
    assert_eq!(get("yes"), (particle::BOOL, vec![1]));
    assert_eq!(get("geo").0, particle::GEOJSON);
    assert_eq!(get("hll"), (particle::HLL, vec![0, 8, 1, 2, 3]));
    // Lists and maps: the client's msgpack, byte for byte (strings carry the type byte 3).
    assert_eq!(
        get("list"),
        (particle::LIST, vec![0x92, 0x01, 0xa2, 0x03, b'a'])
    );
    assert_eq!(
        get("map"),
        (particle::MAP, vec![0x81, 0xa2, 0x03, b'a', 0x01])
    );
    assert_eq!(get("java"), (particle::JAVA_BLOB, vec![0xac, 0xed, 0, 5]));
    assert_eq!(get("with space"), (particle::INTEGER, int(7)));
    // Bins come in the order they were written.
    let names: Vec<&[u8]> = k1.bins.iter().map(|b| &b.name[..]).collect();
    assert_eq!(names[..3], [&b"max"[..], b"min", b"nan"]);

    let blob_key = b
        .records
        .values()
        .find(|r| r.key.as_ref().is_some_and(|k| k.ptype == particle::BLOB))
        .unwrap();
    assert_eq!(blob_key.key.as_ref().unwrap().data.as_ref(), &[1, 0, 10]);
    let bare = b.records.values().find(|r| r.set.is_none()).unwrap();
    assert!(bare.key.is_none());
    assert!(bare.expiry > 0, "a TTL record has an absolute expiry");
    assert_eq!(b.done, 4096);

    // Through as-encode: a valid ASB file whose digests are what the client computes.
    let host = s.host();
    let (code, stream, err) = run(SCAN, &["-h", &host, "-n", "test"], b"");
    assert_eq!(code, 0, "{err}");
    let (code, asb, err) = run(ENCODE, &[], &stream);
    assert_eq!(code, 0, "{err}");
    let mut r = AsbReader::new(&asb[..]).unwrap();
    assert!(r.header().first_file);
    let mut digests = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        if let AsbItem::Record(rec) = item {
            digests.push(rec.digest);
        }
    }
    assert!(digests.contains(&as_key!("test", "types", "k1").digest()));
    assert!(digests.contains(&as_key!("test", "", 42).digest()));
}

#[test]
fn scan_matches_the_crate_query_across_nodes() {
    let s = TestServer::start(3, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "a", 0..300, None));
    rt.block_on(load(&c, "b", 300..400, None));
    let crate_count = rt.block_on(async {
        let rs = c
            .query(
                &QueryPolicy::default(),
                PartitionFilter::all(),
                Statement::new("test", "", Bins::All),
            )
            .await
            .unwrap();
        let mut st = rs.into_stream();
        let mut n = 0;
        while let Some(r) = st.next().await {
            r.unwrap();
            n += 1;
        }
        n
    });
    assert_eq!(crate_count, 400);
    for w in ["1", "4"] {
        let b = scan(&s, &["-n", "test", "-w", w]);
        assert_eq!(b.records.len(), 400, "parallel {w}");
        assert_eq!(b.done, 4096);
    }
}
