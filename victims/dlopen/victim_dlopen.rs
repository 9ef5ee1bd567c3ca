//! The dlopen victim: a small stand-alone program that opens the victim library with dlopen()
//! (`RTLD_NOW | RTLD_LOCAL`), calls its functions in a tight loop through the pointers dlsym()
//! gave, and reports which version answers.
//!
//! Usage: `victim-dlopen LIBRARY STATUS_FILE`.

#![no_main]

#[path = "../common/report.rs"]
mod report;

use std::ffi::{c_char, c_int, c_void, CString};

use report::{Report, MIXED};

extern "C" {
    fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

const RTLD_NOW: c_int = 2;
const SEED: u64 = 0x5EED;

/// The loader's last error, for a victim that cannot start.
fn last_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated string valid until the next dl call.
    unsafe {
        let text = dlerror();
        if text.is_null() {
            "unknown error".into()
        } else {
            std::ffi::CStr::from_ptr(text).to_string_lossy().into_owned()
        }
    }
}

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let args: Vec<String> = std::env::args().collect();
    assert!(args.len() == 3, "usage: victim-dlopen LIBRARY STATUS_FILE");
    let mut report = Report::open(&args[2]);
    let library = CString::new(args[1].as_str()).expect("library path");
    // SAFETY: plain libdl calls; the library has no initialisers, and both symbols are
    // `extern "C"` functions with these signatures in every version.
    let (version, work) = unsafe {
        let handle = dlopen(library.as_ptr(), RTLD_NOW);
        if handle.is_null() {
            eprintln!("dlopen {}: {}", args[1], last_error());
            std::process::exit(2);
        }
        let symbol = |name: &std::ffi::CStr| {
            let found = dlsym(handle, name.as_ptr());
            if found.is_null() {
                eprintln!("dlsym {}: {}", name.to_string_lossy(), last_error());
                std::process::exit(3);
            }
            found
        };
        let version: extern "C" fn() -> u64 = std::mem::transmute(symbol(c"victim_version"));
        let work: extern "C" fn(u64) -> u64 = std::mem::transmute(symbol(c"victim_work"));
        (version, work)
    };
    let first = version();
    let expected = work(SEED);
    report.ready(first);
    loop {
        let answered = version();
        let seen = if answered != first {
            answered
        } else if work(SEED) == expected {
            first
        } else {
            MIXED
        };
        report.tick(seen);
    }
}
