//! The `clobber` binary: runs the CLI and turns errors into exit statuses (1 harness error, 2 bad
//! usage or input, 130 interrupted).

use std::process::ExitCode;

use clobber::{cli, error};

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("clobber: error: {err:#}");
            ExitCode::from(error::exit_status(&err))
        }
    }
}
