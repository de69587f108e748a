//! Golden byte tests of the ASB codec: the worked examples of the format reference
//! (`docs/asb-format.md`) and the files written by the official asbackup 4.5.8
//! (`tests/data/samples`).

use as_test_support as support;

use as_common::asb::{AsbErrorKind, AsbItem, AsbReader, AsbWriter};
use as_common::record::{particle, Bin, IndexDataType, IndexType, Record, SIndex, Udf, Value};
use base64::Engine;
use std::borrow::Cow;

fn b64d(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn digest(s: &str) -> [u8; 20] {
    b64d(s).try_into().unwrap()
}

fn bin(name: &str, value: Value<'static>) -> Bin<'static> {
    Bin {
        name: Cow::Owned(name.as_bytes().to_vec()),
        value,
    }
}

fn rec(key: Option<Value<'static>>, set: Option<&str>, bins: Vec<Bin<'static>>) -> Record<'static> {
    Record {
        namespace: Cow::Borrowed(b"test"),
        set: set.map(|s| Cow::Owned(s.as_bytes().to_vec())),
        digest: digest("7JEZLUt/jONdXXjTS8ply6qqyWA="),
        key,
        generation: 1,
        expiry: 0,
        bins,
    }
}

/// Encodes records only (no header).
fn encode_records(compact: bool, records: &[Record]) -> String {
    let mut w = AsbWriter::new(Vec::new(), compact);
    for r in records {
        w.record(r).unwrap();
    }
    String::from_utf8(w.finish().unwrap()).unwrap()
}

fn bin_line(compact: bool, b: Bin<'static>) -> Vec<u8> {
    let mut w = AsbWriter::new(Vec::new(), compact);
    w.record(&rec(None, None, vec![b])).unwrap();
    let out = w.finish().unwrap();
    let at = out.windows(6).position(|w| w == b"+ b 1\n").unwrap() + 6;
    out[at..].to_vec()
}

fn decode_all(bytes: &[u8]) -> (as_common::asb::AsbHeader, Vec<AsbItem<'static>>) {
    let mut r = AsbReader::new(bytes).unwrap();
    let h = r.header().clone();
    let mut items = Vec::new();
    while let Some(i) = r.next_item().unwrap() {
        items.push(i.into_owned());
    }
    (h, items)
}

fn decode_err(bytes: &[u8]) -> as_common::asb::AsbError {
    match AsbReader::new(bytes) {
        Err(e) => e,
        Ok(mut r) => loop {
            match r.next_item() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{:?} decoded without error", String::from_utf8_lossy(bytes)),
                Err(e) => break e,
            }
        },
    }
}

/// Re-encodes decoded items with the header they came with.
fn reencode(bytes: &[u8], compact: bool) -> Vec<u8> {
    let (h, items) = decode_all(bytes);
    let mut w = AsbWriter::new(Vec::new(), compact);
    w.header(h.namespace.as_deref(), h.first_file).unwrap();
    for i in &items {
        match i {
            AsbItem::SIndex(s) => w.sindex(s).unwrap(),
            AsbItem::Udf(u) => w.udf(u).unwrap(),
            AsbItem::Record(r) => w.record(r).unwrap(),
        }
    }
    w.finish().unwrap()
}

