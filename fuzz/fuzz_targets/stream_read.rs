#![no_main]
//! The stream reader must reject or accept any input without panicking or over-allocating.
use as_common::stream::{StreamReader, MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Half the inputs get a valid preamble so the fuzzer reaches the frames quickly.
    let mut input = Vec::with_capacity(data.len() + 12);
    if data.first().is_some_and(|b| b & 1 == 0) {
        input.extend_from_slice(&MAGIC);
        input.extend_from_slice(&1u32.to_le_bytes());
        input.extend_from_slice(&data[1..]);
    } else {
        input.extend_from_slice(data);
    }
    if let Ok(mut r) = StreamReader::new(&input[..]) {
        while let Ok(Some(_)) = r.next_frame() {}
    }
});
