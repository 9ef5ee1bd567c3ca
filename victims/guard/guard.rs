//! The small guard: what `clobber guard` does for a command that is not confined (no Landlock,
//! e.g. in the matrix's guests), as a program of a few hundred KiB instead of the whole harness,
//! whose exec costs ~110 ms a command under emulation. It sets its parent-death signal, checks
//! that the harness is still its parent, runs the command with exactly the arguments given, in
//! its own process group (made by the harness), and kills that group when the harness dies or
//! when it is asked to end; it exits as the command did.
//!
//! Usage: `clobber-guard HARNESS_PID -- CMD ARGS...`.

use std::ffi::{c_int, c_ulong};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode};

extern "C" {
    fn signal(signal: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong, arg4: c_ulong, arg5: c_ulong) -> c_int;
    fn kill(pid: c_int, signal: c_int) -> c_int;
    fn getppid() -> c_int;
}

const SIGHUP: c_int = 1;
const SIGINT: c_int = 2;
const SIGKILL: c_int = 9;
const SIGUSR1: c_int = 10;
const SIGTERM: c_int = 15;
const PR_SET_PDEATHSIG: c_int = 1;

extern "C" fn kill_group(_: c_int) {
    // SAFETY: kill(2) is async-signal-safe; 0 is this process's group, the guard included.
    unsafe { kill(0, SIGKILL) };
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let harness: c_int = args
        .get(1)
        .and_then(|pid| pid.parse().ok())
        .expect("usage: clobber-guard HARNESS_PID -- CMD ARGS...");
    assert_eq!(args.get(2).map(String::as_str), Some("--"), "usage: clobber-guard HARNESS_PID -- CMD ARGS...");
    let (program, rest) = args[3..].split_first().expect("no command to guard");
    // SAFETY: the handler only calls kill(2); prctl only sets this process's parent-death signal
    // (SIGUSR1, as `clobber guard`'s).
    unsafe {
        for sig in [SIGUSR1, SIGTERM, SIGHUP, SIGINT] {
            signal(sig, kill_group);
        }
        prctl(PR_SET_PDEATHSIG, SIGUSR1 as c_ulong, 0, 0, 0);
        // The harness may have died before the signal was asked for: then nobody else will.
        if getppid() != harness {
            kill_group(0);
        }
    }
    let status = match Command::new(program).args(rest).status() {
        Ok(status) => status,
        Err(err) => {
            eprintln!("clobber-guard: running {program}: {err}");
            return ExitCode::from(127);
        }
    };
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(signal)) => ExitCode::from(128 + signal as u8),
        (None, None) => ExitCode::FAILURE,
    }
}
