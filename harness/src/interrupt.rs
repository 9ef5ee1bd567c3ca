//! SIGINT, SIGTERM and SIGHUP (a closed terminal) handling: the handler only sets a flag; trial
//! loops and command waits check it, kill and reap their victims and commands, and the CLI exits
//! with status 130 after writing the results that finished.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }.with_context(|| format!("installing {signal}"))?;
    }
    Ok(())
}

/// Whether SIGINT, SIGTERM or SIGHUP has arrived.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
