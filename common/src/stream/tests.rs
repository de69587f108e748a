use super::writer::seal_frame;
use super::*;
use std::io::Read;

#[test]
fn append_is_written_only_when_true() {
    let mut h = Header {
        namespace: Some(b"ns".to_vec()),
        first_file: true,
        producer: "t".into(),
        scope: "s".into(),
        append: false,
        origin: None,
    };
    assert_eq!(rmp_serde::to_vec(&h).unwrap()[0], 0x94, "fixarray of 4");
    h.append = true;
    let b = rmp_serde::to_vec(&h).unwrap();
    assert_eq!(b[0], 0x95);
    assert!(rmp_serde::from_slice::<Header>(&b).unwrap().append);
    h.append = false;
    h.origin = Some(Origin {
        started: "2026-12-06T00:00:00.000Z".into(),
        cluster: "c".into(),
        nodes: vec!["BB9".into()],
        scope: crate::scope::Scope::default(),
    });
    let b = rmp_serde::to_vec(&h).unwrap();
    assert_eq!(b[0], 0x96);
    assert_eq!(rmp_serde::from_slice::<Header>(&b).unwrap(), h);
}

#[test]
fn headers_without_append_still_read() {
    // A header as streams before `append` was added wrote it: four fields.
    let old = rmp_serde::to_vec(&(
        Some(serde_bytes::ByteBuf::from(b"ns".to_vec())),
        true,
        "as-scan 0.1.0",
        "namespace=ns",
    ))
    .unwrap();
    let h: Header = rmp_serde::from_slice(&old).unwrap();
    assert!(h.first_file && !h.append);
    assert_eq!(h.namespace.as_deref(), Some(&b"ns"[..]));
}

fn header() -> Header {
    Header {
        namespace: Some(b"test".to_vec()),
        first_file: true,
        producer: "t".into(),
        scope: "s".into(),
        append: false,
        origin: None,
    }
}

/// Records of every kind, large ones among them (300 KiB first, 3 MiB third: the reader's
/// buffer grows past its read-ahead, and more than 1 MiB at once), as a stream.
fn records_and_stream() -> (Vec<Record<'static>>, Vec<u8>) {
    let mut g = crate::gen::Generator::new(7, b"test");
    let mut records: Vec<Record<'static>> = (0..50).map(|_| g.record()).collect();
    // Larger than the reader's read-ahead, and than the most it grows by at a time.
    for (i, size) in [(0, 300 << 10), (2, 3 << 20)] {
        records[i].bins.push(crate::record::Bin {
            name: std::borrow::Cow::Borrowed(b"big"),
            value: crate::record::Value::new(crate::record::particle::BLOB, vec![7u8; size]),
        });
    }
    let mut w = StreamWriter::new(Vec::new(), &header()).unwrap();
    for r in &records {
        w.record(r).unwrap();
    }
    (records, w.finish().unwrap().0)
}

#[test]
fn frames_of_any_size_in_turn() {
    let (records, bytes) = records_and_stream();
    let mut r = StreamReader::new(&bytes[..]).unwrap();
    for want in &records {
        match r.next_frame().unwrap() {
            Some(Frame::Record(got)) => assert_eq!(&got, want),
            other => panic!("{other:?}"),
        }
    }
    assert!(r.next_frame().unwrap().is_none());
}

/// Hands its bytes out a few at a time (1 to `.2` a read), as a pipe may.
struct Dribble<'a>(&'a [u8], usize, usize);

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.1 = self.1.wrapping_mul(31).wrapping_add(7);
        let k = (self.1 % self.2 + 1).min(buf.len()).min(self.0.len());
        buf[..k].copy_from_slice(&self.0[..k]);
        self.0 = &self.0[k..];
        Ok(k)
    }
}

#[test]
fn frames_read_alike_in_small_reads_and_cut_anywhere() {
    let (records, bytes) = records_and_stream();
    let mut r = StreamReader::new(Dribble(&bytes, 0, 5000)).unwrap();
    for want in &records {
        match r.next_frame().unwrap() {
            Some(Frame::Record(got)) => assert_eq!(&got, want),
            other => panic!("{other:?}"),
        }
    }
    assert!(r.next_frame().unwrap().is_none());
    // Cut inside the third record (3 MiB): how much of it there was, and how much it needs.
    let mut r = StreamReader::new(Dribble(&bytes, 0, 5000)).unwrap();
    r.next_frame().unwrap();
    r.next_frame().unwrap();
    let at = r.offset as usize;
    let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
    let cut = &bytes[..at + (2 << 20)];
    let mut r = StreamReader::new(Dribble(cut, 0, 5000)).unwrap();
    r.next_frame().unwrap();
    r.next_frame().unwrap();
    let err = r.next_frame().unwrap_err().to_string();
    let want = format!(
        "input ends inside frame 4 (byte offset {at}): {} of {} bytes",
        2 << 20,
        len + 9
    );
    assert!(err.contains(&want), "{err}");
    // A byte after the trailer, read ahead with it or in a read of its own.
    let mut more = bytes.clone();
    more.push(0);
    for err in [
        drain_err(StreamReader::new(&more[..])),
        drain_err(StreamReader::new(Dribble(&more, 0, 5000))),
    ] {
        assert!(err.contains("data after the trailer"), "{err}");
    }
}

