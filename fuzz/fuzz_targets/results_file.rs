//! Fuzz target: any bytes as a results file must give a results file or a BadInput, never a panic;
//! what parses must also summarise and render without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = clobber::results::parse(data, std::path::Path::new("fuzzed.json")) {
        for scenario in &file.scenarios {
            let _ = clobber::summary::render(scenario);
        }
    }
});
