//! Confinement of scenario and user commands with Landlock (Linux 5.13 and later, no privileges
//! needed): a confined command and everything it starts may write only beneath clobber's private
//! work directory (and to /dev/null); reading and executing stay as they were. A text check of a
//! scenario's arguments cannot stop `sh -c '…; cd; echo x > f'`; the kernel can.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{anyhow, bail, Context, Result};
use landlock::{
    path_beneath_rules, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, ABI,
};

/// `LANDLOCK_CREATE_RULESET_VERSION`: ask for the ABI version instead of creating a ruleset.
const CREATE_RULESET_VERSION: libc::c_uint = 1;

/// How commands are confined here: `landlock ABI <n>`, or why they cannot be.
pub fn describe() -> String {
    match abi() {
        Ok(abi) => format!("landlock ABI {abi}"),
        Err(why) => format!("none: {why}"),
    }
}

/// The Landlock ABI version of the running kernel, or why there is none.
pub fn abi() -> Result<i64, String> {
    // SAFETY: with a null attribute, size 0 and this flag the call only returns the ABI version.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    if version >= 1 {
        return Ok(version);
    }
    Err(match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOSYS) => {
            "this kernel has no Landlock (Linux 5.13 or later, CONFIG_SECURITY_LANDLOCK)".into()
        }
        Some(libc::EOPNOTSUPP) => {
            "Landlock is built in but not enabled (add landlock to the lsm= boot parameter)".into()
        }
        _ => format!("Landlock unavailable: {}", std::io::Error::last_os_error()),
    })
}

/// The thread that started a confined command: it lives until this is dropped, which must come
/// only after the command's process is reaped, since a child's parent-death signal comes when the
/// thread that started it ends.
pub struct Starter {
    end: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Starter {
    fn drop(&mut self) {
        drop(self.end.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts `command` confined to writing beneath `dir` (and to /dev/null): from a thread of its
/// own that confines itself first, since Landlock restricts the calling thread and its future
/// children, never the rest of the harness. Fails when the kernel would not enforce it.
pub fn spawn_confined(mut command: Command, dir: &Path) -> Result<(Child, Starter)> {
    let dir = dir.to_path_buf();
    let (started_tx, started) = mpsc::channel();
    let (end, ended) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("confined".into())
        .spawn(move || {
            let child = restrict_writes_to(&dir)
                .with_context(|| format!("confining the command to {}", dir.display()))
                .and_then(|()| command.spawn().map_err(anyhow::Error::from));
            let spawned = child.is_ok();
            let _ = started_tx.send(child);
            if spawned {
                // Until the Starter is dropped.
                let _ = ended.recv();
            }
        })
        .context("starting a thread to confine the command")?;
    let child = started
        .recv()
        .map_err(|_| anyhow!("the confining thread ended without a word"))??;
    Ok((
        child,
        Starter {
            end: Some(end),
            thread: Some(thread),
        },
    ))
}

/// Restricts the calling thread and its future children to writing beneath `dir` and to
/// /dev/null. Fails when the kernel would not enforce it.
fn restrict_writes_to(dir: &Path) -> Result<()> {
    let abi = ABI::V5;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_write(abi))
        .context("preparing the Landlock ruleset")?
        .create()
        .context("creating the Landlock ruleset")?
        .add_rules(path_beneath_rules([dir], AccessFs::from_write(abi)))
        .context("allowing writes beneath the work dir")?
        .add_rules(path_beneath_rules(["/dev/null"], AccessFs::from_write(abi)))
        .context("allowing writes to /dev/null")?
        .restrict_self()
        .context("entering the Landlock domain")?;
    if status.ruleset == RulesetStatus::NotEnforced {
        bail!("the kernel did not enforce the Landlock ruleset");
    }
    Ok(())
}