#[test]
fn worked_example_7_1() {
    let expected = "Version 3.1\n# namespace test\n# first-file\n\
* i test demo name_idx N 1 name S\n\
* i test  age_idx N 1 age N\n\
* u L example.lua 29 function f(r)\n  return 1\nend\n\n\
+ k S 4 key1\n+ n test\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ s demo\n+ g 3\n+ t 473389200\n+ b 8\n\
- I age 42\n\
- D score 0.10000000000000001\n\
- S name 11 hello\nworld\n\
- B blob 8 AAECAw==\n\
- Z ok T\n\
- G loc 40 {\"type\":\"Point\",\"coordinates\":[0.0,0.0]}\n\
- M m 8 gaFhAQ==\n\
- L my\\ list 4 kgEC\n\
+ n test\n+ d V58F7PnmqeeW9NoqsLEyM2TfXBA=\n+ g 1\n+ t 0\n+ b 0\n";

    let mut w = AsbWriter::new(Vec::new(), false);
    w.header(Some(b"test"), true).unwrap();
    let idx = |set: Option<&str>, name: &str, bin: &str, dt| SIndex {
        namespace: b"test".to_vec(),
        set: set.map(|s| s.as_bytes().to_vec()),
        name: name.as_bytes().to_vec(),
        index_type: IndexType::Default,
        bin: bin.as_bytes().to_vec(),
        data_type: dt,
        context: None,
        expression: None,
    };
    w.sindex(&idx(
        Some("demo"),
        "name_idx",
        "name",
        IndexDataType::String,
    ))
    .unwrap();
    w.sindex(&idx(None, "age_idx", "age", IndexDataType::Numeric))
        .unwrap();
    w.udf(&Udf {
        kind: b'L',
        name: Cow::Borrowed(b"example.lua"),
        content: Cow::Borrowed(b"function f(r)\n  return 1\nend\n"),
    })
    .unwrap();
    let mut r = rec(
        Some(Value::new(particle::STRING, b"key1".to_vec())),
        Some("demo"),
        vec![
            bin("age", Value::int(42)),
            bin("score", Value::double(0.1)),
            bin(
                "name",
                Value::new(particle::STRING, b"hello\nworld".to_vec()),
            ),
            bin("blob", Value::new(particle::BLOB, vec![0, 1, 2, 3])),
            bin("ok", Value::bool(true)),
            bin(
                "loc",
                Value::new(
                    particle::GEOJSON,
                    br#"{"type":"Point","coordinates":[0.0,0.0]}"#.to_vec(),
                ),
            ),
            bin("m", Value::new(particle::MAP, vec![0x81, 0xa1, 0x61, 0x01])),
            bin(
                "my list",
                Value::new(particle::LIST, vec![0x92, 0x01, 0x02]),
            ),
        ],
    );
    r.generation = 3;
    r.expiry = 473389200;
    w.record(&r).unwrap();
    let mut bare = rec(None, None, vec![]);
    bare.digest = digest("V58F7PnmqeeW9NoqsLEyM2TfXBA=");
    w.record(&bare).unwrap();
    let out = w.finish().unwrap();
    assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);

    // And the decoder reads it back to the same items.
    assert_eq!(reencode(&out, false), out);
}

#[test]
fn compact_forms_7_2() {
    let line = bin_line(
        true,
        bin("blob", Value::new(particle::BLOB, vec![0, 1, 0x0a, 3])),
    );
    assert_eq!(line, b"- B! blob 4 \x00\x01\x0a\x03\n");
    let out = encode_records(
        true,
        &[rec(
            Some(Value::new(particle::BLOB, vec![9, 10, 0])),
            None,
            vec![],
        )],
    );
    assert!(
        out.starts_with("+ k B! 3 \x09\x0a\x00\n+ n test\n"),
        "{out:?}"
    );
    let out = encode_records(
        false,
        &[rec(
            Some(Value::new(particle::BLOB, vec![9, 10, 0])),
            None,
            vec![],
        )],
    );
    assert!(out.starts_with("+ k B 4 CQoA\n"), "{out:?}");
    // Every bytes-like type gets the `!` in compact mode; strings, GeoJSON and scalars never do.
    for (t, letter) in [
        (particle::BLOB, "B"),
        (particle::JAVA_BLOB, "J"),
        (particle::CSHARP_BLOB, "C"),
        (particle::PYTHON_BLOB, "P"),
        (particle::RUBY_BLOB, "R"),
        (particle::PHP_BLOB, "H"),
        (particle::ERLANG_BLOB, "E"),
        (particle::HLL, "Y"),
        (particle::MAP, "M"),
        (particle::LIST, "L"),
    ] {
        let b = || bin("x", Value::new(t, b"ab\n".to_vec()));
        assert_eq!(
            bin_line(true, b()),
            format!("- {letter}! x 3 ab\n\n").as_bytes()
        );
        assert_eq!(
            bin_line(false, b()),
            format!("- {letter} x 4 YWIK\n").as_bytes()
        );
    }
    assert_eq!(
        bin_line(
            true,
            bin("s", Value::new(particle::STRING, b"a b".to_vec()))
        ),
        b"- S s 3 a b\n"
    );
}

