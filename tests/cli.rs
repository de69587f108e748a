//! CLI tests: spawn the real binaries, feed them good and bad input, check stdout, stderr and the
//! exit status. Every failure must be one clear line and a non-zero exit, never a panic.

use as_test_support as support;

use assert_cmd::Command;
use std::process::Output;

fn tool(name: &str) -> Command {
    Command::cargo_bin(name).unwrap()
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(support::samples().join(name)).unwrap()
}

fn run(name: &str, args: &[&str], stdin: &[u8]) -> Output {
    tool(name)
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .unwrap()
}

fn ok(name: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let o = run(name, args, stdin);
    assert!(
        o.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn generated(n: u64, seed: u64) -> Vec<u8> {
    ok(
        "as-gen",
        &["-n", &n.to_string(), "--seed", &seed.to_string()],
        b"",
    )
}

/// Exactly one line on stderr, `<tool>: error: ...` containing `want`, and the given status.
#[track_caller]
fn fails(o: &Output, name: &str, code: i32, want: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{name}: stderr {err:?}");
    assert!(!err.contains("panicked"), "{name} panicked: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "{name} must print one line, printed {err:?}"
    );
    assert!(err.starts_with(&format!("{name}: error: ")), "{err:?}");
    assert!(err.contains(want), "{name}: {err:?} does not say {want:?}");
}

const INCOMPLETE: &[u8] = b"# INCOMPLETE BACKUP: ";

fn ends_incomplete(out: &[u8]) -> bool {
    let last = out[..out.len() - 1]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    out[last..].starts_with(INCOMPLETE) && out.ends_with(b"\n")
}

#[test]
fn official_samples_round_trip_through_the_binaries() {
    for (file, args) in [
        ("sample.asb", &[][..]),
        ("sample-compact.asb", &["--compact"][..]),
        ("sample-dir/bar_00000.asb", &[][..]),
        ("sample-dir/bar_00001.asb", &[][..]),
    ] {
        let asb = sample(file);
        let stream = ok("as-decode", &[], &asb);
        assert_eq!(ok("as-encode", args, &stream), asb, "{file}");
    }
    // The zstd sample: decompressed by as-decode itself, and by as-zstd.
    let z = sample("sample-zstd.asb");
    let plain = ok("as-zstd", &["-d"], &z);
    assert!(plain.starts_with(b"Version 3.1\n# namespace bar\n# first-file\n"));
    let stream = ok("as-decode", &["-z", "zstd"], &z);
    assert_eq!(ok("as-encode", &[], &stream), plain);
}

#[test]
fn full_pipeline_is_lossless() {
    let stream = generated(2000, 9);
    let asb = ok("as-encode", &[], &stream);
    let z = ok("as-zstd", &["-l", "5", "-T", "2"], &asb);
    assert!(z.len() < asb.len());
    let back = ok("as-zstd", &["-d"], &z);
    assert_eq!(back, asb);
    let stream2 = ok("as-decode", &[], &back);
    assert_eq!(ok("as-encode", &[], &stream2), asb);
    // Compact output decodes to the same records.
    let compact = ok("as-encode", &["-C"], &stream);
    let stream3 = ok("as-decode", &[], &compact);
    assert_eq!(ok("as-encode", &[], &stream3), asb);
}

#[test]
fn generator_is_reproducible() {
    assert_eq!(generated(300, 5), generated(300, 5));
    assert_ne!(generated(300, 5), generated(300, 6));
}

#[test]
fn as_zstd_output_is_read_by_the_zstd_cli_and_back() {
    let asb = ok("as-encode", &[], &generated(500, 2));
    let dir = tempfile::tempdir().unwrap();
    let zf = dir.path().join("b.asb.zst");
    std::fs::write(&zf, ok("as-zstd", &[], &asb)).unwrap();
    let o = std::process::Command::new("zstd")
        .args(["-d", "-c"])
        .arg(&zf)
        .output()
        .expect("the zstd command-line tool is installed (scripts/test installs it)");
    assert!(o.status.success());
    assert_eq!(o.stdout, asb);
    // zstd CLI output, and several frames back to back (as asbackup writes), read by as-zstd -d.
    let o = std::process::Command::new("zstd")
        .args(["-c", "-q", "-19"])
        .write_stdin_bytes(&asb[..1000]);
    let mut two = o;
    two.extend(ok("as-zstd", &["-l", "1"], &asb[1000..]));
    assert_eq!(ok("as-zstd", &["-d"], &two), asb);
}

trait WriteStdin {
    fn write_stdin_bytes(&mut self, data: &[u8]) -> Vec<u8>;
}

impl WriteStdin for std::process::Command {
    fn write_stdin_bytes(&mut self, data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success());
        o.stdout
    }
}

#[test]
fn as_encode_rejects_foreign_input() {
    fails(
        &run("as-encode", &[], &sample("sample.asb")),
        "as-encode",
        3,
        "input is ASB text, not a record stream: run as-decode first",
    );
    fails(
        &run("as-encode", &[], &sample("sample-zstd.asb")),
        "as-encode",
        3,
        "input is zstd-compressed: run as-zstd -d first",
    );
    fails(
        &run("as-encode", &[], b""),
        "as-encode",
        3,
        "input is empty",
    );
    fails(
        &run("as-encode", &[], b"\x00\x01garbage garbage"),
        "as-encode",
        3,
        "not a record stream (bad magic)",
    );
    let mut v2 = generated(1, 1);
    v2[8] = 2;
    fails(
        &run("as-encode", &[], &v2),
        "as-encode",
        3,
        "version 2 is not supported",
    );
    for o in [
        run("as-encode", &[], &sample("sample.asb")),
        run("as-encode", &[], b""),
    ] {
        assert!(o.stdout.is_empty(), "nothing is written for foreign input");
    }
}

#[test]
fn as_encode_marks_a_truncated_stream_incomplete() {
    let stream = generated(200, 3);
    // Cut inside the stream header: nothing is written at all.
    let o = run("as-encode", &[], &stream[..40]);
    fails(&o, "as-encode", 3, "truncated");
    assert!(o.stdout.is_empty());
    for cut in [stream.len() - 1, stream.len() - 9, stream.len() / 2, 300] {
        let o = run("as-encode", &[], &stream[..cut]);
        fails(&o, "as-encode", 3, "truncated");
        assert!(
            ends_incomplete(&o.stdout),
            "partial output must end with the marker"
        );
        // The partial backup is refused by the decoder, with the reason.
        let v = run("as-decode", &["--validate"], &o.stdout);
        fails(&v, "as-decode", 3, "backup was marked incomplete");
    }
}

#[test]
fn as_encode_detects_a_flipped_byte() {
    let mut stream = generated(50, 3);
    let at = stream.len() / 2;
    stream[at] ^= 0x01;
    let o = run("as-encode", &[], &stream);
    fails(&o, "as-encode", 3, "checksum mismatch");
    assert!(ends_incomplete(&o.stdout));
}

/// A stream frame with a length field past the end of the input.
#[test]
fn as_encode_detects_a_length_past_eof() {
    let mut stream = generated(5, 3);
    // Append a record frame header claiming 100 MB, and a few bytes.
    stream.truncate(stream.len() - 20); // drop the trailer (and a bit more): cut inside it
    let o = run("as-encode", &[], &stream);
    fails(&o, "as-encode", 3, "truncated");
    let mut s = generated(0, 1);
    let trailer_at = s.len() - 4 - 5 - 4; // kind, len, payload (4 zero counts), crc
    s.truncate(trailer_at);
    s.extend_from_slice(&[4, 0, 0, 0, 6, 1, 2, 3]);
    let o = run("as-encode", &[], &s);
    fails(&o, "as-encode", 3, "input ends inside frame");
}

/// A record whose bin has a particle type the ASB format has no letter for.
#[test]
fn as_encode_rejects_an_unknown_bin_type() {
    use as_common::record::{Bin, Record, Value};
    use as_common::stream::{Header, StreamWriter};
    use std::borrow::Cow;
    let h = Header {
        namespace: Some(b"test".to_vec()),
        first_file: true,
        producer: "test".into(),
        scope: String::new(),
        append: false,
        origin: None,
    };
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    let mut r = Record {
        namespace: Cow::Borrowed(b"test"),
        set: None,
        digest: [7; 20],
        key: None,
        generation: 1,
        expiry: 0,
        bins: vec![Bin {
            name: Cow::Borrowed(b"ok"),
            value: Value::int(1),
        }],
    };
    w.record(&r).unwrap();
    r.bins.push(Bin {
        name: Cow::Borrowed(b"odd"),
        value: Value::new(99, vec![1, 2]),
    });
    w.record(&r).unwrap();
    let stream = w.finish().unwrap().0;
    let o = run("as-encode", &[], &stream);
    fails(&o, "as-encode", 3, "bin \"odd\": unknown particle type 99");
    // The good record is there, the bad one is not, and the output is marked.
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("+ n test\n").count(), 1, "{out}");
    assert!(ends_incomplete(&o.stdout));
}