/// How reading a whole stream ends: its error, or "ok".
fn drain_err<R: Read>(r: Result<StreamReader<R>, StreamError>) -> String {
    let mut r = match r {
        Ok(r) => r,
        Err(e) => return e.to_string(),
    };
    loop {
        match r.next_sealed() {
            Ok(Some(_)) => {}
            Ok(None) => return "ok".into(),
            Err(e) => return e.to_string(),
        }
    }
}

#[test]
fn every_cut_fails_alike_whatever_the_reads() {
    let mut g = crate::gen::Generator::new(3, b"test");
    let mut w = StreamWriter::new(Vec::new(), &header()).unwrap();
    for _ in 0..3 {
        w.record(&g.record()).unwrap();
    }
    let bytes = w.finish().unwrap().0;
    assert_eq!(drain_err(StreamReader::new(Dribble(&bytes, 0, 5000))), "ok");
    for end in 0..bytes.len() {
        let cut = &bytes[..end];
        let whole = drain_err(StreamReader::new(cut));
        assert_ne!(whole, "ok", "cut at {end}");
        for (seed, most) in [(0, 1), (1, 7), (2, 100)] {
            let dribbled = drain_err(StreamReader::new(Dribble(cut, seed, most)));
            assert_eq!(dribbled, whole, "cut at {end}");
        }
    }
}

#[test]
fn sealed_frames_are_the_bytes_read() {
    let (records, bytes) = records_and_stream();
    let mut r = StreamReader::new(&bytes[..]).unwrap();
    let mut batch = FrameBatch::default();
    let mut digests = Vec::new();
    while let Some((kind, f)) = r.next_sealed().unwrap() {
        digests.push(f.record_digest().unwrap());
        batch.sealed(kind, &f);
    }
    let want: Vec<_> = records.iter().map(|r| r.digest).collect();
    assert_eq!(digests, want);
    assert_eq!(batch.counts.records, records.len() as u64);
    // The record frames, byte for byte: what follows the header up to the trailer.
    let mut again = StreamWriter::new(Vec::new(), &header()).unwrap();
    let start = again.out.len();
    again.batch(&batch).unwrap();
    let (out, _) = again.finish().unwrap();
    assert_eq!(out, bytes);
    assert_eq!(&out[start..start + batch.len()], &batch.bytes[..]);
}

#[test]
fn optional_frames_of_newer_writers_are_skipped() {
    let (records, bytes) = records_and_stream();
    // A frame of kind 0x80 (optional) right after the header.
    let mut r = StreamReader::new(&bytes[..]).unwrap();
    let after_header = r.offset as usize;
    let mut optional = vec![0x80, 0, 0, 0, 0, 1, 2, 3];
    seal_frame(&mut optional, 0).unwrap();
    let mut with = bytes[..after_header].to_vec();
    with.extend_from_slice(&optional);
    with.extend_from_slice(&bytes[after_header..]);
    r = StreamReader::new(&with[..]).unwrap();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        assert!(matches!(f, Frame::Record(_)));
        n += 1;
    }
    assert_eq!(n, records.len());
}

#[test]
fn trusted_checksums_are_not_computed_but_the_rest_is_checked() {
    let (_, bytes) = records_and_stream();
    let r = StreamReader::new(&bytes[..]).unwrap();
    // The first record frame's checksum, spoiled.
    let first = r.offset as usize;
    let len = u32::from_le_bytes(bytes[first + 1..first + 5].try_into().unwrap()) as usize;
    let mut bad = bytes.clone();
    bad[first + 5 + len] ^= 0xff;
    let drain = |mut r: StreamReader<&[u8]>| -> Result<u64, StreamError> {
        let mut n = 0;
        while r.next_frame()?.is_some() {
            n += 1;
        }
        Ok(n)
    };
    let err = drain(StreamReader::new(&bad[..]).unwrap()).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    let mut trusting = StreamReader::new(&bad[..]).unwrap();
    trusting.trust_checksums();
    assert_eq!(drain(trusting).unwrap(), 50);
    // Cut before its trailer: still truncated.
    let mut cut = StreamReader::new(&bad[..first + 5 + len + 4]).unwrap();
    cut.trust_checksums();
    assert!(matches!(drain(cut), Err(StreamError::Truncated(_))));
}

/// An index without an expression is the 7-element array older readers know; one with an
/// expression has it as an 8th element, and both read back.
#[test]
fn index_expressions_only_when_there_is_one() {
    let mut s = SIndex {
        namespace: b"test".to_vec(),
        set: None,
        name: b"i".to_vec(),
        index_type: crate::record::IndexType::Default,
        bin: b"b".to_vec(),
        data_type: crate::record::IndexDataType::Numeric,
        context: None,
        expression: None,
    };
    let plain = rmp_serde::to_vec(&s).unwrap();
    assert_eq!(plain[0], 0x97, "fixarray of 7");
    assert_eq!(rmp_serde::from_slice::<SIndex>(&plain).unwrap(), s);
    s.expression = Some(b"kwGTUQOlYWdlAA==".to_vec());
    let with = rmp_serde::to_vec(&s).unwrap();
    assert_eq!(with[0], 0x98, "fixarray of 8");
    assert_eq!(rmp_serde::from_slice::<SIndex>(&with).unwrap(), s);
}
