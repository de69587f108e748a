//! as-scan against the bundled test server, with data written and read by an independent
//! client (the official `aerospike` crate): every particle type, each scope flag, refused
//! combinations, faults, and error exits.

use as_test_support as support;

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
    let (code, out, err) = run(support::tool("as-scan"), &all, b"");
    assert_eq!(code, 0, "as-scan {args:?} failed: {err}");
    read_stream(&out)
}

fn int(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Loads `n` plain records into `set` (integer keys, stored), bins `i` = key and `s` = "v<key>".
async fn load(c: &Client, set: &str, keys: std::ops::Range<i64>, ttl: Option<u32>) {
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

#[test]
fn every_particle_type_survives_scan_and_encode() {
    let s = TestServer::start(3, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    let wp = WritePolicy {
        send_key: true,
        ..Default::default()
    };
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
        // Raw particles as a server stores them: an ordered list and a key-value-ordered map.
        Bin::new(
            "olist",
            Value::Unknown(particle::LIST, vec![0x93, 0xc7, 0x00, 0x01, 0x01, 0x02]),
        ),
        Bin::new(
            "kvmap",
            Value::Unknown(
                particle::MAP,
                vec![0x82, 0xc7, 0x00, 0x03, 0xc0, 0xa2, 0x03, b'k', 0x05],
            ),
        ),
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
        let plain = WritePolicy {
            expiration: Expiration::Seconds(86400),
            ..Default::default()
        };
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
    // GeoJSON: the text only, without the server's cell header (as asbackup writes it).
    assert_eq!(
        get("geo"),
        (
            particle::GEOJSON,
            br#"{"type":"Point","coordinates":[1.5,2.5]}"#.to_vec()
        )
    );
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
    assert_eq!(
        get("olist"),
        (particle::LIST, vec![0x93, 0xc7, 0x00, 0x01, 0x01, 0x02])
    );
    assert_eq!(
        get("kvmap"),
        (
            particle::MAP,
            vec![0x82, 0xc7, 0x00, 0x03, 0xc0, 0xa2, 0x03, b'k', 0x05]
        )
    );
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
    let (code, stream, err) = run(support::tool("as-scan"), &["-h", &host, "-n", "test"], b"");
    assert_eq!(code, 0, "{err}");
    let (code, asb, err) = run(support::tool("as-encode"), &[], &stream);
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

/// A server with three sets: a (100 records), b (50, with a TTL), c (10); an index per set and
/// a UDF module.
fn loaded() -> (TestServer, tokio::runtime::Runtime, Client) {
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

fn sets_of(b: &Backup) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in b.records.values() {
        *m.entry(String::from_utf8_lossy(r.set.as_deref().unwrap_or_default()).into_owned())
            .or_default() += 1;
    }
    m
}

#[test]
fn scope_flags() {
    let (s, _rt, _c) = loaded();
    let all = scan(&s, &["-n", "test"]);
    assert_eq!(all.records.len(), 160);
    assert_eq!((all.sindexes, all.udfs), (2, 1));

    let one = scan(&s, &["-n", "test", "-s", "a"]);
    assert_eq!(sets_of(&one), BTreeMap::from([("a".into(), 100)]));
    assert_eq!(one.sindexes, 1, "only the index of the chosen set");
    let two = scan(&s, &["-n", "test", "-s", "a,b"]);
    assert_eq!(
        sets_of(&two),
        BTreeMap::from([("a".into(), 100), ("b".into(), 50)])
    );

    let bins = scan(&s, &["-n", "test", "-B", "i"]);
    assert!(bins
        .records
        .values()
        .all(|r| r.bins.len() == 1 && &r.bins[0].name[..] == b"i"));
    let nobins = scan(&s, &["-n", "test", "-x"]);
    assert_eq!(nobins.records.len(), 160);
    assert!(nobins.records.values().all(|r| r.bins.is_empty()));

    let low = scan(&s, &["-n", "test", "-X", "0-2048"]);
    let want: Vec<_> = all
        .records
        .keys()
        .filter(|d| as_common::record::partition_of(d) < 2048)
        .collect();
    assert_eq!(low.records.keys().collect::<Vec<_>>(), want);
    assert_eq!(low.done, 2048);

    // After a digest: only later records of its partition (and, with -D, later partitions).
    let pivot = *all.records.keys().nth(80).unwrap();
    let p = as_common::record::partition_of(&pivot);
    let b64 = base64_simd::STANDARD.encode_to_string(pivot);
    let after = scan(&s, &["-n", "test", "-X", &b64]);
    assert!(after
        .records
        .keys()
        .all(|d| as_common::record::partition_of(d) == p && *d > pivot));
    let d = scan(&s, &["-n", "test", "-D", &b64]);
    let want: Vec<_> = all
        .records
        .keys()
        .filter(|d| {
            let q = as_common::record::partition_of(d);
            q > p || (q == p && **d > pivot)
        })
        .collect();
    assert_eq!(d.records.keys().collect::<Vec<_>>(), want);

    assert_eq!(scan(&s, &["-n", "test", "-M", "10"]).records.len(), 10);
    // The limit holds across parallel groups.
    assert_eq!(
        scan(&s, &["-n", "test", "-M", "25", "-w", "4"])
            .records
            .len(),
        25
    );
    // A filter expression given as base64 (here: set name is "c").
    let exp = base64_simd::STANDARD
        .encode_to_string(as_common::client::filter::exp::set_in(&["c".to_string()]));
    assert_eq!(
        sets_of(&scan(&s, &["-n", "test", "-f", &exp])),
        BTreeMap::from([("c".into(), 10)])
    );
    let nottl = scan(&s, &["-n", "test", "--no-ttl-only"]);
    assert_eq!(
        sets_of(&nottl),
        BTreeMap::from([("a".into(), 100), ("c".into(), 10)])
    );
    assert_eq!(
        scan(&s, &["-n", "test", "-a", "2099-01-01"]).records.len(),
        0
    );
    assert_eq!(
        scan(&s, &["-n", "test", "-b", "2099-01-01"]).records.len(),
        160
    );
    assert_eq!(
        scan(
            &s,
            &[
                "-n",
                "test",
                "-a",
                "2000-01-01",
                "-b",
                "2099-01-01_00:00:00"
            ]
        )
        .records
        .len(),
        160
    );

    let meta = scan(&s, &["-n", "test", "-R"]);
    assert_eq!((meta.records.len(), meta.sindexes, meta.udfs), (0, 2, 1));
    let bare = scan(&s, &["-n", "test", "-I", "-u"]);
    assert_eq!((bare.records.len(), bare.sindexes, bare.udfs), (160, 0, 0));
    assert_eq!(
        scan(&s, &["-n", "test", "-w", "8", "-L", "100000"])
            .records
            .len(),
        160
    );
}

#[test]
fn refused_combinations_exit_2() {
    let s = TestServer::start(1, &[]);
    let host = s.host();
    let d = "7JEZLUt/jONdXXjTS8ply6qqyWA=";
    for (args, why) in [
        (vec!["-X", "0", "-D", d], "cannot be used together"),
        (
            vec!["-f", "kgEC", "-s", "a,b"],
            "--filter-exp cannot be combined",
        ),
        (
            vec!["-f", "kgEC", "-a", "2020-01-01"],
            "--filter-exp cannot be combined",
        ),
        (
            vec!["-f", "kgEC", "--no-ttl-only"],
            "--filter-exp cannot be combined",
        ),
        (vec!["-X", "4096"], "out of range"),
        (vec!["-X", "4000-200"], "past partition 4095"),
        (vec!["-X", "0-10,5"], "overlap"),
        (vec!["-X", "notadigest"], "invalid digest"),
        (vec!["-a", "yesterday"], "invalid time"),
        (
            vec!["-a", "2024-01-02", "-b", "2024-01-01"],
            "must be later",
        ),
        (vec!["-w", "0"], "parallel"),
        (vec!["-w", "101"], "parallel"),
        (vec!["-M", "-1"], "-1"),
        (vec!["-A", "PKI"], "needs --tls-enable"),
        (vec!["-h", "host:0"], "bad port"),
    ] {
        let mut all = if args.contains(&"-h") {
            vec!["-n", "test"]
        } else {
            vec!["-h", &host, "-n", "test"]
        };
        all.extend(args.iter().copied());
        let (code, out, err) = run(support::tool("as-scan"), &all, b"");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} wrote output");
    }
}

/// Every record exactly once, however the scan was disturbed.
#[test]
fn faults_lose_and_double_nothing() {
    let s = TestServer::start(3, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "f", 0..1000, None));
    let want = scan(&s, &["-n", "test"])
        .records
        .into_keys()
        .collect::<Vec<_>>();
    assert_eq!(want.len(), 1000);
    let check = |b: Backup, what: &str| {
        let got: Vec<_> = b.records.into_keys().collect();
        let lost = want.iter().filter(|d| !got.contains(d)).count();
        let extra = got.iter().filter(|d| !want.contains(d)).count();
        assert_eq!(
            (lost, extra, got.len()),
            (0, 0, 1000),
            "{what}: lost, unexpected, total"
        );
        assert_eq!(b.done, 4096, "{what}");
    };

    assert_eq!(s.info(0, "testd-fault:drop-after=50;node=0"), "ok");
    check(
        scan(&s, &["-n", "test"]),
        "connection dropped after 50 records",
    );

    s.info(0, "testd-fault:unavailable=0-300;times=2");
    check(
        scan(&s, &["-n", "test", "-w", "4"]),
        "partitions unavailable twice",
    );

    s.info(0, "testd-fault:stall=3000;node=1");
    check(
        scan(&s, &["-n", "test", "--socket-timeout", "300"]),
        "a node stalled past the socket timeout",
    );

    // A node taken away mid-scan: its partitions move to the others.
    let host = s.host();
    let killer = {
        let port = s.ports[2];
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let mut st = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            use std::io::Write;
            st.write_all(&as_common::wire::info::request(&["testd-kill:node=1"]))
                .unwrap();
        })
    };
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "-L", "1000"],
        b"",
    );
    killer.join().unwrap();
    assert_eq!(code, 0, "{err}");
    check(read_stream(&out), "a node taken away mid-scan");
    s.info(0, "testd-revive:node=1");

    // Away when the scan begins (so not among the nodes it found), back mid-scan: with one
    // copy its partitions are only there, and the scan must find it among the peers.
    assert_eq!(s.info(0, "testd-kill:node=2"), "ok");
    let t = later(s.ports[0], &[(300, "testd-revive:node=2")]);
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "-L", "1000"],
        b"",
    );
    t.join().unwrap();
    assert_eq!(code, 0, "{err}");
    check(
        read_stream(&out),
        "a node away at the start that comes back",
    );

    // Unavailable for longer than the retries: a clear failure and no trailer.
    s.info(0, "testd-fault:unavailable=7-7;times=100");
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "--max-retries", "2"],
        b"",
    );
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("not scanned after 2 retries"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        StreamReader::new(&out[..])
            .and_then(|mut r| {
                while r.next_frame()?.is_some() {}
                Ok(())
            })
            .is_err(),
        "a failed scan must not end its stream"
    );
    s.info(0, "testd-fault:clear=1");
}

