//! The mmap victim: a small stand-alone program that maps a data file (see `common/data.rs`) and
//! reads every page in a loop, reporting which version the pages hold.
//!
//! Usage: `victim-mmap shared|private|denywrite DATA_FILE STATUS_FILE`: `MAP_SHARED`,
//! `MAP_PRIVATE` (copy-on-write, never written), or `MAP_PRIVATE | MAP_DENYWRITE`, the flag the
//! kernel ignores from userspace.

#![no_main]

#[path = "../common/report.rs"]
mod report;

#[path = "../common/data.rs"]
#[allow(dead_code)]
mod data;

use std::ffi::c_void;
use std::fs::File;
use std::os::fd::AsRawFd;

use report::Report;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64)
        -> *mut c_void;
}

const PROT_READ: i32 = 1;
const MAP_SHARED: i32 = 1;
const MAP_PRIVATE: i32 = 2;
const MAP_DENYWRITE: i32 = 0x0800;

/// Entered from the C run-time (see `report.rs`).
#[no_mangle]
extern "C" fn main() -> std::ffi::c_int {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() == 4,
        "usage: victim-mmap shared|private|denywrite DATA_FILE STATUS_FILE"
    );
    let flags = match args[1].as_str() {
        "shared" => MAP_SHARED,
        "private" => MAP_PRIVATE,
        "denywrite" => MAP_PRIVATE | MAP_DENYWRITE,
        other => panic!("unknown mapping {other}"),
    };
    let mut report = Report::open(&args[3]);
    let file = File::open(&args[2]).expect("open data file");
    let len = file.metadata().expect("stat data file").len() as usize;
    assert!(len > 0, "empty data file");
    // SAFETY: a read-only mapping of the whole file; changes to the file under it are the
    // experiment, and `scan` reads only inside it.
    let base = unsafe { mmap(std::ptr::null_mut(), len, PROT_READ, flags, file.as_raw_fd(), 0) };
    assert!(base as isize != -1, "mmap data file");
    drop(file);
    // SAFETY: `base..base + len` is the mapping made above.
    let scan = || unsafe { data::scan(base as *const u8, len) };
    report.ready(scan());
    loop {
        report.tick(scan());
    }
}
