//! Benchmark baseline for as-restore: the official `aerospike` crate writing the same records with
//! its own batch writes (batches of 128, 32 in flight, as asrestore's defaults).
//!
//! `crate_write gen N FILE [NS]`      writes a record stream of N plain records (namespace NS,
//!                                   `test` by default; set `bench`, stored integer keys, bins i,
//!                                   d, s (40 bytes), b (64 bytes))
//! `crate_write write HOST:PORT FILE` writes that stream's records with the crate, prints the count
//! `crate_write truncate HOST:PORT NS` empties the namespace (the bench's own, on a server given)
use aerospike::operations::scalar;
use aerospike::{
    AdminPolicy, BatchOperation, BatchPolicy, BatchWritePolicy, Bin, Client, ClientPolicy, Key,
    Value,
};
use as_common::record::{particle, Bin as SBin, Record, Value as SValue};
use as_common::stream::{Frame, Header, StreamReader, StreamWriter};
use futures::StreamExt;

fn gen(n: u64, path: &str, ns: &str) {
    let out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let header = Header {
        namespace: Some(ns.as_bytes().to_vec()),
        first_file: true,
        producer: "crate_write".into(),
        scope: "bench".into(),
        append: false,
        origin: None,
    };
    let mut w = StreamWriter::new(out, &header).unwrap();
    for k in 0..n as i64 {
        let key = SValue::int(k);
        let bin = |name: &str, v: SValue<'static>| SBin {
            name: name.as_bytes().to_vec().into(),
            value: v,
        };
        let s = format!("{k:040}");
        let r = Record {
            namespace: ns.as_bytes().to_vec().into(),
            set: Some(b"bench".to_vec().into()),
            digest: as_common::wire::digest(b"bench", &key),
            key: Some(key),
            generation: 1,
            expiry: 0,
            bins: vec![
                bin("i", SValue::int(k)),
                bin("d", SValue::double(k as f64 / 3.0)),
                bin("s", SValue::new(particle::STRING, s.into_bytes())),
                bin("b", SValue::new(particle::BLOB, vec![(k & 0xff) as u8; 64])),
            ],
        };
        w.record(&r).unwrap();
    }
    w.finish().unwrap();
}

fn value(v: &SValue) -> Value {
    match v.ptype {
        particle::INTEGER => Value::Int(v.as_u64().unwrap() as i64),
        particle::FLOAT => {
            Value::Float(f64::from_bits(u64::from_be_bytes(v.data[..8].try_into().unwrap())).into())
        }
        particle::STRING => Value::String(String::from_utf8(v.data.to_vec()).unwrap()),
        _ => Value::Blob(v.data.to_vec()),
    }
}

fn write(host: &str, path: &str) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let mut r = StreamReader::new(&bytes[..]).unwrap();
    let mut batches: Vec<Vec<BatchOperation>> = vec![Vec::new()];
    let wp = BatchWritePolicy {
        send_key: true,
        ..Default::default()
    };
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        let Frame::Record(rec) = f else { continue };
        let ns = String::from_utf8_lossy(&rec.namespace).into_owned();
        let set = String::from_utf8_lossy(rec.set.as_deref().unwrap_or_default()).into_owned();
        let key = Key::new(ns, set, value(rec.key.as_ref().unwrap())).unwrap();
        let bins: Vec<Bin> = rec
            .bins
            .iter()
            .map(|b| {
                Bin::new(
                    String::from_utf8_lossy(&b.name).into_owned(),
                    value(&b.value),
                )
            })
            .collect();
        let ops: Vec<_> = bins.iter().map(scalar::put).collect();
        if batches.last().unwrap().len() == 128 {
            batches.push(Vec::new());
        }
        batches
            .last_mut()
            .unwrap()
            .push(BatchOperation::write(&wp, key, ops));
        n += 1;
    }
    let (rt, c) = connect(host);
    rt.block_on(async {
        let c = &c;
        let policy = BatchPolicy::default();
        let policy = &policy;
        futures::stream::iter(batches)
            .map(|mut b| async move {
                c.batch(policy, &mut b).await.expect("batch write");
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
    });
    n
}

/// Truncates the namespace with the crate (`truncate-namespace`, to every node through the
/// server's own distribution of it).
fn truncate(host: &str, ns: &str) {
    let (rt, c) = connect(host);
    rt.block_on(c.truncate(&AdminPolicy::default(), ns, "", 0))
        .expect("truncate");
}

/// A runtime, and the crate's client connected to `host` on it.
fn connect(host: &str) -> (tokio::runtime::Runtime, Client) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = rt
        .block_on(Client::new(&ClientPolicy::default(), &host.to_string()))
        .expect("connect");
    (rt, c)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => gen(
            args[1].parse().unwrap(),
            &args[2],
            args.get(3).map_or("test", String::as_str),
        ),
        Some("write") => println!("{}", write(&args[1], &args[2])),
        Some("truncate") => truncate(&args[1], &args[2]),
        _ => panic!(
            "crate_write gen N FILE [NS] | crate_write write HOST:PORT FILE | crate_write truncate HOST:PORT NS"
        ),
    }
}
