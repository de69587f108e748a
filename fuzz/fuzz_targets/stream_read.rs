#![no_main]
//! See as_common::fuzzing::stream_read: the body lives in the library so that crashing inputs kept in
//! fuzz/regressions/stream_read/ are replayed by cargo test.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| as_common::fuzzing::stream_read(data));
