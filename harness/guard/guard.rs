//! clobber's guard: the small program under which the harness runs every scenario, package and
//! `check` command, `clobber-guard HARNESS_PID COMMAND [ARGS...]`. The harness starts it in a
//! process group of its own; it asks the kernel for a parent-death signal, checks that the
//! harness is still its parent (a harness that died first sends no signal), runs the command
//! with exactly the arguments given, in that group, and exits as the command did (128 + the
//! signal when it was killed, as a shell reports it). When the harness ends in any way, even by
//! SIGKILL, the kernel sends the guard SIGUSR1 and the guard kills its whole group, the command's
//! children included; SIGTERM, SIGHUP and SIGINT do the same. A confined command is confined by
//! the harness thread that starts the guard (Landlock passes to children).
//!
//! Standard library only, built by the harness's build script and entered as a C `main` like the
//! victims (`victims/common/report.rs`), so that it starts as fast as they do: under emulation a
//! start of the whole harness costs twice what a small program's does.

#![no_main]

use std::ffi::c_int;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

extern "C" {
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn prctl(option: c_int, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> c_int;
    fn getppid() -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
}

const SIGHUP: c_int = 1;
const SIGINT: c_int = 2;
const SIGKILL: c_int = 9;
const SIGUSR1: c_int = 10;
const SIGTERM: c_int = 15;
const PR_SET_PDEATHSIG: c_int = 1;

/// Kills the guard's process group, the guard, its command and what that started.
extern "C" fn kill_group(_: c_int) {
    // SAFETY: kill(2) is async-signal-safe; 0 is this process's group.
    unsafe { kill(0, SIGKILL) };
}

/// Entered from the C run-time.
#[no_mangle]
extern "C" fn main() -> c_int {
    let mut args = std::env::args_os().skip(1);
    let harness: Option<c_int> = args
        .next()
        .and_then(|pid| pid.to_str().and_then(|pid| pid.parse().ok()));
    let (Some(harness), Some(program)) = (harness, args.next()) else {
        eprintln!("usage: clobber-guard HARNESS_PID COMMAND [ARGS...]");
        return 2;
    };
    // SAFETY: the handler only calls kill(2); prctl and getppid take and touch nothing else.
    unsafe {
        for signum in [SIGUSR1, SIGTERM, SIGHUP, SIGINT] {
            signal(signum, kill_group);
        }
        prctl(PR_SET_PDEATHSIG, SIGUSR1 as u64, 0, 0, 0);
        if getppid() != harness {
            kill_group(0);
        }
    }
    match Command::new(&program).args(args).status() {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => code,
            (None, Some(signum)) => 128 + signum,
            (None, None) => 1,
        },
        Err(err) => {
            eprintln!("clobber-guard: running {}: {err}", program.to_string_lossy());
            127
        }
    }
}