#[test]
fn as_decode_rejects_bad_input_with_line_and_column() {
    fails(
        &run("as-decode", &[], &sample("sample-zstd.asb")),
        "as-decode",
        3,
        "input is zstd-compressed: run as-zstd -d first",
    );
    fails(
        &run("as-decode", &[], &generated(1, 1)),
        "as-decode",
        3,
        "input is a record stream, not ASB text",
    );
    // The C tool's own bad file: an invalid bin type `x`.
    let bad = b"Version 3.1\n# namespace test\n+ k S 4 key1\n+ n test\n+ d 7JEZLUt/jONdXXjTS8ply6qqyWA=\n+ s demo\n+ g 1\n+ t 0\n+ b 3\n- I foo 123\n- x bar 3 abc\n- Z baz T\n";
    let o = run("as-decode", &[], bad);
    fails(
        &o,
        "as-decode",
        3,
        "stdin: line 11, column 3: invalid bin type 'x'",
    );
    let mut good = bad.to_vec();
    let x = good.windows(4).position(|w| w == b"- x ").unwrap() + 2;
    good[x] = b'S';
    let o = run("as-decode", &["--validate"], &good);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "valid: 1 record(s), 0 secondary index(es), 0 UDF file(s) in 1 file(s)\n"
    );
    // Length field past EOF, and a huge claim that must not be allocated.
    let o = run("as-decode", &[], b"Version 3.1\n* u L x.lua 50 abc\n");
    fails(
        &o,
        "as-decode",
        3,
        "line 3, column 1: unexpected end of input in the UDF content: 4 of 50 bytes",
    );
    let o = run(
        "as-decode",
        &["--validate"],
        b"Version 3.1\n* u L x.lua 1000000000000 abc\n",
    );
    fails(&o, "as-decode", 3, "4 of 1000000000000 bytes");
}

