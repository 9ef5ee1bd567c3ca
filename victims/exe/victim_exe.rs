//! The running-executable victim, compiled by the harness's build script in two versions
//! (`--cfg victim_v1`, `--cfg victim_v2`) with different code and a differently sized table (64 KiB
//! versus 96 KiB), so the two files differ in layout as two real releases do.
//!
//! Usage: `victim-exe STATUS_FILE`. It runs its own code in a loop and reports every iteration
//! through the status file.

#![no_main]

#[path = "../common/report.rs"]
mod report;

use report::{Report, MIXED};

#[path = "../common/table.rs"]
mod table;

use table::{TABLE, VERSION};

/// Mixed into the table's values, so that the library's and the executable's tables differ.
const MULTIPLIER: u64 = 0xD6E8_FEB8_6659_FD93;

#[inline(never)]
fn work(seed: u64) -> u64 {
    let mut acc = seed;
    for word in TABLE.iter() {
        acc = std::hint::black_box(acc.rotate_left(7) ^ word);
    }
    acc
}

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let path = std::env::args().nth(1).expect("usage: victim-exe STATUS_FILE");
    let mut report = Report::open(&path);
    let expected = work(0x5EED);
    report.ready(VERSION);
    loop {
        let seen = if work(0x5EED) == expected {
            VERSION
        } else {
            MIXED
        };
        report.tick(seen);
    }
}
