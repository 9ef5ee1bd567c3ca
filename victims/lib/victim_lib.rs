//! The victim library, compiled by the harness's build script in two versions (`--cfg victim_v1`,
//! `--cfg victim_v2`) that differ the way two real releases do:
//!
//! - data layout: version 1 carries a 64 KiB read-only table, version 2 a 96 KiB table with other
//!   values, so everything after it (the code included) sits at other file offsets;
//! - code: version 2 mixes the table with another function and exports one more symbol
//!   (`victim_feature`, new API in the new release), so its symbol table and text differ too.
//!
//! Overwriting version 1 in place with version 2 therefore puts table bytes where a running process
//! expects the code of `victim_work`: what it then executes is whatever the new file has there.
#![no_std]

#[path = "../common/table.rs"]
mod table;

use table::{TABLE, VERSION};

/// Mixed into the table's values, so that the library's and the executable's tables differ.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The version of this library: 1 or 2.
#[no_mangle]
pub extern "C" fn victim_version() -> u64 {
    VERSION
}

/// Mixes `seed` with every word of the table, touching every page of it.
#[no_mangle]
pub extern "C" fn victim_work(seed: u64) -> u64 {
    let mut acc = seed;
    for word in TABLE.iter() {
        #[cfg(victim_v1)]
        {
            acc = acc.rotate_left(5) ^ word;
        }
        #[cfg(victim_v2)]
        {
            acc = acc.wrapping_mul(31).wrapping_add(*word);
        }
    }
    acc
}

/// The version of this library, like [`victim_version`], under another name: the lazy linked
/// victim calls it for the first time only after the update, so that the dynamic loader looks it
/// up then, in whatever the library's symbol tables hold at that moment.
#[no_mangle]
pub extern "C" fn victim_late() -> u64 {
    VERSION
}

/// New API in version 2.
#[cfg(victim_v2)]
#[no_mangle]
pub extern "C" fn victim_feature(x: u64) -> u64 {
    x.wrapping_mul(VERSION)
}