#[test]
fn connection_errors_have_their_own_exit_codes() {
    let s = TestServer::start(1, &["--user", "admin", "--password", "s3cret"]);
    let host = s.host();
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "-U", "admin", "--password=wrong"],
        b"",
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("wrong password"), "{err}");
    assert!(out.is_empty());
    assert!(!err.contains("wrong\""), "the password is not echoed");
    let o = std::process::Command::new(support::tool("as-scan"))
        .args(["-h", &host, "-n", "test", "-U", "admin"])
        .env("AS_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_stream(&o.stdout).records.len(), 0);
    // Without credentials the server refuses to answer.
    let (code, _, err) = run(support::tool("as-scan"), &["-h", &host, "-n", "test"], b"");
    assert_ne!(code, 0, "{err}");

    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", "127.0.0.1:1", "-n", "test"],
        b"",
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no seed host answered"), "{err}");
    assert!(out.is_empty());
    let free = TestServer::start(1, &[]);
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &free.host(), "-n", "nosuch"],
        b"",
    );
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("namespace \"nosuch\" does not exist"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn node_list_backs_up_the_partitions_of_those_nodes() {
    let s = TestServer::start(3, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "n", 0..300, None));
    let all = scan(&s, &["-n", "test"]);
    let node1 = format!("127.0.0.1:{}", s.ports[1]);
    let b = scan(&s, &["-n", "test", "-l", &node1]);
    // as-testd deals partitions round-robin: node 1 masters p % 3 == 1.
    let want: Vec<_> = all
        .records
        .keys()
        .filter(|d| as_common::record::partition_of(d) % 3 == 1)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(b.records.keys().collect::<Vec<_>>(), want);
    assert_eq!(b.done, (0..4096).filter(|p| p % 3 == 1).count());
    let (code, _, err) = run(
        support::tool("as-scan"),
        &["-h", &s.host(), "-n", "test", "-l", "127.0.0.1:1"],
        b"",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a node of the cluster"), "{err}");
    let (code, _, err) = run(
        support::tool("as-scan"),
        &["-h", &s.host(), "-n", "test", "-l", &node1, "-X", "0"],
        b"",
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_server_too_old_for_expressions_is_refused() {
    let s = TestServer::start(1, &["--build", "5.1.0.4"]);
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &s.host(), "-n", "test", "--no-ttl-only"],
        b"",
    );
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("too old for --no-ttl-only"), "{err}");
    assert!(
        out.is_empty(),
        "nothing is written before the scope is accepted"
    );
    // Without such filters the old server is fine.
    assert_eq!(scan(&s, &["-n", "test"]).records.len(), 0);
}

