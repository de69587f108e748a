//! Encryption as asbackup does it: every official encrypted sample decrypts to the records of
//! the plain one; what as-crypt writes decrypts with an independent implementation (openssl);
//! the mistakes are one line each; the wrappers back up and restore encrypted.

use as_test_support as support;

use as_common::record::Record;
use as_common::stream::{Frame, StreamReader};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use support::{run, tool, TestServer};

fn enc() -> PathBuf {
    support::samples().join("encrypted")
}

/// The records of a decoded stream, as a set (the C tool's record order varies between runs).
fn records(stream: &[u8]) -> BTreeSet<Vec<u8>> {
    let mut r = StreamReader::new(stream).unwrap();
    let mut out = BTreeSet::new();
    while let Some(f) = r.next_frame().unwrap() {
        if let Frame::Record(x) = f {
            let x: Record = x;
            out.insert(format!("{x:?}").into_bytes());
        }
    }
    out
}

fn decode(args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let mut c = Command::new(tool("as-decode"));
    c.args(args).envs(env.iter().copied());
    let o = support::run_command(&mut c, b"");
    assert!(o.status.success(), "{args:?}: {}", support::stderr(&o));
    o.stdout
}

#[test]
fn every_official_encrypted_sample_decrypts_to_the_plain_records() {
    let e = enc();
    let p = |f: &str| e.join(f).to_str().unwrap().to_string();
    let plain = records(&decode(&[&p("plain.asb")], &[]));
    assert_eq!(plain.len(), 205);
    let key = p("key.pem");
    let envkey = std::fs::read_to_string(e.join("env-key.b64")).unwrap();
    let kf = ["--encryption-key-file", &key[..]];
    for (file, mode, z) in [
        ("aes128.asb", "aes128", false),
        ("aes256.asb", "aes256", false),
        ("zstd-aes256.asb", "aes256", true),
    ] {
        let mut args = vec![p(file), "-y".into(), mode.into()];
        args.extend(kf.iter().map(|s| s.to_string()));
        if z {
            args.extend(["-z".into(), "zstd".into()]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(records(&decode(&a, &[])), plain, "{file}");
    }
    let got = decode(
        &[
            &p("env-aes128.asb"),
            "-y",
            "aes128",
            "--encryption-key-env",
            "ENCKEY",
        ],
        &[("ENCKEY", envkey.trim())],
    );
    assert_eq!(records(&got), plain);
    let mut dir = BTreeSet::new();
    for f in ["dir-aes256/bar_00000.asb", "dir-aes256/bar_00001.asb"] {
        let s = decode(&[&p(f), "-y", "aes256", kf[0], kf[1], "-z", "zstd"], &[]);
        dir.extend(records(&s));
    }
    assert_eq!(dir, plain);
    // as-crypt -d gives the same text as-decode reads.
    let (code, text, err) = run(
        tool("as-crypt"),
        &["-d", "-y", "aes256", kf[0], kf[1], &p("aes256.asb")],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(text.starts_with(b"Version 3.1\n"));
}

/// The AES key as asbackup derives it, computed with openssl and sha256sum: independent of ours.
fn openssl_key(pem: &str, bytes: usize) -> String {
    let der = Command::new("openssl")
        .args(["pkey", "-in", pem, "-traditional", "-outform", "DER"])
        .output()
        .unwrap();
    assert!(der.status.success());
    let mut c = Command::new("sha256sum");
    let o = support::run_command(&mut c, &der.stdout);
    String::from_utf8(o.stdout).unwrap()[..bytes * 2].to_string()
}

/// Decrypts with openssl: the first block (ECB) is the counter, the rest CTR from it plus one.
fn openssl_decrypt(data: &[u8], key_hex: &str) -> Vec<u8> {
    let bits = key_hex.len() * 4;
    let mut c = Command::new("openssl");
    c.args([
        "enc",
        "-d",
        &format!("-aes-{bits}-ecb"),
        "-K",
        key_hex,
        "-nopad",
    ]);
    let iv = support::run_command(&mut c, &data[..16]).stdout;
    let ctr = (u128::from_be_bytes(iv[..16].try_into().unwrap()).wrapping_add(1)).to_be_bytes();
    let hex: String = ctr.iter().map(|b| format!("{b:02x}")).collect();
    let mut c = Command::new("openssl");
    c.args([
        "enc",
        "-d",
        &format!("-aes-{bits}-ctr"),
        "-K",
        key_hex,
        "-iv",
        &hex,
    ]);
    support::run_command(&mut c, &data[16..]).stdout
}

#[test]
fn our_encryption_decrypts_with_openssl() {
    let e = enc();
    let pem = e.join("key.pem");
    let pem = pem.to_str().unwrap();
    let plain = std::fs::read(e.join("plain.asb")).unwrap();
    let zstd = std::fs::read(e.join("plain-zstd.asb")).unwrap();
    for (mode, bytes) in [("aes128", 16), ("aes256", 32)] {
        for data in [&plain, &zstd] {
            let (code, out, err) = run(
                tool("as-crypt"),
                &["-y", mode, "--encryption-key-file", pem],
                data,
            );
            assert_eq!(code, 0, "{err}");
            assert_eq!(out.len(), data.len() + 16);
            assert_eq!(
                &openssl_decrypt(&out, &openssl_key(pem, bytes)),
                data,
                "{mode}"
            );
        }
    }
    // Keys openssl makes, in each form asbackup reads (RSA and EC, PKCS#8 and traditional):
    // the AES key is the hash of the traditional DER whatever the PEM's form.
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            support::stderr(&o)
        );
    };
    for (name, algo) in [("rsa", "RSA"), ("ec", "EC")] {
        let p8 = dir.path().join(format!("{name}8.pem"));
        let p8 = p8.to_str().unwrap();
        let trad = dir.path().join(format!("{name}1.pem"));
        let trad = trad.to_str().unwrap();
        let mut gen = vec!["genpkey", "-algorithm", algo, "-out", p8];
        gen.extend(match algo {
            "EC" => ["-pkeyopt", "ec_paramgen_curve:P-256"],
            _ => ["-pkeyopt", "rsa_keygen_bits:1024"],
        });
        openssl(&gen);
        openssl(&["pkey", "-in", p8, "-traditional", "-out", trad]);
        for pem in [p8, trad] {
            let (code, out, err) = run(
                tool("as-crypt"),
                &["-y", "aes256", "--encryption-key-file", pem],
                &plain,
            );
            assert_eq!(code, 0, "{pem}: {err}");
            assert_eq!(openssl_decrypt(&out, &openssl_key(pem, 32)), plain, "{pem}");
        }
    }
    // The variable form: the key is SHA-256 of the decoded bytes.
    let b64 = "c2VjcmV0IGtleSBtYXRlcmlhbA==";
    let mut c = Command::new(tool("as-crypt"));
    c.args(["-y", "aes256", "--encryption-key-env", "K"])
        .env("K", b64);
    let out = support::run_command(&mut c, &plain).stdout;
    let mut sha = Command::new("sha256sum");
    let key =
        String::from_utf8(support::run_command(&mut sha, b"secret key material").stdout).unwrap();
    assert_eq!(openssl_decrypt(&out, &key[..64]), plain);
}

#[test]
fn mistakes_are_one_line_each() {
    let e = enc();
    let pem = e.join("key.pem");
    let pem = pem.to_str().unwrap();
    let aes = e.join("aes256.asb");
    let aes = aes.to_str().unwrap();
    let plain = e.join("plain.asb");
    let cases: [(Vec<&str>, &[u8], i32, &str); 5] = [
        (
            vec!["-d", "-y", "aes128", "--encryption-key-file", pem, aes],
            b"",
            3,
            "wrong key, or not encrypted",
        ),
        (
            vec![
                "-d",
                "-y",
                "aes256",
                "--encryption-key-file",
                pem,
                plain.to_str().unwrap(),
            ],
            b"",
            3,
            "wrong key, or not encrypted",
        ),
        (
            vec!["-d", "-y", "aes256", "--encryption-key-file", pem],
            b"",
            3,
            "input is empty",
        ),
        (
            vec!["-d", "-y", "aes256", "--encryption-key-file", aes],
            b"",
            2,
            "not a PEM private key",
        ),
        (
            vec!["-y", "aes256"],
            b"x",
            2,
            "--encryption-key-file or --encryption-key-env",
        ),
    ];
    for (args, input, want, says) in cases {
        let (code, out, err) = run(tool("as-crypt"), &args, input);
        assert_eq!(code, want, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} wrote something");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn the_wrappers_back_up_and_restore_encrypted() {
    let src = TestServer::start(2, &["--sample", "2000"]);
    let dir = tempfile::tempdir().unwrap();
    let pem = enc().join("key.pem");
    let pem = pem.to_str().unwrap();
    let h = src.host();
    let f = dir.path().join("e.asb");
    let fs = f.to_str().unwrap();
    let k = ["-y", "aes256", "--encryption-key-file", pem];
    let ok = |mut c: Command| {
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", support::stderr(&o));
        support::stderr(&o)
    };
    ok(support::asbackup_command(
        &[
            &["-h", &h[..], "-n", "test", "-o", fs, "-z", "zstd"][..],
            &k,
        ]
        .concat(),
    ));
    assert!(!dir.path().join("e.asb.partial").exists());
    let d = dir.path().join("d");
    let ds = d.to_str().unwrap();
    ok(support::asbackup_command(
        &[&["-h", &h[..], "-n", "test", "-d", ds, "-F", "1"][..], &k].concat(),
    ));
    // The file is not readable without the key.
    let (code, _, _) = run(tool("as-decode"), &["--validate", "-z", "zstd", fs], b"");
    assert_ne!(code, 0);
    for (input, z) in [(&["-i", fs][..], true), (&["-d", ds][..], false)] {
        let dst = TestServer::start(1, &[]);
        let dh = dst.host();
        let mut args = vec!["-h", &dh[..]];
        args.extend_from_slice(input);
        args.extend_from_slice(&k);
        if z {
            args.extend(["-z", "zstd"]);
        }
        let err = ok(support::asrestore_command(&args));
        assert!(err.contains("inserted 2000: failed 0"), "{err}");
    }
}