#[test]
fn empty_payloads_keep_the_space() {
    assert_eq!(
        bin_line(false, bin("b", Value::new(particle::BLOB, vec![]))),
        b"- B b 0 \n"
    );
    assert_eq!(
        bin_line(true, bin("b", Value::new(particle::BLOB, vec![]))),
        b"- B! b 0 \n"
    );
    assert_eq!(
        bin_line(false, bin("s", Value::new(particle::STRING, vec![]))),
        b"- S s 0 \n"
    );
    assert_eq!(
        bin_line(false, bin("g", Value::new(particle::GEOJSON, vec![]))),
        b"- G g 0 \n"
    );
    assert_eq!(
        bin_line(false, bin("n", Value::new(particle::NIL, vec![]))),
        b"- N n\n"
    );
    let out = encode_records(
        false,
        &[rec(
            Some(Value::new(particle::STRING, vec![])),
            None,
            vec![],
        )],
    );
    assert!(out.starts_with("+ k S 0 \n"));
}

#[test]
fn escaping_of_names() {
    let mut r = rec(
        None,
        Some("my set"),
        vec![bin("a\\b", Value::int(1)), bin("x y\nz", Value::int(-5))],
    );
    r.namespace = Cow::Borrowed(b"te\nst");
    let out = encode_records(false, &[r]);
    assert_eq!(
        out,
        "+ n te\\\nst\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ s my\\ set\n+ g 1\n+ t 0\n+ b 2\n\
- I a\\\\b 1\n- I x\\ y\\\nz -5\n"
    );
    let mut w = AsbWriter::new(Vec::new(), false);
    w.header(Some(b"a b\\"), false).unwrap();
    assert_eq!(w.finish().unwrap(), b"Version 3.1\n# namespace a\\ b\\\\\n");
}

