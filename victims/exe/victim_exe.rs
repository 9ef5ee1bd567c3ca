//! The running-executable victim, compiled by the harness's build script in two versions
//! (`--cfg victim_v1`, `--cfg victim_v2`) with different code and a differently sized table (64 KiB
//! versus 96 KiB), so the two files differ in layout as two real releases do.
//!
//! Usage: `victim-exe STATUS_FILE`. It runs its own code in a loop and reports every iteration by
//! writing the status words (see `clobber_victims::status`) with pwrite(2), using only std.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

#[cfg(victim_v1)]
const VERSION: u64 = 1;
#[cfg(victim_v2)]
const VERSION: u64 = 2;

#[cfg(victim_v1)]
const WORDS: usize = 8 * 1024;
#[cfg(victim_v2)]
const WORDS: usize = 12 * 1024;

const READY: u64 = 1;
const MIXED: u64 = 99;

const fn make_table() -> [u64; WORDS] {
    let mut table = [0u64; WORDS];
    let mut i = 0;
    while i < WORDS {
        table[i] = (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ (VERSION << 56);
        i += 1;
    }
    table
}

static TABLE: [u64; WORDS] = make_table();

extern "C" {
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
}

#[inline(never)]
fn work(seed: u64) -> u64 {
    let mut acc = seed;
    for word in TABLE.iter() {
        acc = std::hint::black_box(acc.rotate_left(7) ^ word);
    }
    acc
}

fn words(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn main() {
    // PR_SET_DUMPABLE = 4: a crash is the expected outcome; leave no core dump.
    // SAFETY: a plain prctl call with valid arguments.
    unsafe { prctl(4, 0, 0, 0, 0) };
    let path = std::env::args().nth(1).expect("usage: victim-exe STATUS_FILE");
    let status = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open status file");
    let expected = work(0x5EED);
    // FIRST and SEEN, then STATE: the harness waits for STATE.
    status
        .write_at(&words(&[VERSION, VERSION]), 16)
        .expect("write status");
    status
        .write_at(&words(&[READY]), 0)
        .expect("write status");
    let mut iterations: u64 = 0;
    loop {
        let seen = if work(0x5EED) == expected {
            VERSION
        } else {
            MIXED
        };
        iterations += 1;
        status
            .write_at(&words(&[iterations, seen]), 8)
            .expect("write status");
    }
}
