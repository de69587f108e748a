#![no_main]
//! See as_common::fuzzing::wire_reply: the body lives in the library so that crashing inputs kept in
//! fuzz/regressions/wire_reply/ are replayed by cargo test.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| as_common::fuzzing::wire_reply(data));
