//! The guard of a scenario's, package's or user's command: the harness runs `clobber-guard
//! HARNESS_PID CMD ARGS...` (the small program `harness/guard/guard.rs`, embedded in the harness)
//! in a process group of its own, and the guard runs the command, with exactly those arguments,
//! in that group. When the harness ends in any way, even by SIGKILL, the kernel sends the guard
//! its parent-death signal and the guard kills the whole group, the command's children included;
//! the harness itself ends the group with one `kill(-pgid)` on every other path (done, timed out,
//! interrupted). A confined command's guard is started by a confined thread (see
//! [`crate::confine::spawn_confined`]), and the confinement passes to the command. As /init of a
//! guest the harness needs no guard (see [`needed`]).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::embedded;
use crate::workfile;

/// The guard's file name in the directory a command runs in.
pub const FILE_NAME: &str = "clobber-guard";

/// Whether commands need a guard: everywhere but as /init of a guest (PID 1), whose death ends
/// the VM and everything in it (the kernel panics), so that there a command is started without
/// one, a process fewer per command (under emulation a tenth of a tool trial's cost).
pub fn needed() -> bool {
    std::process::id() != 1
}

/// A command that runs `argv` from `dir` in a process group of its own, under the guard where
/// one is [`needed`].
pub fn command(dir: &Path, argv: &[String]) -> Result<Command> {
    let mut command = if needed() {
        guarded(dir, argv)?
    } else {
        let (program, args) = argv.split_first().context("no command to run")?;
        let mut command = Command::new(program);
        command.args(args);
        command
    };
    command.current_dir(dir).process_group(0);
    Ok(command)
}

/// The guard running `argv`. The guard is written afresh into `dir` each time (on a new inode,
/// closed before it runs), so that nothing an earlier command did to that directory is ever run.
/// Nothing runs between fork and exec, so the standard library spawns it with posix_spawn
/// (vfork-like: the harness's memory is not copied); the guard asks for its parent-death signal
/// itself and checks that the harness is still its parent.
fn guarded(dir: &Path, argv: &[String]) -> Result<Command> {
    let program = dir.join(FILE_NAME);
    workfile::write(&program, embedded::GUARD, 0o755)?;
    let mut command = Command::new(program);
    command.arg(std::process::id().to_string()).args(argv);
    Ok(command)
}
