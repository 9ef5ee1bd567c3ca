//! clobber: reproduce, measure and explain what overwriting mapped files does to the programs that
//! map them. `main` is thin: it runs the CLI and turns errors into exit statuses (1 harness error,
//! 2 bad usage or input, 130 interrupted). As PID 1 it is the /init of a guest kernel (vm::guest).

mod check;
mod cli;
mod detect;
mod elf;
mod embedded;
mod environment;
mod error;
mod interrupt;
mod method;
mod outcome;
mod report;
mod results;
mod runner;
mod scenario;
mod stats;
mod summary;
mod tool;
mod victim;
mod vm;

use std::process::ExitCode;

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
