//! The dlopen victim: opens the victim library with libloading (`RTLD_NOW`), calls its functions in
//! a tight loop and reports which version answers. It calls through the pointers dlsym() returned,
//! never through a PLT, so `RTLD_LAZY` would change nothing; lazy binding is the lazy linked
//! victim's experiment (victims/linked/victim_linked_lazy.rs).

use std::io;
use std::path::Path;

use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};

use crate::status::{Status, MIXED};

const SEED: u64 = 0x5EED;

/// Loads `lib`, runs its code once, reports ready, then loops forever reporting what it sees.
/// Returns only on an error before the loop starts.
pub fn run(lib: &Path, status: &Path) -> io::Result<()> {
    let status = Status::open(status)?;
    // SAFETY: the victim library has no initialisers; loading it is the point of this process.
    let library =
        unsafe { Library::open(Some(lib), RTLD_NOW | RTLD_LOCAL) }.map_err(io::Error::other)?;
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
