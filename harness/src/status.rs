//! The harness's side of a victim's status page (layout in `victims/common/layout.rs`, shared
//! with the victims): a small file both map `MAP_SHARED`; the victim updates it on every iteration
//! of its loop, the harness reads it, and writes the word `UPDATED`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

#[path = "../../victims/common/layout.rs"]
mod layout;
pub use layout::*;

/// A shared mapping of a status file.
pub struct Status {
    map: MmapMut,
}

impl Status {
    /// Sizes a new, empty status file, open for reading and writing, and maps it.
    pub fn create(file: &std::fs::File) -> io::Result<Status> {
        file.set_len(SIZE as u64)?;
        Self::map(file)
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

    /// Adds one to a word.
    pub fn bump(&self, index: usize) {
        self.word(index).fetch_add(1, Ordering::AcqRel);
    }
}
