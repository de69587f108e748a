//! Every input that once crashed a fuzz target (fuzz/regressions/<target>/) is replayed here:
//! the target's body must return without panicking.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
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

#[test]
fn the_regression_inputs_are_there() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/wire_reply");
    assert!(std::fs::read_dir(dir).unwrap().count() >= 2);
}
