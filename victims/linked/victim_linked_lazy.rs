//! The lazily bound linked-library victim: like `victim_linked.rs` an executable that links the
//! victim library at load time (DT_NEEDED libvictim.so, rpath $ORIGIN), but built with partial
//! RELRO and `-z lazy` (see harness/build.rs), so that its calls into the library go through PLT
//! slots the dynamic loader fills in at each function's first call, not at start-up.
//!
//! It calls `victim_version` and `victim_work` in its loop, so their slots are bound before it
//! reports ready. Once the harness has marked the update finished (status word `UPDATED`), it
//! writes [`MARKER`] to stderr and calls `victim_late` for the first time: the loader resolves that
//! symbol then, reading the library's .gnu.hash, .dynsym and .dynstr from its mapping of the
//! (possibly overwritten) file. From then on it reports what that call returned (1, 2, or `MIXED`
//! for anything else) when it differs from the version it started with, and otherwise what the
//! other two functions answer, as the other victims do.
//!
//! Usage: `victim-linked-lazy STATUS_FILE`.

#![no_main]

#[path = "../common/report.rs"]
mod report;

use report::{Report, MIXED};

#[link(name = "victim")]
extern "C" {
    fn victim_version() -> u64;
    fn victim_work(seed: u64) -> u64;
    fn victim_late() -> u64;
}

const SEED: u64 = 0x5EED;

/// The line written to stderr just before the first call of `victim_late`.
const MARKER: &str = "calling victim_late for the first time";

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let path = std::env::args()
        .nth(1)
        .expect("usage: victim-linked-lazy STATUS_FILE");
    let mut report = Report::open(&path);
    // SAFETY: both functions are plain `extern "C"` functions of the victim library.
    let (first, expected) = unsafe { (victim_version(), victim_work(SEED)) };
    report.ready(first);
    let mut late: Option<u64> = None;
    loop {
        if late.is_none() && report.updated() {
            eprintln!("{MARKER}");
            // SAFETY: `victim_late` is an `extern "C"` function of every version of the library;
            // what the loader binds it to after an overwrite is the experiment.
            let answered = unsafe { victim_late() };
            late = Some(if answered == 1 || answered == 2 {
                answered
            } else {
                MIXED
            });
        }
        // SAFETY: as above; what they run after an overwrite is the experiment.
        let answered = unsafe { victim_version() };
        let seen = match late {
            Some(version) if version != first => version,
            _ if answered != first => answered,
            _ if unsafe { victim_work(SEED) } == expected => first,
            _ => MIXED,
        };
        report.tick(seen);
    }
}