#[test]
fn tls_with_every_login_mode() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let s = TestServer::start(
        2,
        &[
            "--tls",
            d,
            "--user",
            "admin",
            "--password",
            "s3",
            "--sample",
            "200",
        ],
    );
    // A second server only to get a CA that did not sign the first one's certificates.
    let _o = TestServer::start(1, &["--tls", other.path().to_str().unwrap()]);
    let ca = format!("{d}/ca.pem");
    let seed = format!("127.0.0.1:testd:{}", s.ports[0]);
    let ok = |args: &[&str]| {
        let mut all = vec!["-n", "test", "--tls-enable", "--tls-cafile", &ca];
        all.extend_from_slice(args);
        let (code, out, err) = run(support::tool("as-scan"), &all, b"");
        assert_eq!(code, 0, "{args:?}: {err}");
        let b = read_stream(&out);
        assert!(
            b.records.len() > 190,
            "{args:?}: {} records",
            b.records.len()
        );
    };
    ok(&["-h", &seed, "-U", "admin", "--password=s3"]);
    ok(&[
        "-h",
        &seed,
        "-U",
        "admin",
        "--password=s3",
        "-A",
        "EXTERNAL",
        "--tls-protocols",
        "TLSv1.2",
    ]);
    let plain_seed = format!("127.0.0.1:{}", s.ports[0]);
    let (cert, key) = (format!("{d}/client.pem"), format!("{d}/client.key"));
    ok(&[
        "-h",
        &plain_seed,
        "--tls-name",
        "testd",
        "-A",
        "PKI",
        "--tls-certfile",
        &cert,
        "--tls-keyfile",
        &key,
    ]);

    // A certificate from another CA: refused, exit 4, one line.
    let wrong = format!("{}/ca.pem", other.path().display());
    let (code, out, err) = run(
        support::tool("as-scan"),
        &[
            "-h",
            &seed,
            "-n",
            "test",
            "--tls-enable",
            "--tls-cafile",
            &wrong,
            "-U",
            "admin",
            "--password=s3",
        ],
        b"",
    );
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("TLS with") && err.contains("certificate"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.is_empty());
    // Refused up front, as usage errors, with nothing written.
    let refused = |args: &[&str], want: &str| {
        let mut all = vec!["-h", seed.as_str(), "-n", "test"];
        all.extend_from_slice(args);
        let (code, out, err) = run(support::tool("as-scan"), &all, b"");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(out.is_empty());
    };
    refused(&["-A", "PKI"], "needs --tls-enable");
    refused(
        &["--tls-enable", "--tls-cafile", &ca, "-A", "PKI"],
        "--tls-certfile",
    );
    // Revocation lists from the CA directory (as-testd writes an empty one), and cipher suites.
    ok(&[
        "-h",
        &seed,
        "-U",
        "admin",
        "--password=s3",
        "--tls-capath",
        d,
        "--tls-crl-check-all",
    ]);
    ok(&[
        "-h",
        &seed,
        "-U",
        "admin",
        "--password=s3",
        "--tls-cipher-suite",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "--tls-protocols",
        "TLSv1.2",
    ]);
    let no_crl = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, no_crl.path().join("ca.pem")).unwrap();
    let nc = no_crl.path().to_str().unwrap();
    refused(
        &["--tls-enable", "--tls-capath", nc, "--tls-crl-check"],
        "no certificate revocation list",
    );
    refused(
        &[
            "--tls-enable",
            "--tls-cafile",
            &ca,
            "--tls-cipher-suite",
            "RC4-MD5",
        ],
        "unsupported TLS cipher suite",
    );
    // An encrypted client key, with its password in every form asbackup takes.
    let enc = format!("{d}/client-enc.key");
    let st = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:pw",
            "-in",
            &key,
            "-out",
            &enc,
        ])
        .status()
        .expect("openssl is installed (scripts/test installs it)");
    assert!(st.success());
    let pwfile = format!("{d}/pw.txt");
    std::fs::write(&pwfile, "pw\n").unwrap();
    let pki = |pw: &str| {
        let o = std::process::Command::new(support::tool("as-scan"))
            .args([
                "-h",
                &seed,
                "-n",
                "test",
                "--tls-enable",
                "--tls-cafile",
                &ca,
                "-A",
                "PKI",
            ])
            .args(["--tls-certfile", &cert, "--tls-keyfile", &enc, pw])
            .env("KEY_PW", "pw")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            o.stdout,
        )
    };
    for form in [
        "--tls-keyfile-password=pw",
        "--tls-keyfile-password=env:KEY_PW",
        &format!("--tls-keyfile-password=file:{pwfile}"),
    ] {
        let (code, err, out) = pki(form);
        assert_eq!(code, Some(0), "{form}: {err}");
        assert!(read_stream(&out).records.len() > 190);
    }
    let (code, err, _) = pki("--tls-keyfile-password=wrong");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot decrypt the key"), "{err}");
}

