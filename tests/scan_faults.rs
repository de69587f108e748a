//! as-scan under faults on the bundled test server: nodes dying, connections reset, partitions
//! unavailable, with and without replicas; every record exactly once or a clear failure.

use as_test_support as support;

use as_common::stream::StreamReader;
use support::cluster::*;
use support::{run, TestServer};

/// Every record exactly once, however the scan was disturbed.
#[test]
fn faults_lose_and_double_nothing() {
    let s = TestServer::start(3, &[]);
    let rt = rt();
    let c = rt.block_on(client(&s));
    rt.block_on(load(&c, "f", 0..1000, None));
    let want = scan(&s, &["-n", "test"])
        .records
        .into_keys()
        .collect::<Vec<_>>();
    assert_eq!(want.len(), 1000);
    let check = |b: Backup, what: &str| {
        let got: Vec<_> = b.records.into_keys().collect();
        let lost = want.iter().filter(|d| !got.contains(d)).count();
        let extra = got.iter().filter(|d| !want.contains(d)).count();
        assert_eq!(
            (lost, extra, got.len()),
            (0, 0, 1000),
            "{what}: lost, unexpected, total"
        );
        assert_eq!(b.done, 4096, "{what}");
    };

    assert_eq!(s.info(0, "testd-fault:drop-after=50;node=0"), "ok");
    check(
        scan(&s, &["-n", "test"]),
        "connection dropped after 50 records",
    );

    s.info(0, "testd-fault:unavailable=0-300;times=2");
    check(
        scan(&s, &["-n", "test", "-w", "4"]),
        "partitions unavailable twice",
    );

    s.info(0, "testd-fault:stall=3000;node=1");
    check(
        scan(&s, &["-n", "test", "--socket-timeout", "300"]),
        "a node stalled past the socket timeout",
    );

    // A node taken away mid-scan: its partitions move to the others.
    let host = s.host();
    let killer = {
        let port = s.ports[2];
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let mut st = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            use std::io::Write;
            st.write_all(&as_common::wire::info::request(&["testd-kill:node=1"]))
                .unwrap();
        })
    };
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "-L", "1000"],
        b"",
    );
    killer.join().unwrap();
    assert_eq!(code, 0, "{err}");
    check(read_stream(&out), "a node taken away mid-scan");
    s.info(0, "testd-revive:node=1");

    // Away when the scan begins (so not among the nodes it found), back mid-scan: with one
    // copy its partitions are only there, and the scan must find it among the peers.
    assert_eq!(s.info(0, "testd-kill:node=2"), "ok");
    let t = later(s.ports[0], &[(300, "testd-revive:node=2")]);
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "-L", "1000"],
        b"",
    );
    t.join().unwrap();
    assert_eq!(code, 0, "{err}");
    check(
        read_stream(&out),
        "a node away at the start that comes back",
    );

    // Unavailable for longer than the retries: a clear failure and no trailer.
    s.info(0, "testd-fault:unavailable=7-7;times=100");
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "--max-retries", "2"],
        b"",
    );
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("not scanned after 2 retries"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        StreamReader::new(&out[..])
            .and_then(|mut r| {
                while r.next_frame()?.is_some() {}
                Ok(())
            })
            .is_err(),
        "a failed scan must not end its stream"
    );
    s.info(0, "testd-fault:clear=1");
}

#[test]
fn connection_errors_have_their_own_exit_codes() {
    let s = TestServer::start(1, &["--user", "admin", "--password", "s3cret"]);
    let host = s.host();
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &host, "-n", "test", "-U", "admin", "--password=wrong"],
        b"",
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("wrong password"), "{err}");
    assert!(out.is_empty());
    assert!(!err.contains("wrong\""), "the password is not echoed");
    let o = std::process::Command::new(support::tool("as-scan"))
        .args(["-h", &host, "-n", "test", "-U", "admin"])
        .env("AS_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_stream(&o.stdout).records.len(), 0);
    // Without credentials the server refuses to answer.
    let (code, _, err) = run(support::tool("as-scan"), &["-h", &host, "-n", "test"], b"");
    assert_ne!(code, 0, "{err}");

    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", "127.0.0.1:1", "-n", "test"],
        b"",
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no seed host answered"), "{err}");
    assert!(out.is_empty());
    let free = TestServer::start(1, &[]);
    let (code, out, err) = run(
        support::tool("as-scan"),
        &["-h", &free.host(), "-n", "nosuch"],
        b"",
    );
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("namespace \"nosuch\" does not exist"), "{err}");
    assert!(out.is_empty());
}

/// Sends info commands to a node after the given delays (milliseconds from now), in a thread.
fn later(port: u16, steps: &[(u64, &str)]) -> std::thread::JoinHandle<()> {
    let steps: Vec<(u64, String)> = steps.iter().map(|(t, c)| (*t, c.to_string())).collect();
    std::thread::spawn(move || {
        let start = std::time::Instant::now();
        for (t, cmd) in steps {
            if let Some(d) = std::time::Duration::from_millis(t).checked_sub(start.elapsed()) {
                std::thread::sleep(d);
            }
            use std::io::Write;
            let mut st = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            st.write_all(&as_common::wire::info::request(&[&cmd]))
                .unwrap();
            let mut b = [0u8; 64];
            let _ = std::io::Read::read(&mut st, &mut b);
        }
    })
}

/// Three nodes with two copies of each partition: a node that dies, stalls past the socket
/// timeout, drops its connection, or leaves and comes back mid-scan costs no record and
/// doubles none.
#[test]
fn faults_with_replicas_lose_and_double_nothing() {
    let s = TestServer::start(3, &["--replication-factor", "2", "--sample", "3000"]);
    let want: Vec<_> = scan(&s, &["-n", "test"]).records.into_keys().collect();
    assert_eq!(want.len(), 3000);
    let host = s.host();
    let check = |args: &[&str], steps: &[(u64, &str)], what: &str| {
        let mut all = vec!["-h", &host[..], "-n", "test"];
        all.extend_from_slice(args);
        for (_, cmd) in steps.iter().filter(|(t, _)| *t == 0) {
            assert_eq!(s.info(0, cmd), "ok");
        }
        let rest: Vec<_> = steps.iter().copied().filter(|(t, _)| *t > 0).collect();
        let t = later(s.ports[0], &rest);
        let (code, out, err) = run(support::tool("as-scan"), &all, b"");
        t.join().unwrap();
        assert_eq!(code, 0, "{what}: {err}");
        let b = read_stream(&out);
        let got: Vec<_> = b.records.keys().copied().collect();
        let lost = want.iter().filter(|d| !b.records.contains_key(*d)).count();
        let extra = got.iter().filter(|d| !want.contains(d)).count();
        assert_eq!(
            (lost, extra, got.len()),
            (0, 0, 3000),
            "{what}: lost, unexpected, total"
        );
        assert_eq!(b.done, 4096, "{what}");
        s.info(0, "testd-revive:node=1");
        s.info(0, "testd-revive:node=2");
    };
    check(
        &[],
        &[(0, "testd-fault:drop-after=50;node=1")],
        "connection reset",
    );
    check(
        &["--socket-timeout", "300"],
        &[(0, "testd-fault:stall=3000;node=1")],
        "a node stalled past the socket timeout",
    );
    // Throttled so that the faults strike mid-scan.
    check(
        &["-L", "3000"],
        &[(300, "testd-kill:node=1")],
        "a node killed mid-scan",
    );
    check(
        &["-L", "3000", "-w", "4"],
        &[(200, "testd-kill:node=2"), (500, "testd-revive:node=2")],
        "a node that leaves and comes back",
    );
}
