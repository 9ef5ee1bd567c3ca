//! Status reporting for the stand-alone victim programs (std only): the words of the status page
//! (see `clobber_victims::status`) written with pwrite(2), which the harness reads through its
//! shared mapping of the same file.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

const READY: u64 = 1;

/// Version value for content that is neither version entirely.
pub const MIXED: u64 = 99;

extern "C" {
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
}

/// The status file of one victim.
pub struct Report {
    file: File,
    iterations: u64,
}

fn words(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Report {
    /// Makes the process non-dumpable (a crash is the expected outcome) and opens `path`.
    pub fn open(path: &str) -> Report {
        // PR_SET_DUMPABLE = 4. SAFETY: a plain prctl call with valid arguments.
        unsafe { prctl(4, 0, 0, 0, 0) };
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open status file");
        Report {
            file,
            iterations: 0,
        }
    }

    /// Reports ready, having seen `version`.
    pub fn ready(&self, version: u64) {
        self.file
            .write_at(&words(&[version, version]), 16)
            .expect("write status");
        self.file
            .write_at(&words(&[READY]), 0)
            .expect("write status");
    }

    /// Reports one completed iteration that saw `version`.
    pub fn tick(&mut self, version: u64) {
        self.iterations += 1;
        self.file
            .write_at(&words(&[self.iterations, version]), 8)
            .expect("write status");
    }
}
