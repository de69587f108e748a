//! Every input kept for a fuzz target (fuzz/regressions/<target>/: inputs that once crashed it,
//! and hand-made ones at its edges) is replayed here: the target's body must return without
//! panicking. A target with nothing to replay fails, so no test here can pass by doing nothing.

fn replay(target: &str, check: fn(&[u8])) {
    let dir = as_test_support::repo()
        .join("fuzz/regressions")
        .join(target);
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .collect();
    assert!(
        !entries.is_empty(),
        "nothing to replay in {}",
        dir.display()
    );
    for e in entries {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        let name = p.display().to_string();
        std::panic::catch_unwind(|| check(&data)).unwrap_or_else(|_| panic!("{name} crashes"));
    }
}

#[test]
fn asb_decode_regressions() {
    replay("asb_decode", as_common::fuzzing::asb_decode);
}

#[test]
fn stream_read_regressions() {
    replay("stream_read", as_common::fuzzing::stream_read);
}

#[test]
fn wire_reply_regressions() {
    replay("wire_reply", as_common::fuzzing::wire_reply);
}
