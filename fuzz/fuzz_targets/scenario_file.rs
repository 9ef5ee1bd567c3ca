//! Fuzz target: any bytes as a scenario file must give a scenario or a BadInput, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = clobber::scenario::parse("fuzzed", "fuzzed.toml", text);
    }
});
