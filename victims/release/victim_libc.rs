//! The C-library victim: asks the C library it runs on for its version (`gnu_get_libc_version`)
//! and formats and parses a number through it (`snprintf`, `strtoul`) in a loop, reporting which
//! version answers, or mixed when the round trip fails. It runs under a private loader on a
//! private copy of a real glibc release; its first stderr line names the version it started on.
//!
//! Usage: `victim-libc STATUS_FILE`.

#![no_main]

#[path = "../common/report.rs"]
mod report;
#[path = "version.rs"]
mod version;

use std::ffi::{c_char, c_int, c_ulong, CStr};

use report::Report;

extern "C" {
    fn gnu_get_libc_version() -> *const c_char;
    fn snprintf(buffer: *mut c_char, size: usize, format: *const c_char, ...) -> c_int;
    fn strtoul(text: *const c_char, end: *mut *mut c_char, base: c_int) -> c_ulong;
}

/// The version the running C library reports.
fn libc_version() -> String {
    // SAFETY: glibc returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(gnu_get_libc_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Whether `value` survives a round trip through the C library's formatting and parsing.
fn round_trip(value: u64) -> bool {
    let mut buffer = [0 as c_char; 32];
    // SAFETY: the buffer holds 32 bytes and snprintf writes at most that many, NUL included;
    // strtoul reads the NUL-terminated result.
    unsafe {
        snprintf(
            buffer.as_mut_ptr(),
            buffer.len(),
            c"%lu".as_ptr(),
            value as c_ulong,
        );
        strtoul(buffer.as_ptr(), std::ptr::null_mut(), 10) as u64 == value
    }
}

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let path = std::env::args()
        .nth(1)
        .expect("usage: victim-libc STATUS_FILE");
    let mut report = Report::open(&path);
    let mut value: u64 = 0x5EED;
    version::watch(&mut report, "glibc", libc_version, || {
        value = value.wrapping_mul(6364136223846793005).wrapping_add(1);
        round_trip(value)
    })
}