#[test]
fn prefer_racks_scans_on_copies_in_those_racks() {
    let s = TestServer::start(3, &["--replication-factor", "2", "--racks", "1,2,2"]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "r", 0..600, None));
    let stats = |s: &TestServer| -> Vec<u64> {
        (0..3)
            .map(|i| {
                s.info(i, "testd-stats")
                    .trim_start_matches("scanned=")
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let all = scan(&s, &["-n", "test"]);
    assert_eq!(all.records.len(), 600);
    let masters = stats(&s);
    assert!(
        masters.iter().all(|&n| n > 0),
        "every master scanned: {masters:?}"
    );
    // Rack 1 is node 0, which holds copies of partitions p % 3 == 0 (master) and 2 (replica);
    // the others have no copy in rack 1 and go to their master, node 1. Node 2 is not asked.
    let b = scan(&s, &["-n", "test", "--prefer-racks", "1"]);
    assert_eq!(
        b.records.keys().collect::<Vec<_>>(),
        all.records.keys().collect::<Vec<_>>()
    );
    let after: Vec<u64> = stats(&s).iter().zip(&masters).map(|(a, b)| a - b).collect();
    assert_eq!(after[2], 0, "node 2 (rack 2) was not scanned: {after:?}");
    assert!(after[0] > after[1], "{after:?}");
    assert_eq!(after.iter().sum::<u64>(), 600);
    let (code, _, err) = run(
        support::tool("as-scan"),
        &["-h", &s.host(), "-n", "test", "--prefer-racks", "x"],
        b"",
    );
    assert_eq!(code, 2, "{err}");
}

/// Sends info commands to a node after the given delays (milliseconds from now), in a thread.
fn later(port: u16, steps: &[(u64, &str)]) -> std::thread::JoinHandle<()> {
    let steps: Vec<(u64, String)> = steps.iter().map(|(t, c)| (*t, c.to_string())).collect();
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        for (t, cmd) in steps {
            if let Some(d) = std::time::Duration::from_millis(t).checked_sub(start.elapsed()) {
                std::thread::sleep(d);
            }
            use std::io::Write;
            let mut st = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            st.write_all(&as_common::wire::info::request(&[&cmd]))
                .unwrap();
            let mut b = [0u8; 64];
            let _ = std::io::Read::read(&mut st, &mut b);
        }
    })
}

