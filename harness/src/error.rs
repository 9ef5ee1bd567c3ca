//! Error kinds that decide the exit status: bad input (2) and interruption (130); anything else is
//! a harness error (1).

use thiserror::Error;

/// Bad usage or bad input: a scenario file, a name, a results file given on the command line.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The run was stopped by SIGINT or SIGTERM; finished results were kept.
#[derive(Debug, Error)]
#[error("interrupted; results of the scenarios that finished were written")]
pub struct Interrupted;

/// The exit status for an error returned by a command.
pub fn exit_status(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<Interrupted>().is_some() {
        130
    } else if err.downcast_ref::<BadInput>().is_some() {
        2
    } else {
        1
    }
}
