//! as-scan over TLS with every login mode, against the bundled test server.

use as_test_support as support;

use support::cluster::*;
use support::{run, TestServer};

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

/// as-restore takes the same connection options: over TLS with a login, into a server that
/// refuses the unauthenticated.
#[test]
fn restore_over_tls_with_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let s = TestServer::start(2, &["--tls", d, "--user", "admin", "--password", "s3"]);
    let ca = format!("{d}/ca.pem");
    let seed = format!("127.0.0.1:testd:{}", s.ports[0]);
    let (code, stream, _) = run(support::tool("as-gen"), &["-n", "300"], b"");
    assert_eq!(code, 0);
    let tls = ["-h", &seed[..], "--tls-enable", "--tls-cafile", &ca[..]];
    let (code, _, err) = run(
        support::tool("as-restore"),
        &[&tls[..], &["-U", "admin", "--password=s3"]].concat(),
        &stream,
    );
    assert_eq!(code, 0, "{err}");
    let restored = err;
    let (code, out, err) = run(
        support::tool("as-scan"),
        &[&tls[..], &["-U", "admin", "--password=s3", "-n", "test"]].concat(),
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let inserted: usize = restored
        .split("inserted ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {restored}"));
    assert!(inserted > 100);
    assert_eq!(read_stream(&out).records.len(), inserted);
    // A wrong password is exit 5, before anything is written.
    let (code, _, err) = run(
        support::tool("as-restore"),
        &[&tls[..], &["-U", "admin", "--password=nope"]].concat(),
        &stream,
    );
    assert_eq!(code, 5, "{err}");
}
