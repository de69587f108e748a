//! Property tests: the record stream is lossless, and stream → ASB → stream → ASB is the identity
//! for arbitrary records (names with spaces, LF, backslash and non-UTF-8 bytes, empty values,
//! NaN payloads, every particle type, both encodings).

use as_common::asb::{AsbItem, AsbReader, AsbWriter};
use as_common::record::{particle, Bin, IndexDataType, IndexType, Record, SIndex, Udf, Value};
use as_common::stream::{Frame, Header, StreamReader, StreamWriter};
use proptest::prelude::*;
use std::borrow::Cow;

/// Names: short byte strings that favour the bytes the format escapes. Never NUL (servers forbid it).
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => b'a'..=b'z',
            1 => Just(b' '),
            1 => Just(b'\n'),
            1 => Just(b'\\'),
            1 => 1u8..=255,
        ],
        0..20,
    )
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(prop_oneof![Just(0u8), Just(b'\n'), Just(b' ')], 0..8),
    ]
}

fn value() -> impl Strategy<Value = Value<'static>> {
    use particle::*;
    prop_oneof![
        Just(Value::new(NIL, Vec::new())),
        any::<i64>().prop_map(Value::int),
        any::<u64>().prop_map(|b| Value::double(f64::from_bits(b))),
        prop_oneof![
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY)
        ]
        .prop_map(Value::double),
        any::<bool>().prop_map(Value::bool),
        (
            prop::sample::select(vec![
                STRING,
                BLOB,
                JAVA_BLOB,
                CSHARP_BLOB,
                PYTHON_BLOB,
                RUBY_BLOB,
                PHP_BLOB,
                ERLANG_BLOB,
                HLL,
                MAP,
                LIST,
                GEOJSON
            ]),
            bytes()
        )
            .prop_map(|(t, b)| Value::new(t, b)),
    ]
}

fn key() -> impl Strategy<Value = Option<Value<'static>>> {
    prop_oneof![
        Just(None),
        any::<i64>().prop_map(|v| Some(Value::int(v))),
        any::<u64>().prop_map(|b| Some(Value::double(f64::from_bits(b)))),
        bytes().prop_map(|b| Some(Value::new(particle::STRING, b))),
        bytes().prop_map(|b| Some(Value::new(particle::BLOB, b))),
    ]
}

fn record() -> impl Strategy<Value = Record<'static>> {
    (
        name(),
        prop::option::of(name().prop_filter("a set name is not empty", |s| !s.is_empty())),
        any::<[u8; 20]>(),
        key(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec((name(), value()), 0..8),
    )
        .prop_map(|(ns, set, digest, key, generation, expiry, bins)| Record {
            namespace: Cow::Owned(ns),
            set: set.map(Cow::Owned),
            digest,
            key,
            generation,
            expiry,
            bins: bins
                .into_iter()
                .map(|(n, value)| Bin {
                    name: Cow::Owned(n),
                    value,
                })
                .collect(),
        })
}

fn sindex() -> impl Strategy<Value = SIndex> {
    (
        name(),
        prop::option::of(name().prop_filter("non-empty", |s| !s.is_empty())),
        name(),
        prop::sample::select(vec![
            IndexType::Default,
            IndexType::List,
            IndexType::MapKeys,
            IndexType::MapValues,
        ]),
        name(),
        prop::sample::select(vec![
            IndexDataType::Numeric,
            IndexDataType::String,
            IndexDataType::Geo,
            IndexDataType::Blob,
        ]),
        prop::option::of("[A-Za-z0-9+/]{4,16}"),
    )
        .prop_map(
            |(namespace, set, name, index_type, bin, data_type, ctx)| SIndex {
                namespace,
                set,
                name,
                index_type,
                bin,
                data_type,
                context: ctx.map(String::into_bytes),
                expression: None,
            },
        )
}

fn udf() -> impl Strategy<Value = Udf<'static>> {
    (name(), bytes()).prop_map(|(n, c)| Udf {
        kind: b'L',
        name: Cow::Owned(n),
        content: Cow::Owned(c),
    })
}

#[derive(Debug, Clone)]
struct Backup {
    namespace: Option<Vec<u8>>,
    first_file: bool,
    sindexes: Vec<SIndex>,
    udfs: Vec<Udf<'static>>,
    records: Vec<Record<'static>>,
}

fn backup() -> impl Strategy<Value = Backup> {
    (
        prop::option::of(name()),
        any::<bool>(),
        prop::collection::vec(sindex(), 0..3),
        prop::collection::vec(udf(), 0..2),
        prop::collection::vec(record(), 0..12),
    )
        .prop_map(|(namespace, first_file, sindexes, udfs, records)| Backup {
            namespace,
            first_file,
            sindexes,
            udfs,
            records,
        })
}

fn to_stream(b: &Backup) -> Vec<u8> {
    let h = Header {
        namespace: b.namespace.clone(),
        first_file: b.first_file,
        producer: "proptest".into(),
        scope: String::new(),
        append: false,
        origin: None,
    };
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for s in &b.sindexes {
        w.sindex(s).unwrap();
    }
    for u in &b.udfs {
        w.udf(u).unwrap();
    }
    for r in &b.records {
        w.record(r).unwrap();
    }
    w.finish().unwrap().0
}

