//! The mmap victim: maps a data file and reads every page in a loop, reporting which version the
//! pages hold.
//!
//! Data files are made of 4 KiB pages whose first word is the file's version; [`data_file`] builds
//! them, so the harness and the victim agree on the format.

use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::path::Path;
use std::ptr::NonNull;

use memmap2::{Mmap, MmapOptions};
use nix::sys::mman::{mmap, MapFlags, ProtFlags};

use crate::status::{Status, MIXED};

/// Page size of the data format.
pub const PAGE: usize = 4096;

/// How the victim maps the data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// `MAP_SHARED`, read-only.
    Shared,
    /// `MAP_PRIVATE`, read-only (copy-on-write, never written).
    Private,
    /// `MAP_PRIVATE | MAP_DENYWRITE`, the flag the kernel ignores from userspace.
    DenyWrite,
}

/// The bytes of a data file of `pages` pages, each starting with `version`.
pub fn data_file(version: u64, pages: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; pages * PAGE];
    for (index, page) in bytes.chunks_mut(PAGE).enumerate() {
        page[..8].copy_from_slice(&version.to_le_bytes());
        page[8..16].copy_from_slice(&(index as u64).to_le_bytes());
        page[PAGE - 8..].copy_from_slice(&version.to_le_bytes());
    }
    bytes
}

enum Region {
    Memmap(Mmap),
    Raw(NonNull<libc::c_void>, usize),
}

impl Region {
    fn as_ptr(&self) -> *const u8 {
        match self {
            Region::Memmap(map) => map.as_ptr(),
            Region::Raw(ptr, _) => ptr.as_ptr() as *const u8,
        }
    }

    fn len(&self) -> usize {
        match self {
            Region::Memmap(map) => map.len(),
            Region::Raw(_, len) => *len,
        }
    }
}

fn map(file: &File, mapping: Mapping) -> io::Result<Region> {
    // SAFETY (all arms): the file is private to the trial; changes to it under the mapping are the
    // experiment, and every read goes through read_volatile on pages inside the mapping.
    match mapping {
        Mapping::Shared => Ok(Region::Memmap(unsafe { Mmap::map(file)? })),
        Mapping::Private => Ok(Region::Memmap(unsafe {
            MmapOptions::new().map_copy_read_only(file)?
        })),
        Mapping::DenyWrite => {
            let len = file.metadata()?.len() as usize;
            let length = NonZeroUsize::new(len)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty data file"))?;
            let ptr = unsafe {
                mmap(
                    None,
                    length,
                    ProtFlags::PROT_READ,
                    MapFlags::MAP_PRIVATE | MapFlags::MAP_DENYWRITE,
                    file,
                    0,
                )
            }?;
            Ok(Region::Raw(ptr, len))
        }
    }
}

fn scan(region: &Region) -> u64 {
    let base = region.as_ptr();
    let pages = region.len() / PAGE;
    let mut seen: Option<u64> = None;
    for page in 0..pages {
        // SAFETY: both words are inside the mapping; volatile so every iteration really reads.
        let (head, tail) = unsafe {
            let start = base.add(page * PAGE);
            (
                std::ptr::read_volatile(start as *const u64),
                std::ptr::read_volatile(start.add(PAGE - 8) as *const u64),
            )
        };
        let version = if head == tail { head } else { MIXED };
        match seen {
            None => seen = Some(version),
            Some(previous) if previous != version => return MIXED,
            Some(_) => {}
        }
    }
    seen.unwrap_or(MIXED)
}

/// Maps `data`, reads every page once, reports ready, then loops forever reporting what it sees.
/// Returns only on an error before the loop starts.
pub fn run(data: &Path, status: &Path, mapping: Mapping) -> io::Result<()> {
    let status = Status::open(status)?;
    let file = File::open(data)?;
    let region = map(&file, mapping)?;
    drop(file);
    status.ready(scan(&region));
    loop {
        status.tick(scan(&region));
    }
}
