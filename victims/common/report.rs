//! Status reporting for the stand-alone victim programs (std only): the words of the status page
//! (see `clobber_victims::status`) written with pwrite(2), which the harness reads through its
//! shared mapping of the same file, and the harness's "update finished" word read with pread(2).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

#[path = "layout.rs"]
#[allow(dead_code)]
mod layout;

pub use layout::MIXED;
use layout::{FIRST, ITERATIONS, READY, SEEN, STATE, UPDATED};

/// The status file of one victim.
pub struct Report {
    file: File,
    iterations: u64,
}

fn words(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Report {
    /// Opens the status file at `path`. The process stays dumpable, so that the harness that
    /// started it can read /proc/PID/maps as an ordinary user; the harness set RLIMIT_CORE to 0,
    /// so a crash leaves no core dump.
    pub fn open(path: &str) -> Report {
        let file = OpenOptions::new()
            .read(true)
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
        for word in [FIRST, SEEN] {
            self.file
                .write_at(&words(&[version]), (word * 8) as u64)
                .expect("write status");
        }
        self.file
            .write_at(&words(&[READY]), (STATE * 8) as u64)
            .expect("write status");
    }

    /// Reports one completed iteration that saw `version`.
    pub fn tick(&mut self, version: u64) {
        self.iterations += 1;
        self.file
            .write_at(&words(&[self.iterations, version]), (ITERATIONS * 8) as u64)
            .expect("write status");
    }

    /// Whether the harness has marked the update finished (word `UPDATED` is non-zero).
    #[allow(dead_code)] // only the lazy linked victim waits for the update
    pub fn updated(&self) -> bool {
        let mut word = [0u8; 8];
        self.file
            .read_exact_at(&mut word, (UPDATED * 8) as u64)
            .expect("read status");
        u64::from_le_bytes(word) != 0
    }
}
