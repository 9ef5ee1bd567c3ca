//! The `clobber` binary: runs the CLI and turns errors into exit statuses (1 harness error, 2 bad
//! usage or input, 130 interrupted). As PID 1 it is the /init of a guest kernel (vm::guest).

use std::process::ExitCode;

use clobber::{cli, error, vm};

fn main() -> ExitCode {
    // A reader that stops early (`clobber list | head -1`) ends clobber quietly, as it ends other
    // command-line tools, instead of a panic on EPIPE; victims die with it (parent-death signal).
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if vm::guest::is_init() {
        vm::guest::run();
    }
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("clobber: error: {err:#}");
            ExitCode::from(error::exit_status(&err))
        }
    }
}
