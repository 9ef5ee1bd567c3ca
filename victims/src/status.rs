//! The status page (layout in `common/layout.rs`, shared with the stand-alone victims): a victim
//! maps it `MAP_SHARED` and updates it on every iteration of its loop, and the harness maps it to
//! read, so that reporting never blocks the victim. The stand-alone victim executables write the
//! same words with `pwrite(2)`; the page cache keeps both ways coherent with the harness's mapping.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

#[path = "../common/layout.rs"]
mod layout;
pub use layout::*;

/// A shared mapping of a status file, used by the victim to write and by the harness to read.
pub struct Status {
    map: MmapMut,
}

impl Status {
    /// Sizes a new, empty status file, open for reading and writing, and maps it.
    pub fn create(file: &std::fs::File) -> io::Result<Status> {
        file.set_len(SIZE as u64)?;
        Self::map(file)
    }

    /// Maps an existing status file.
    pub fn open(path: &Path) -> io::Result<Status> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::map(&file)
    }

    fn map(file: &std::fs::File) -> io::Result<Status> {
        // SAFETY: the file is private to one trial; the only other party is the victim or the
        // harness, and every access goes through atomics.
        let map = unsafe { MmapMut::map_mut(file)? };
        Ok(Status { map })
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        assert!(index < SIZE / 8);
        // SAFETY: the mapping is page-aligned and at least SIZE bytes long, so every word is
        // aligned and in bounds; AtomicU64 has the layout of u64.
        unsafe { &*(self.map.as_ptr().add(index * 8) as *const AtomicU64) }
    }

    /// Reads one word.
    pub fn get(&self, index: usize) -> u64 {
        self.word(index).load(Ordering::Acquire)
    }

    /// Writes one word.
    pub fn set(&self, index: usize, value: u64) {
        self.word(index).store(value, Ordering::Release)
    }

    /// Marks the victim ready, having seen `version`.
    pub fn ready(&self, version: u64) {
        self.set(FIRST, version);
        self.set(SEEN, version);
        self.set(STATE, READY);
    }

    /// Records one completed iteration that saw `version`.
    pub fn tick(&self, version: u64) {
        self.set(SEEN, version);
        self.word(ITERATIONS).fetch_add(1, Ordering::AcqRel);
    }
}
