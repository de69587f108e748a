//! as-scan against the bundled test server, with data written and read by an independent
//! client (the official `aerospike` crate): every particle type, each scope flag, refused
//! combinations, faults, and error exits.

use as_test_support as support;

use aerospike::{
    as_key, Bin, Bins, Expiration, PartitionFilter, QueryPolicy, Statement, Value, WritePolicy,
};
use as_common::asb::{AsbItem, AsbReader};
use as_common::record::particle;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use support::cluster::*;
use support::{run, TestServer};

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
    // A HyperLogLog as a server takes one (server-behaviours S19): 4 index bits, no minhash
    // bits, 11 bytes of header and 12 of registers.
    let hll: Vec<u8> = [0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        .into_iter()
        .chain(1..=12)
        .collect();
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
        Bin::new("hll", Value::Hll(hll.clone())),
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
    assert_eq!(get("hll"), (particle::HLL, hll));
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
/// the lowest partitions of each node first, and no partition marked done (server-behaviours S9).
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

/// `--summary` holds the counts of what the stream holds; a scan that fails says so.
#[test]
fn summary_file_counts_what_was_scanned() {
    let (s, _rt, _c) = loaded();
    let tmp = tempfile::tempdir().unwrap();
    let sum = tmp.path().join("sum");
    let b = scan(&s, &["-n", "test", "--summary", sum.to_str().unwrap()]);
    let text = std::fs::read_to_string(&sum).unwrap();
    assert_eq!(
        text,
        format!(
            "indexes={}\nudfs={}\nretries=0\nrecords={}\ncomplete=true\n",
            b.sindexes,
            b.udfs,
            b.records.len()
        )
    );
    assert_eq!((b.records.len(), b.sindexes, b.udfs), (160, 2, 1));
}
