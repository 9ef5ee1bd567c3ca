//! The guard of a user's or tool's command: the harness runs `clobber guard -- CMD ARGS...` in a
//! process group of its own, and the guard runs the command, with exactly those arguments, in
//! that group. When the harness ends in any way, even by SIGKILL, the kernel sends the guard its
//! parent-death signal and the guard kills the whole group, the command's children included;
//! the harness itself ends the group with one `kill(-pgid)` on every other path (done, timed out,
//! interrupted). With `--confine DIR` the guard first restricts itself, and so the command, to
//! writing beneath DIR (Landlock).

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode};

use std::path::Path;

use anyhow::{Context, Result};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::confine;

/// The signal the kernel sends the guard when the harness dies (catchable, unlike SIGKILL).
pub const PARENT_DEATH_SIGNAL: libc::c_int = libc::SIGUSR1;

extern "C" fn kill_group(_: libc::c_int) {
    // SAFETY: kill(2) is async-signal-safe; 0 is this process's group, the guard included.
    unsafe { libc::kill(0, libc::SIGKILL) };
}

/// Runs `argv` in the guard's process group, confined to writing beneath `confine` when given,
/// and exits as it did. `harness` is the pid of the clobber that started the guard.
pub fn run(harness: u32, confine: Option<&Path>, argv: &[OsString]) -> Result<ExitCode> {
    let action = SigAction::new(
        SigHandler::Handler(kill_group),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [
        Signal::SIGUSR1,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
    ] {
        // SAFETY: the handler only calls kill(2).
        unsafe { sigaction(signal, &action) }.with_context(|| format!("installing {signal}"))?;
    }
    // The harness spawns the guard without running code between fork and exec (posix_spawn),
    // so the guard asks for its parent-death signal itself, now that the handler is in place.
    // SAFETY: prctl with these arguments only sets this process's parent-death signal.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setting the parent-death signal");
    }
    // The harness may have died before the signal was asked for: then nobody else will.
    if std::os::unix::process::parent_id() != harness {
        kill_group(0);
    }
    if let Some(dir) = confine {
        confine::restrict_writes_to(dir)
            .with_context(|| format!("confining the command to {}", dir.display()))?;
    }
    let (program, args) = argv.split_first().context("no command to guard")?;
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("running {}", program.to_string_lossy()))?;
    // A command that died by a signal makes the guard report that signal, as a shell would.
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(signal)) => ExitCode::from(128 + signal as u8),
        (None, None) => ExitCode::FAILURE,
    })
}

/// Prepares `command` (the guard, about to be spawned) to run in a process group of its own.
/// Nothing runs between fork and exec, so the standard library spawns it with posix_spawn
/// (vfork-like: the harness's memory is not copied); the guard sets its parent-death signal
/// ([`PARENT_DEATH_SIGNAL`]) itself and checks that the harness is still its parent.
pub fn confine(command: &mut Command) {
    command.process_group(0);
}