/// Three nodes with two copies of each partition: a node that dies, stalls past the socket
/// timeout, drops its connection, or leaves and comes back mid-scan costs no record and
/// doubles none.
#[test]
fn faults_with_replicas_lose_and_double_nothing() {
    let s = TestServer::start(3, &["--replication-factor", "2", "--sample", "3000"]);
    let want: Vec<_> = scan(&s, &["-n", "test"]).records.into_keys().collect();
    assert_eq!(want.len(), 3000);
    let host = s.host();
    let check = |args: &[&str], steps: &[(u64, &str)], what: &str| {
        let mut all = vec!["-h", &host[..], "-n", "test"];
        all.extend_from_slice(args);
        for (_, cmd) in steps.iter().filter(|(t, _)| *t == 0) {
            assert_eq!(s.info(0, cmd), "ok");
        }
        let rest: Vec<_> = steps.iter().copied().filter(|(t, _)| *t > 0).collect();
        let t = later(s.ports[0], &rest);
        let (code, out, err) = run(support::tool("as-scan"), &all, b"");
        t.join().unwrap();
        assert_eq!(code, 0, "{what}: {err}");
        let b = read_stream(&out);
        let got: Vec<_> = b.records.keys().copied().collect();
        let lost = want.iter().filter(|d| !b.records.contains_key(*d)).count();
        let extra = got.iter().filter(|d| !want.contains(d)).count();
        assert_eq!(
            (lost, extra, got.len()),
            (0, 0, 3000),
            "{what}: lost, unexpected, total"
        );
        assert_eq!(b.done, 4096, "{what}");
        s.info(0, "testd-revive:node=1");
        s.info(0, "testd-revive:node=2");
    };
    check(
        &[],
        &[(0, "testd-fault:drop-after=50;node=1")],
        "connection reset",
    );
    check(
        &["--socket-timeout", "300"],
        &[(0, "testd-fault:stall=3000;node=1")],
        "a node stalled past the socket timeout",
    );
    // Throttled so that the faults strike mid-scan.
    check(
        &["-L", "3000"],
        &[(300, "testd-kill:node=1")],
        "a node killed mid-scan",
    );
    check(
        &["-L", "3000", "-w", "4"],
        &[(200, "testd-kill:node=2"), (500, "testd-revive:node=2")],
        "a node that leaves and comes back",
    );
}