fn from_stream(bytes: &[u8]) -> Backup {
    let mut r = StreamReader::new(bytes).unwrap();
    let h = r.header().clone();
    let mut b = Backup {
        namespace: h.namespace,
        first_file: h.first_file,
        sindexes: vec![],
        udfs: vec![],
        records: vec![],
    };
    while let Some(f) = r.next_frame().unwrap() {
        match f {
            Frame::SIndex(s) => b.sindexes.push(s),
            Frame::Udf(u) => b.udfs.push(u.into_owned()),
            Frame::Record(rec) => b.records.push(rec.into_owned()),
            Frame::PartitionDone(_) => {}
        }
    }
    b
}

/// as-encode, in process.
fn encode(stream: &[u8], compact: bool) -> Vec<u8> {
    let b = from_stream(stream);
    let mut w = AsbWriter::new(Vec::new(), compact);
    w.header(b.namespace.as_deref(), b.first_file).unwrap();
    for s in &b.sindexes {
        w.sindex(s).unwrap();
    }
    for u in &b.udfs {
        w.udf(u).unwrap();
    }
    for r in &b.records {
        w.record(r).unwrap();
    }
    w.finish().unwrap()
}

/// as-decode, in process.
fn decode(asb: &[u8]) -> Vec<u8> {
    let mut r = AsbReader::new(asb).unwrap();
    let h = r.header();
    let mut b = Backup {
        namespace: h.namespace.clone(),
        first_file: h.first_file,
        sindexes: vec![],
        udfs: vec![],
        records: vec![],
    };
    while let Some(i) = r.next_item().unwrap() {
        match i {
            AsbItem::SIndex(s) => b.sindexes.push(s),
            AsbItem::Udf(u) => b.udfs.push(u.into_owned()),
            AsbItem::Record(rec) => b.records.push(rec.into_owned()),
        }
    }
    to_stream(&b)
}

/// ASB text keeps a NaN's sign but not its payload.
fn canonical_nan(v: &Value) -> Value<'static> {
    match (v.ptype, v.as_u64()) {
        (particle::FLOAT, Some(bits)) if f64::from_bits(bits).is_nan() => {
            Value::double(if bits >> 63 == 1 { -f64::NAN } else { f64::NAN })
        }
        _ => v.clone().into_owned(),
    }
}

fn canonical(mut r: Record<'static>) -> Record<'static> {
    r.key = r.key.as_ref().map(canonical_nan);
    for b in &mut r.bins {
        b.value = canonical_nan(&b.value);
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_stream_is_lossless(b in backup()) {
        let back = from_stream(&to_stream(&b));
        prop_assert_eq!(back.records, b.records);
        prop_assert_eq!(back.sindexes, b.sindexes);
        prop_assert_eq!(back.udfs, b.udfs);
        prop_assert_eq!(back.namespace, b.namespace);
        prop_assert_eq!(back.first_file, b.first_file);
    }

    #[test]
    fn stream_asb_stream_asb_is_the_identity(b in backup(), compact in any::<bool>()) {
        let s1 = to_stream(&b);
        let asb1 = encode(&s1, compact);
        let s2 = decode(&asb1);
        let asb2 = encode(&s2, compact);
        prop_assert_eq!(&asb1, &asb2);
        let back = from_stream(&s2);
        let want: Vec<_> = b.records.into_iter().map(canonical).collect();
        prop_assert_eq!(back.records, want);
        prop_assert_eq!(back.sindexes, b.sindexes);
        prop_assert_eq!(back.udfs, b.udfs);
    }

    /// Whatever the bytes, the readers return an error or a value: they never panic.
    #[test]
    fn readers_never_panic_on_garbage(data in prop::collection::vec(any::<u8>(), 0..400), prefix in 0usize..3) {
        let mut input = match prefix {
            0 => b"Version 3.1\n".to_vec(),
            1 => to_stream(&Backup { namespace: None, first_file: true, sindexes: vec![], udfs: vec![], records: vec![] })[..12].to_vec(),
            _ => Vec::new(),
        };
        input.extend_from_slice(&data);
        if let Ok(mut r) = AsbReader::new(&input[..]) {
            while let Ok(Some(_)) = r.next_item() {}
        }
        if let Ok(mut r) = StreamReader::new(&input[..]) {
            while let Ok(Some(_)) = r.next_frame() {}
        }
    }
}

/// Flipping any single byte of a stream is detected (bad magic, version, checksum or framing).
#[test]
fn every_single_byte_flip_is_detected() {
    let mut g = as_common::gen::Generator::new(3, b"test");
    let b = Backup {
        namespace: Some(b"test".to_vec()),
        first_file: true,
        sindexes: g.sindexes(),
        udfs: g.udfs(),
        records: (0..5).map(|_| g.record()).collect(),
    };
    let good = to_stream(&b);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        let res = (|| {
            let mut r = StreamReader::new(&bad[..])?;
            while r.next_frame()?.is_some() {}
            Ok::<_, as_common::stream::StreamError>(())
        })();
        assert!(
            res.is_err(),
            "flip at byte {i} of {} went unnoticed",
            good.len()
        );
    }
}

/// Cutting a stream anywhere before its end is detected.
#[test]
fn every_truncation_is_detected() {
    let mut g = as_common::gen::Generator::new(4, b"test");
    let b = Backup {
        namespace: Some(b"test".to_vec()),
        first_file: false,
        sindexes: vec![],
        udfs: vec![],
        records: (0..3).map(|_| g.record()).collect(),
    };
    let good = to_stream(&b);
    for n in 0..good.len() {
        let res = (|| {
            let mut r = StreamReader::new(&good[..n])?;
            while r.next_frame()?.is_some() {}
            Ok::<_, as_common::stream::StreamError>(())
        })();
        assert!(
            res.is_err(),
            "stream cut at {n} of {} bytes was accepted",
            good.len()
        );
    }
}