#[test]
fn as_decode_leaves_a_truncated_stream_on_error() {
    // An ASB file that breaks after some records: the stream as-decode wrote has no trailer,
    // so as-encode downstream refuses it.
    let asb = ok("as-encode", &[], &generated(100, 4));
    let mut bad = asb.clone();
    let at = bad.len() * 2 / 3;
    let line = bad[at..].iter().position(|&c| c == b'\n').unwrap() + at + 1;
    bad.insert(line, b'?');
    let o = run("as-decode", &[], &bad);
    fails(&o, "as-decode", 3, "expected");
    assert!(!o.stdout.is_empty());
    let e = run("as-encode", &[], &o.stdout);
    fails(&e, "as-encode", 3, "stream ends without its trailer");
}

#[test]
fn as_decode_validates_files_directories_and_stdin() {
    let o = tool("as-decode")
        .arg("--validate")
        .arg(support::samples().join("sample-dir"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.ends_with("valid: 10 record(s), 2 secondary index(es), 1 UDF file(s) in 2 file(s)\n"),
        "{out}"
    );
    let o = tool("as-decode")
        .args(["--validate", "-z", "zstd"])
        .arg(support::samples().join("sample-zstd.asb"))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "valid: 10 record(s), 2 secondary index(es), 1 UDF file(s) in 1 file(s)\n"
    );

    // A directory with one broken file fails, naming it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        support::samples().join("sample-dir/bar_00000.asb"),
        dir.path().join("bar_00000.asb"),
    )
    .unwrap();
    let mut broken = sample("sample-dir/bar_00001.asb");
    broken.truncate(broken.len() - 3);
    std::fs::write(dir.path().join("bar_00001.asb"), broken).unwrap();
    let o = tool("as-decode")
        .arg("--validate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bar_00001.asb: line"), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap()
            .contains("1 of 2 file(s) are not valid"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let o = tool("as-decode")
        .arg("--validate")
        .arg(empty.path())
        .output()
        .unwrap();
    fails(&o, "as-decode", 3, "holds no *.asb files");
    let o = tool("as-decode")
        .arg(support::samples().join("sample-dir"))
        .output()
        .unwrap();
    fails(&o, "as-decode", 1, "is a directory");
    let o = tool("as-decode")
        .arg("/nonexistent/x.asb")
        .output()
        .unwrap();
    fails(&o, "as-decode", 1, "cannot open /nonexistent/x.asb");
}

