//! Status reporting for the stand-alone victim programs (std only, no crates): the status page
//! (layout in `layout.rs`, shared with the harness) mapped `MAP_SHARED`, so that reporting an
//! iteration is a few stores and no system call, and a notification pipe on stdout, so that the
//! harness blocks on a descriptor instead of polling: one byte when the victim is ready, one for
//! its first iteration after the harness released it (closed its stdin), and one for each of its
//! first [`NOTIFY`] iterations after every new value the harness writes to the word `UPDATED` (the
//! harness bumps it when it starts watching the victim's progress).
//!
//! Every victim program is `#![no_main]`, entered by the C run-time as a C `main`: the standard
//! library's own start-up is not run (under emulation each of its system calls costs), so a
//! victim does what the C floor's does before its work, and no more. That start-up would have
//! checked the standard descriptors, ignored SIGPIPE, and read `/proc/self/maps` and installed
//! SIGSEGV and SIGBUS handlers to report stack overflows: a victim's crash now meets the
//! default action at once, as a C program's does (the outcome and the kernel's line are the
//! same: Rust's handler restored the default and let the fault happen again). The build script
//! also links the unwinder statically, so that no victim loads `libgcc_s.so.1`.

use std::ffi::c_void;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};

#[path = "layout.rs"]
#[allow(dead_code)]
mod layout;

pub use layout::MIXED;
use layout::{FIRST, ITERATIONS, READY, SEEN, SIZE, STATE, UPDATED};

/// Iterations announced on the pipe after each new `UPDATED` value: more than the harness needs
/// to decide that a survivor makes progress, few enough never to fill the pipe.
const NOTIFY: u32 = 4;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64)
        -> *mut c_void;
    fn write(fd: i32, buf: *const c_void, count: usize) -> isize;
    fn read(fd: i32, buf: *mut c_void, count: usize) -> isize;
    fn sched_yield() -> i32;
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn getppid() -> i32;
    fn setrlimit(resource: i32, limit: *const [u64; 2]) -> i32;
}

const PR_SET_PDEATHSIG: i32 = 1;
const SIGKILL: u64 = 9;
const RLIMIT_CORE: i32 = 4;

/// The variable in which the harness passes its pid to its victims.
const HARNESS_PID: &str = "CLOBBER_HARNESS_PID";

/// What every victim does first: die with the harness (a parent-death signal, and an exit at once
/// if the harness is already gone, since a parent that died before the prctl sends none) and
/// never dump core (a crash is the expected outcome). The process stays dumpable, so that a
/// harness run by an ordinary user can read its /proc/PID/maps.
fn harden() {
    let harness: Option<i32> = std::env::var(HARNESS_PID).ok().and_then(|p| p.parse().ok());
    // SAFETY: plain prctl, getppid and setrlimit calls with valid arguments.
    unsafe {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if harness.is_some_and(|pid| getppid() != pid) {
            std::process::exit(137);
        }
        setrlimit(RLIMIT_CORE, &[0, 0]);
    }
}

const PROT_READ: i32 = 1;
const PROT_WRITE: i32 = 2;
const MAP_SHARED: i32 = 1;

/// The status page of one victim.
pub struct Report {
    words: *const AtomicU64,
    /// The latest value of `UPDATED` this victim has seen.
    updated: u64,
    /// Notifications still owed for it.
    owed: u32,
}

impl Report {
    /// Hardens the victim (see [`harden`]) and maps the status file at `path` (made by the
    /// harness, `SIZE` bytes).
    pub fn open(path: &str) -> Report {
        harden();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open status file");
        // SAFETY: a shared read-write mapping of SIZE bytes of a file of that size; the harness
        // maps the same page, and every access goes through atomics.
        let map = unsafe {
            mmap(
                std::ptr::null_mut(),
                SIZE,
                PROT_READ | PROT_WRITE,
                MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert!(map as isize != -1, "mmap status file");
        Report {
            words: map as *const AtomicU64,
            updated: 0,
            owed: 0,
        }
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        assert!(index < SIZE / 8);
        // SAFETY: the mapping is page-aligned and SIZE bytes long and lives as long as the process.
        unsafe { &*self.words.add(index) }
    }

    /// One byte on stdout, the harness's notification pipe; failures are of no concern.
    fn notify(&self) {
        // SAFETY: writes one byte from a live buffer to fd 1.
        unsafe { write(1, b"+".as_ptr().cast(), 1) };
    }

    /// Reports ready, having seen `version`, then waits until the harness releases it (closes
    /// the victim's stdin), so that starting many victims is not slowed down by those already
    /// spinning; the first iteration after the release is announced on the pipe.
    pub fn ready(&mut self, version: u64) {
        self.word(FIRST).store(version, Ordering::Release);
        self.word(SEEN).store(version, Ordering::Release);
        self.word(STATE).store(READY, Ordering::Release);
        self.notify();
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a live buffer; returns 0 at end of file.
        while unsafe { read(0, (&mut byte as *mut u8).cast(), 1) } > 0 {}
        self.owed = 1;
    }

    /// Reports one completed iteration that saw `version`.
    pub fn tick(&mut self, version: u64) {
        self.word(SEEN).store(version, Ordering::Release);
        self.word(ITERATIONS).fetch_add(1, Ordering::AcqRel);
        let updated = self.word(UPDATED).load(Ordering::Acquire);
        if updated != self.updated {
            self.updated = updated;
            self.owed = NOTIFY;
        }
        if self.owed > 0 {
            self.owed -= 1;
            self.notify();
        }
        // A victim spins; yielding after each iteration lets a process the harness just started
        // (the new process of a trial, the next victim of a blast) run at once instead of
        // waiting for the spinner's time slice on a busy CPU. The loop itself is unchanged.
        // SAFETY: sched_yield has no arguments and cannot fail in a way that matters here.
        unsafe { sched_yield() };
    }

    /// Whether the harness has marked the update finished (word `UPDATED` is non-zero).
    #[allow(dead_code)] // only the lazy linked victim waits for the update
    pub fn updated(&self) -> bool {
        self.word(UPDATED).load(Ordering::Acquire) != 0
    }
}
