//! The linked-library victim: an executable that links the victim library at load time
//! (DT_NEEDED libvictim.so, found through an rpath of $ORIGIN, the way every program links libc),
//! calls it in a loop and reports which version answers.
//!
//! Usage: `victim-linked STATUS_FILE`.

#![no_main]

#[path = "../common/report.rs"]
mod report;

use report::{Report, MIXED};

#[link(name = "victim")]
extern "C" {
    fn victim_version() -> u64;
    fn victim_work(seed: u64) -> u64;
}

const SEED: u64 = 0x5EED;

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let path = std::env::args()
        .nth(1)
        .expect("usage: victim-linked STATUS_FILE");
    let mut report = Report::open(&path);
    // SAFETY: both functions are plain `extern "C"` functions of the victim library.
    let (first, expected) = unsafe { (victim_version(), victim_work(SEED)) };
    report.ready(first);
    loop {
        // SAFETY: as above; what they run after an overwrite is the experiment.
        let answered = unsafe { victim_version() };
        let seen = if answered != first {
            answered
        } else if unsafe { victim_work(SEED) } == expected {
            first
        } else {
            MIXED
        };
        report.tick(seen);
    }
}
