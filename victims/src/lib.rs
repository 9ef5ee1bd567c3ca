//! The victim programs of clobber: processes that map a file and keep using it while the harness
//! overwrites it. Each reports through a [`status::Status`] page that the harness reads without
//! blocking the victim.
//!
//! The harness binary runs these routines in a re-executed copy of itself (`clobber victim …`), so
//! one self-contained binary carries them everywhere, including as PID 1 inside a VM. The victim
//! library (`lib/victim_lib.rs`) and the stand-alone victim executables (`exe/`) are compiled by the
//! harness's build script in two versions each and embedded in the harness.

pub mod dlopen_loop;
pub mod harden;
pub mod mmap_reader;
pub mod status;