#[test]
fn as_zstd_rejects_bad_input() {
    fails(
        &run("as-zstd", &["-d"], &sample("sample.asb")),
        "as-zstd",
        3,
        "not zstd-compressed data (it is ASB text",
    );
    fails(
        &run("as-zstd", &["-d"], &generated(1, 1)),
        "as-zstd",
        3,
        "it is a record stream",
    );
    let z = ok("as-zstd", &[], &ok("as-encode", &[], &generated(300, 1)));
    let o = run("as-zstd", &["-d"], &z[..z.len() - 10]);
    fails(&o, "as-zstd", 3, "corrupt or truncated zstd data");
    let mut flipped = z.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x55;
    fails(
        &run("as-zstd", &["-d"], &flipped),
        "as-zstd",
        3,
        "corrupt or truncated zstd data",
    );
    fails(
        &run("as-zstd", &["-l", "99"], b"x"),
        "as-zstd",
        1,
        "compression level 99 is out of range",
    );
    // Empty in, a valid empty frame out; but empty input is not zstd data (as with zstd -d).
    let e = ok("as-zstd", &[], b"");
    assert!(!e.is_empty());
    assert!(ok("as-zstd", &["-d"], &e).is_empty());
    fails(
        &run("as-zstd", &["-d"], b""),
        "as-zstd",
        3,
        "input is empty",
    );
}

#[test]
fn usage_errors_exit_2() {
    for t in ["as-encode", "as-decode", "as-zstd", "as-gen"] {
        let o = tool(t).arg("--no-such-flag").output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{t}");
        let o = tool(t).arg("--help").output().unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("Usage:"));
    }
}

#[test]
fn broken_pipe_downstream_is_an_error() {
    use std::io::Read;
    use std::process::{Command as Std, Stdio};
    let stream = generated(20000, 1);
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("as-encode"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&stream);
    });
    // Read a little, then close the pipe, as `head` does.
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 100];
    out.read_exact(&mut buf).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("broken pipe"), "{err}");
}

/// A stream marked `append` (a later segment of a resumed single-file backup) becomes ASB
/// without header lines, which appended to the first segment's output gives one valid file.
#[test]
fn an_append_stream_encodes_without_header() {
    use as_common::stream::{Frame, StreamReader, StreamWriter};
    let stream = generated(50, 9);
    let mut r = StreamReader::new(&stream[..]).unwrap();
    let mut h = r.header().clone();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    h.append = false;
    let mut w1 = StreamWriter::new(&mut first, &h).unwrap();
    h.append = true;
    h.first_file = false;
    let mut w2 = StreamWriter::new(&mut second, &h).unwrap();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        match f {
            Frame::Record(rec) if n >= 20 => w2.record(&rec).unwrap(),
            Frame::Record(rec) => {
                n += 1;
                w1.record(&rec).unwrap()
            }
            other => w1.frame(&other).unwrap(),
        }
    }
    w1.finish().unwrap();
    w2.finish().unwrap();
    let head = ok("as-encode", &[], &first);
    let tail = ok("as-encode", &[], &second);
    assert!(tail.starts_with(b"+ "), "records only: {:?}", &tail[..20]);
    let whole = [head, tail].concat();
    assert_eq!(
        whole,
        ok("as-encode", &[], &stream),
        "the same file as in one piece"
    );
}
