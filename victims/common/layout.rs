//! The layout of the status page, the one definition shared by the harness (through
//! `clobber_victims::status`) and the stand-alone victim programs (through `report.rs`): a small
//! file of little-endian `u64` words that a victim updates on every iteration of its loop and the
//! harness maps to read, so that reporting never blocks the victim.
//!
//! - word [`STATE`]: 0 while starting, [`READY`] once the victim has mapped its target, run its
//!   code once and touched every page;
//! - word [`ITERATIONS`]: completed iterations of the loop;
//! - word [`SEEN`]: the version observed by the latest iteration ([`MIXED`] when the content
//!   matched neither version entirely);
//! - word [`FIRST`]: the version observed when the victim became ready;
//! - word [`UPDATED`]: written by the harness, 1 once the update has finished (victims that do
//!   something only after the update, such as a first call through an unbound PLT slot, read it).

/// Size of the status file in bytes.
pub const SIZE: usize = 40;
/// Word index of the readiness state.
pub const STATE: usize = 0;
/// Word index of the iteration counter.
pub const ITERATIONS: usize = 1;
/// Word index of the version seen by the latest iteration.
pub const SEEN: usize = 2;
/// Word index of the version seen when the victim became ready.
pub const FIRST: usize = 3;
/// Word index of the harness's "the update has finished" flag.
pub const UPDATED: usize = 4;
/// Value of [`STATE`] once the victim is ready.
pub const READY: u64 = 1;
/// Version value for content that is neither version entirely (silently mixed).
pub const MIXED: u64 = 99;
