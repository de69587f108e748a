#![no_main]
//! The ASB decoder must return an error or items for any input, never panic, and whatever it
//! accepts must encode and decode again to the same text.
use as_common::asb::{AsbItem, AsbReader, AsbWriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = AsbReader::new(data) else { return };
    let h = r.header().clone();
    let mut w = AsbWriter::new(Vec::new(), data.len() % 2 == 0);
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
    let mut w2 = AsbWriter::new(Vec::new(), data.len() % 2 == 0);
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
});