#[test]
fn doubles_and_integers_as_printf() {
    for (v, s) in [
        (0.0, "0"),
        (-0.0, "-0"),
        (1e17, "1e+17"),
        (1e-20, "9.9999999999999995e-21"),
        (f64::NAN, "nan"),
        (-f64::NAN, "-nan"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (5e-324, "4.9406564584124654e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
    ] {
        assert_eq!(
            bin_line(false, bin("d", Value::double(v))),
            format!("- D d {s}\n").as_bytes()
        );
    }
    assert_eq!(
        bin_line(false, bin("i", Value::int(i64::MIN))),
        b"- I i -9223372036854775808\n"
    );
    let out = encode_records(false, &[rec(Some(Value::double(1.5)), None, vec![])]);
    assert!(out.starts_with("+ k D 1.5\n"));
    let out = encode_records(false, &[rec(Some(Value::int(-7)), None, vec![])]);
    assert!(out.starts_with("+ k I -7\n"));
}

#[test]
fn sindex_lines_4_1() {
    let mut s = SIndex {
        namespace: b"test".to_vec(),
        set: Some(b"demo".to_vec()),
        name: b"idx tags".to_vec(),
        index_type: IndexType::List,
        bin: b"tags".to_vec(),
        data_type: IndexDataType::String,
        context: Some(b"khAA".to_vec()),
        expression: None,
    };
    let line = |s: &SIndex| {
        let mut w = AsbWriter::new(Vec::new(), false);
        w.sindex(s).unwrap();
        String::from_utf8(w.finish().unwrap()).unwrap()
    };
    assert_eq!(line(&s), "* i test demo idx\\ tags L 1 tags S khAA\n");
    for (it, l) in [
        (IndexType::MapKeys, 'K'),
        (IndexType::MapValues, 'V'),
        (IndexType::Default, 'N'),
    ] {
        s.index_type = it;
        assert_eq!(
            line(&s),
            format!("* i test demo idx\\ tags {l} 1 tags S khAA\n")
        );
    }
    s.set = None;
    s.context = None;
    s.data_type = IndexDataType::Blob;
    assert_eq!(line(&s), "* i test  idx\\ tags N 1 tags B\n");
    s.data_type = IndexDataType::Geo;
    assert_eq!(line(&s), "* i test  idx\\ tags N 1 tags G\n");
}

#[test]
fn ordered_cdts_pass_through_untouched() {
    // docs/asb-format.md#maps-and-lists: a key-ordered map and an ordered list as a real
    // server returned them.
    let text = b"Version 3.1\n# namespace test\n+ n test\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 2\n\
- M om 24 hMcAAcCiA2ECogNtA6IDegE=\n- L ol 16 l8cAAQEBAgIDAw==\n";
    let (_, items) = decode_all(text);
    let AsbItem::Record(r) = &items[0] else {
        panic!()
    };
    assert_eq!(&r.bins[0].value.data[..4], &[0x84, 0xc7, 0x00, 0x01]);
    assert_eq!(&r.bins[1].value.data[..4], &[0x97, 0xc7, 0x00, 0x01]);
    assert_eq!(reencode(text, false), text);
}

#[test]
fn official_samples_round_trip_byte_for_byte() {
    for (file, compact) in [
        ("sample.asb", false),
        ("sample-compact.asb", true),
        ("sample-dir/bar_00000.asb", false),
        ("sample-dir/bar_00001.asb", false),
    ] {
        let bytes = std::fs::read(support::samples().join(file)).unwrap();
        assert_eq!(reencode(&bytes, compact), bytes, "{file}");
    }
    let (h, items) =
        decode_all(&std::fs::read(support::samples().join("sample-dir/bar_00001.asb")).unwrap());
    assert!(!h.first_file);
    assert!(items.iter().all(|i| matches!(i, AsbItem::Record(_))));
}

#[test]
fn official_sample_content() {
    let (h, items) = decode_all(&std::fs::read(support::samples().join("sample.asb")).unwrap());
    assert_eq!(h.namespace.as_deref(), Some(&b"bar"[..]));
    assert!(h.first_file);
    let records: Vec<&Record> = items
        .iter()
        .filter_map(|i| match i {
            AsbItem::Record(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), 10);
    assert!(matches!(&items[1], AsbItem::SIndex(s) if s.name == b"sample name"));
    let find = |name: &[u8]| {
        records
            .iter()
            .flat_map(|r| &r.bins)
            .find(|b| &b.name[..] == name)
            .unwrap()
    };
    assert_eq!(find(b"new\nline").value, Value::int(2));
    assert_eq!(find(b"back\\slash").value, Value::int(3));
    assert_eq!(find(b"bytes").value.data.as_ref(), b"\n\x00\xff raw");
    assert_eq!(find(b"hll").value.ptype, particle::HLL);
    assert_eq!(find(b"kom").value.ptype, particle::MAP);
    assert!(records.iter().any(|r| r.key.is_none()));
    assert!(records.iter().any(|r| r.expiry == 535914084));
}

#[test]
fn decoder_reads_version_3_0_without_unescaping() {
    let text = b"Version 3.0\n# namespace te\\st\n+ n a\\b\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- I x\\ 1\n";
    let (h, items) = decode_all(text);
    assert_eq!(h.version, "3.0");
    assert_eq!(h.namespace.as_deref(), Some(&b"te\\st"[..]));
    let AsbItem::Record(r) = &items[0] else {
        panic!()
    };
    assert_eq!(&r.namespace[..], b"a\\b");
    assert_eq!(&r.bins[0].name[..], b"x\\");
    let e = decode_err(b"Version 3.0\n# namespace t\n* i t s n N 1 b N\n");
    assert!(
        e.to_string().contains("not allowed in a version 3.0 file"),
        "{e}"
    );
}

#[test]
fn decoder_reads_legacy_and_raw_forms() {
    // sindex without the context, `X` keys and bins, `!` on every bytes type, `S!`.
    let text = b"Version 3.1\n* i ns set idx N 1 bin N\n\
+ k X 8 aGVsbG8=\n+ n ns\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 4\n\
- X s 4 YWI=\n- J! j 2  \n\n- Y! y 1 \x00\n- S! t 1 z\n";
    let (h, items) = decode_all(text);
    assert_eq!(h.namespace, None);
    assert!(
        matches!(&items[0], AsbItem::SIndex(s) if s.context.is_none() && s.set.as_deref() == Some(&b"set"[..]))
    );
    let AsbItem::Record(r) = &items[1] else {
        panic!()
    };
    assert_eq!(r.key, Some(Value::new(particle::STRING, b"hello".to_vec())));
    assert_eq!(
        r.bins[0].value,
        Value::new(particle::STRING, b"ab".to_vec())
    );
    assert_eq!(
        r.bins[1].value,
        Value::new(particle::JAVA_BLOB, b" \n".to_vec())
    );
    assert_eq!(r.bins[2].value, Value::new(particle::HLL, vec![0]));
    assert_eq!(r.bins[3].value, Value::new(particle::STRING, b"z".to_vec()));
    // A literal `null` set token stays a set named "null" (docs/asb-format.md#set-null).
    let (_, items) = decode_all(b"Version 3.1\n* i test null idx N 1 v N\n");
    assert!(matches!(&items[0], AsbItem::SIndex(s) if s.set.as_deref() == Some(&b"null"[..])));
}

#[test]
fn decoder_errors_name_line_and_column() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "input is empty"),
        (b"\x28\xb5\x2f\xfd\x00", "zstd-compressed"),
        (b"\x89ASR\r\n\x1a\n", "record stream"),
        (b"hello\n", "not an ASB backup"),
        (b"Version 3.3\n", "unsupported backup format version \"3.3\""),
        (b"Version 3.1\n# bogus\n", "line 2, column 3: unknown meta line"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- x a 1\n", "line 7, column 3: invalid bin type 'x'"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- U a 1\n", "LDT"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 70000\n", "line 4, column 5: invalid generation"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ t 0\n", "line 4, column 1: expected a '+ g' line, found '+ t'"),
        (b"Version 3.1\n+ n t\n+ d short\n", "digest"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 2\n- I a 1\n", "line 8"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- B a 5 AAAA\n", "not a multiple of 4"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- B a 4 A!AA\n", "invalid base64"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- Z a X\n", "invalid boolean"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- I a 99999999999999999999\n", "invalid integer value"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- D a 1.5x\n", "invalid double value"),
        (b"Version 3.1\n* u L f.lua 10 abc", "unexpected end of input in the UDF content: 3 of 10 bytes"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- I a 1\n# INCOMPLETE BACKUP: producer died\n", "marked incomplete by the tool that wrote it: producer died"),
        (b"Version 3.1\n- I a 1\n", "line 2, column 1: expected '+' or '*'"),
        // A record line has no `!` (a bin line's raw mark): not taken as a line start and
        // the line after it read as the namespace.
        (b"Version 3.1\n+ n! + n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 0\n", "line 2, column 4: expected a space after the record line letter, found '!'"),
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g! 1\n+ t 0\n+ b 0\n", "line 4, column 4: expected a space after the record line letter, found '!'"),
        // 28 characters without the padding decode to 21 bytes (this once panicked).
        (b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWAA\n+ g 1\n+ t 0\n+ b 0\n", "line 3, column 5: invalid digest"),
    ];
    for (input, want) in cases {
        let e = decode_err(input);
        assert!(
            e.to_string().contains(want),
            "{:?}: got {e:?}, wanted {want:?}",
            String::from_utf8_lossy(input)
        );
    }
    let e = decode_err(
        b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- U a 1\n",
    );
    assert!(matches!(e.kind, AsbErrorKind::Ldt));
}

#[test]
fn a_huge_claimed_length_is_not_allocated() {
    // 1 TB claimed, 3 bytes present: must fail at end of input, not try to allocate.
    let text = b"Version 3.1\n+ n t\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ g 1\n+ t 0\n+ b 1\n- S a 1000000000000 abc";
    let e = decode_err(text);
    assert!(e.to_string().contains("3 of 1000000000000 bytes"), "{e}");
    let e = decode_err(b"Version 3.1\n* u L f 99999999999999999 x");
    assert!(e.to_string().contains("invalid length"), "{e}");
}

/// absctl's metadata file of a namespace with an expression index: `Version 3.2` and a `* e`
/// line (backup-go `appendSIndexToASB`): the `* i` fields, then the context when there is one
/// and the expression. Read, and written back the same way.
#[test]
fn absctl_expression_index_lines_4_2() {
    let file = b"Version 3.2\n# namespace test\n# first-file\n\
* e test demo exp_idx N 1  N kwGTUQOlYWdlAA==\n\
* e test demo exp_ctx L 1  S khAA kwGTUQOlYWdlAA==\n\
* i test demo plain N 1 age N\n";
    let (h, items) = decode_all(file);
    assert!(h.first_file);
    let idx: Vec<SIndex> = items
        .into_iter()
        .map(|i| match i {
            AsbItem::SIndex(s) => s,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(idx[0].expression.as_deref(), Some(&b"kwGTUQOlYWdlAA=="[..]));
    assert_eq!(
        (idx[0].context.clone(), idx[0].bin.clone()),
        (None, Vec::new())
    );
    assert_eq!(idx[1].context.as_deref(), Some(&b"khAA"[..]));
    assert_eq!(idx[1].expression.as_deref(), Some(&b"kwGTUQOlYWdlAA=="[..]));
    assert_eq!(idx[2].expression, None);
    let mut w = AsbWriter::new(Vec::new(), false);
    for s in &idx {
        w.sindex(s).unwrap();
    }
    let out = w.finish().unwrap();
    let body = &file[b"Version 3.2\n# namespace test\n# first-file\n".len()..];
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(body));
}
