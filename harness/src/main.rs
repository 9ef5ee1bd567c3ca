//! The `clobber` binary: runs the CLI and turns errors into exit statuses (1 harness error, 2 bad
//! usage or input, 130 interrupted). As PID 1 it is the /init of a guest kernel (vm::guest).

use std::process::ExitCode;

use clobber::{cli, error, vm};

fn main() -> ExitCode {
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
