//! The format of the data files of `data` targets, shared by the harness (which writes them) and
//! the mmap victim (which reads them): 4 KiB pages whose first and last words are the file's
//! version and whose second word is the page's index, so that a reader can tell the version of
//! every page and notice a page that is neither.

/// Page size of the data format.
pub const PAGE: usize = 4096;

/// Version value for content that is neither version entirely (as in `layout.rs`).
const MIXED: u64 = 99;

/// The bytes of a data file of `pages` pages, each of version `version`.
pub fn data_file(version: u64, pages: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; pages * PAGE];
    for (index, page) in bytes.chunks_mut(PAGE).enumerate() {
        page[..8].copy_from_slice(&version.to_le_bytes());
        page[8..16].copy_from_slice(&(index as u64).to_le_bytes());
        page[PAGE - 8..].copy_from_slice(&version.to_le_bytes());
    }
    bytes
}

/// The version the `len` mapped bytes at `base` hold: the one every page has, or `MIXED`.
///
/// # Safety
/// `base..base + len` must be mapped and readable.
pub unsafe fn scan(base: *const u8, len: usize) -> u64 {
    let mut seen: Option<u64> = None;
    for page in 0..len / PAGE {
        // Volatile, so that every iteration really reads the mapping.
        let start = base.add(page * PAGE);
        let head = std::ptr::read_volatile(start as *const u64);
        let tail = std::ptr::read_volatile(start.add(PAGE - 8) as *const u64);
        let version = if head == tail { head } else { MIXED };
        match seen {
            None => seen = Some(version),
            Some(previous) if previous != version => return MIXED,
            Some(_) => {}
        }
    }
    seen.unwrap_or(MIXED)
}
