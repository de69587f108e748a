//! The bodies of the fuzz targets (`fuzz/`), here so that every input that once crashed one
//! (kept under `fuzz/regressions/<target>/`) is replayed by `cargo test` on stable Rust.
//! Each function must return for any input, never panic, never over-allocate.

use crate::asb::{AsbError, AsbItem, AsbReader, AsbWriter};
use crate::client::{cluster, metadata, scan};
use crate::stream::{FrameBatch, StreamReader, MAGIC};
use crate::wire::{self, info, Msg};
use std::io::Read;

/// Every item an ASB reader yields and the error it stops at, as text.
pub(crate) fn asb_outcome<R: Read>(reader: Result<AsbReader<R>, AsbError>) -> Vec<String> {
    let mut r = match reader {
        Ok(r) => r,
        Err(e) => return vec![e.to_string()],
    };
    let mut seen = Vec::new();
    loop {
        match r.next_item() {
            Ok(Some(item)) => seen.push(format!("{item:?}")),
            Ok(None) => return seen,
            Err(e) => {
                seen.push(e.to_string());
                return seen;
            }
        }
    }
}

/// The ASB decoder returns an error or items, the same ones (and the same error, at the same
/// line and column) whether records take its fast path or not; whatever it accepts encodes and
/// decodes again to the same text.
pub fn asb_decode(data: &[u8]) {
    assert_eq!(
        asb_outcome(AsbReader::new(data)),
        asb_outcome(AsbReader::new(data).map(AsbReader::careful_only))
    );
    let Ok(mut r) = AsbReader::new(data) else {
        return;
    };
    let compact = data.len().is_multiple_of(2);
    let h = r.header().clone();
    let mut w = AsbWriter::new(Vec::new(), compact);
    w.header(h.namespace.as_deref(), h.first_file).unwrap();
    loop {
        match r.next_item() {
            Ok(Some(AsbItem::Record(rec))) => w.record(&rec).unwrap(),
            Ok(Some(AsbItem::SIndex(s))) => w.sindex(&s).unwrap(),
            Ok(Some(AsbItem::Udf(u))) => w.udf(&u).unwrap(),
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let once = w.finish().unwrap();
    // Re-decoding our own output must succeed and be stable.
    let mut r2 = AsbReader::new(&once[..]).expect("own output must decode");
    let mut w2 = AsbWriter::new(Vec::new(), compact);
    let h2 = r2.header().clone();
    w2.header(h2.namespace.as_deref(), h2.first_file).unwrap();
    while let Some(item) = r2.next_item().expect("own output must decode") {
        match item {
            AsbItem::Record(rec) => w2.record(&rec).unwrap(),
            AsbItem::SIndex(s) => w2.sindex(&s).unwrap(),
            AsbItem::Udf(u) => w2.udf(&u).unwrap(),
        }
    }
    assert_eq!(once, w2.finish().unwrap());
}

/// The stream reader rejects or accepts any input.
pub fn stream_read(data: &[u8]) {
    // Half the inputs get a valid preamble so the fuzzer reaches the frames quickly.
    let mut input = Vec::with_capacity(data.len() + 12);
    if data.first().is_some_and(|b| b & 1 == 0) {
        input.extend_from_slice(&MAGIC);
        input.extend_from_slice(&1u32.to_le_bytes());
        input.extend_from_slice(&data[1..]);
    } else {
        input.extend_from_slice(data);
    }
    if let Ok(mut r) = StreamReader::new(&input[..]) {
        while let Ok(Some(_)) = r.next_frame() {}
    }
    // As as-split reads it: frames routed undecoded, by what their start says.
    if let Ok(mut r) = StreamReader::new(&input[..]) {
        let mut batch = FrameBatch::default();
        while let Ok(Some((kind, f))) = r.next_sealed() {
            let _ = (f.record_digest(), f.partition_done(), f.metadata_name(kind));
            batch.sealed(kind, &f);
        }
    }
}

/// What a server (or anything listening on its port) answers: proto framing, scan reply
/// messages turned into records and stream frames, and the info answers the client reads.
pub fn wire_reply(data: &[u8]) {
    let mut input = data;
    let mut body = Vec::new();
    while wire::read_proto(&mut input, &mut body).is_ok() {
        let mut at = 0;
        while at < body.len() {
            let Ok((m, used)) = Msg::parse(&body[at..]) else {
                break;
            };
            at += used.max(1);
            if let Ok(rec) = scan::record_of(&m, b"test") {
                let _ = FrameBatch::default().record(&rec);
            }
        }
    }
    // The same bytes as a bare message body.
    if let Ok((m, _)) = Msg::parse(data) {
        let _ = scan::record_of(&m, b"test");
    }
    for (_, v) in info::parse_reply(data) {
        let _ = cluster::parse_peers(&v);
        for item in v.split(';') {
            let _ = metadata::parse_sindex(item);
            let _ = info::kv(item, ':');
        }
    }
    let _ = scan::geojson_text(data);
}
