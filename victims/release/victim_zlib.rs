//! The zlib victim: links the real `libz.so.1` (DT_NEEDED, found through an rpath of $ORIGIN),
//! compresses and uncompresses a buffer in a loop and checks the round trip, reporting which
//! version answers (`zlibVersion`), or mixed when the round trip fails. Its first stderr line
//! names the version it started on.
//!
//! Usage: `victim-zlib STATUS_FILE`.

#![no_main]

#[path = "../common/report.rs"]
mod report;
#[path = "version.rs"]
mod version;

use std::ffi::{c_char, c_int, c_ulong, CStr};

use report::Report;

#[link(name = "z")]
extern "C" {
    fn zlibVersion() -> *const c_char;
    fn compressBound(source_len: c_ulong) -> c_ulong;
    fn compress(dest: *mut u8, dest_len: *mut c_ulong, source: *const u8, len: c_ulong) -> c_int;
    fn uncompress(dest: *mut u8, dest_len: *mut c_ulong, source: *const u8, len: c_ulong) -> c_int;
}

/// The version the loaded zlib reports.
fn zlib_version() -> String {
    // SAFETY: zlib returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(zlibVersion()) }
        .to_string_lossy()
        .into_owned()
}

/// Whether `input` comes back unchanged from compress and uncompress.
fn round_trip(input: &[u8], packed: &mut [u8], unpacked: &mut [u8]) -> bool {
    let mut packed_len = packed.len() as c_ulong;
    let mut unpacked_len = unpacked.len() as c_ulong;
    // SAFETY: every length passed is the length of the buffer next to it.
    let ok = unsafe {
        compress(
            packed.as_mut_ptr(),
            &mut packed_len,
            input.as_ptr(),
            input.len() as c_ulong,
        ) == 0
            && uncompress(
                unpacked.as_mut_ptr(),
                &mut unpacked_len,
                packed.as_ptr(),
                packed_len,
            ) == 0
    };
    ok && unpacked.get(..unpacked_len as usize) == Some(input)
}

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let path = std::env::args()
        .nth(1)
        .expect("usage: victim-zlib STATUS_FILE");
    let mut report = Report::open(&path);
    let input: Vec<u8> = (0..4096u32)
        .flat_map(|i| format!("line {i} of the zlib victim\n").into_bytes())
        .take(4096)
        .collect();
    // SAFETY: a pure function of its argument.
    let bound = unsafe { compressBound(input.len() as c_ulong) } as usize;
    let mut packed = vec![0u8; bound];
    let mut unpacked = vec![0u8; input.len()];
    version::watch(&mut report, "zlib", zlib_version, || {
        round_trip(&input, &mut packed, &mut unpacked)
    })
}