/// A server that also reports each finished partition with OK (as servers before 8 could) gives
/// the same backup; -vv says on stderr what each node was asked and answered, and changes
/// nothing on stdout.
#[test]
fn legacy_partition_done_and_debug_output() {
    let plain = TestServer::start(2, &["--sample", "2000"]);
    let legacy = TestServer::start(2, &["--sample", "2000", "--legacy-partition-done"]);
    let a = scan(&plain, &["-n", "test"]);
    let b = scan(&legacy, &["-n", "test"]);
    assert_eq!(a.records.len(), 2000);
    assert_eq!(
        a.records.keys().collect::<Vec<_>>(),
        b.records.keys().collect::<Vec<_>>()
    );
    assert_eq!((a.done, b.done), (4096, 4096));
    let host = plain.host();
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "-vv"],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(read_stream(&out).records.len(), 2000);
    assert!(err.contains("scan of 2048 partition(s)"), "{err}");
    assert!(err.contains("LAST after"), "{err}");
    let (code, _, err2) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "--log-level", "debug"],
        b"",
    );
    assert_eq!(code, 0);
    assert!(err2.contains("LAST after"), "{err2}");
}

/// --max-records over three nodes, dealt as the official clients deal it: never more than asked,
/// the lowest partitions of each node first, and no partition marked done (FACT 9).
#[test]
fn max_records_over_nodes() {
    let s = TestServer::start(3, &["--sample", "3000"]);
    for (m, want) in [("10", 10), ("2", 2), ("1000", 1000)] {
        let b = scan(&s, &["-n", "test", "-M", m]);
        assert_eq!(b.records.len(), want, "-M {m}");
        assert_eq!(
            b.done, 0,
            "-M {m}: partitions cut by the limit are not done"
        );
    }
}
