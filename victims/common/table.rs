//! The read-only table that gives each version of a victim its data layout: 64 KiB in version 1
//! (`--cfg victim_v1`), 96 KiB in version 2 (`--cfg victim_v2`), with values that depend on the
//! version, so two versions differ in size, offsets and content. Shared by the victim library and
//! the victim executable (no_std-compatible).

/// The version this build is.
#[cfg(victim_v1)]
pub const VERSION: u64 = 1;
/// The version this build is.
#[cfg(victim_v2)]
pub const VERSION: u64 = 2;

#[cfg(victim_v1)]
const WORDS: usize = 8 * 1024;
#[cfg(victim_v2)]
const WORDS: usize = 12 * 1024;

const fn make_table(multiplier: u64) -> [u64; WORDS] {
    let mut table = [0u64; WORDS];
    let mut i = 0;
    while i < WORDS {
        table[i] = (i as u64).wrapping_mul(multiplier) ^ (VERSION << 56);
        i += 1;
    }
    table
}

/// The table, its values mixed with `MULTIPLIER` of the including program.
pub static TABLE: [u64; WORDS] = make_table(crate::MULTIPLIER);
