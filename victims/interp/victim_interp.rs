//! The interpreter victim: a program whose ELF interpreter (PT_INTERP) is `ld.so` relative to its
//! working directory, a private copy of the system's dynamic loader that the harness puts there.
//! Each iteration runs the loader's code (dlopen, dlsym, dlclose of the victim library) and reads
//! the loader's build-id note from memory, which tells the two loader versions apart.
//!
//! Usage: `victim-interp STATUS_FILE LIBRARY NEW_BUILD_ID_HEX`; it reports version 2 when the
//! loader it runs has the new build-id, 1 otherwise.

#![no_main]

#[path = "../common/report.rs"]
mod report;

use std::ffi::{c_char, c_int, c_ulong, c_void, CString};

use report::{Report, MIXED};

extern "C" {
    fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn dlclose(handle: *mut c_void) -> c_int;
    fn getauxval(kind: c_ulong) -> c_ulong;
}

const AT_BASE: c_ulong = 7;
const RTLD_NOW: c_int = 2;
const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;

/// Reads a little-endian integer of `N` bytes at `at`.
///
/// SAFETY: `at..at+N` must be mapped.
unsafe fn read<const N: usize>(at: *const u8) -> u64 {
    let mut value = 0u64;
    for i in (0..N).rev() {
        value = (value << 8) | u64::from(std::ptr::read_volatile(at.add(i)));
    }
    value
}

/// The build-id of the loader mapped at AT_BASE, read from its PT_NOTE segments in memory.
fn loader_build_id() -> Vec<u8> {
    // SAFETY: AT_BASE is where the kernel mapped the interpreter; its ELF header and notes are in
    // its first, mapped, segment.
    unsafe {
        let base = getauxval(AT_BASE) as *const u8;
        let phoff = read::<8>(base.add(0x20)) as usize;
        let phentsize = read::<2>(base.add(0x36)) as usize;
        let phnum = read::<2>(base.add(0x38)) as usize;
        for index in 0..phnum {
            let phdr = base.add(phoff + index * phentsize);
            if read::<4>(phdr) as u32 != PT_NOTE {
                continue;
            }
            let mut note = base.add(read::<8>(phdr.add(16)) as usize);
            let end = note.add(read::<8>(phdr.add(32)) as usize);
            while note < end {
                let namesz = read::<4>(note) as usize;
                let descsz = read::<4>(note.add(4)) as usize;
                let kind = read::<4>(note.add(8)) as u32;
                let desc = note.add(12 + namesz.div_ceil(4) * 4);
                if kind == NT_GNU_BUILD_ID {
                    return (0..descsz)
                        .map(|i| std::ptr::read_volatile(desc.add(i)))
                        .collect();
                }
                note = desc.add(descsz.div_ceil(4) * 4);
            }
        }
    }
    Vec::new()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() == 4,
        "usage: victim-interp STATUS_FILE LIBRARY NEW_BUILD_ID_HEX"
    );
    let mut report = Report::open(&args[1]);
    let library = CString::new(args[2].as_str()).expect("library path");
    let new_id = args[3].as_str();
    let first_id = hex(&loader_build_id());
    let first = if first_id == new_id { 2 } else { 1 };
    let iteration = || {
        // SAFETY: plain libdl calls on a library with no initialisers; the returned symbol is an
        // `extern "C" fn() -> u64` in every version.
        unsafe {
            let handle = dlopen(library.as_ptr(), RTLD_NOW);
            assert!(!handle.is_null(), "dlopen failed");
            let symbol = dlsym(handle, c"victim_version".as_ptr());
            assert!(!symbol.is_null(), "dlsym failed");
            let call: extern "C" fn() -> u64 = std::mem::transmute(symbol);
            let answered = call();
            dlclose(handle);
            answered
        }
    };
    iteration();
    report.ready(first);
    loop {
        iteration();
        let id = hex(&loader_build_id());
        let seen = if id == first_id {
            first
        } else if id == new_id {
            2
        } else {
            MIXED
        };
        report.tick(seen);
    }
}
