//! The dlopen victim: opens the victim library with libloading, calls its functions in a tight loop
//! and reports which version answers.

use std::io;
use std::path::Path;

use libloading::os::unix::{Library, Symbol, RTLD_LAZY, RTLD_LOCAL, RTLD_NOW};

use crate::status::{Status, MIXED};

/// When the dynamic loader resolves the library's symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `RTLD_NOW`: every symbol at dlopen() time.
    Now,
    /// `RTLD_LAZY`: function symbols at their first call.
    Lazy,
}

const SEED: u64 = 0x5EED;

/// Loads `lib`, runs its code once, reports ready, then loops forever reporting what it sees.
/// Returns only on an error before the loop starts.
pub fn run(lib: &Path, status: &Path, binding: Binding) -> io::Result<()> {
    let status = Status::open(status)?;
    let flags = match binding {
        Binding::Now => RTLD_NOW,
        Binding::Lazy => RTLD_LAZY,
    } | RTLD_LOCAL;
    // SAFETY: the victim library has no initialisers; loading it is the point of this process.
    let library = unsafe { Library::open(Some(lib), flags) }.map_err(io::Error::other)?;
    // SAFETY: both symbols are `extern "C"` functions with these signatures in every version.
    let (version, work) = unsafe {
        let version: Symbol<extern "C" fn() -> u64> =
            library.get(b"victim_version").map_err(io::Error::other)?;
        let work: Symbol<extern "C" fn(u64) -> u64> =
            library.get(b"victim_work").map_err(io::Error::other)?;
        (*version, *work)
    };
    let first = version();
    let expected = work(SEED);
    status.ready(first);
    loop {
        let answered = version();
        let seen = if answered != first {
            answered
        } else if work(SEED) == expected {
            first
        } else {
            MIXED
        };
        status.tick(seen);
    }
}
