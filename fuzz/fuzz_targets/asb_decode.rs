#![no_main]
//! See as_common::fuzzing::asb_decode: the body lives in the library so that crashing inputs kept in
//! fuzz/regressions/asb_decode/ are replayed by cargo test.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| as_common::fuzzing::asb_decode(data));
