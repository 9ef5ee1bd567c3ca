//! Real tools as update methods: finding a command on PATH, recording its version, running it with
//! `{new}` and `{target}` substituted, and naming the errno behind its failure from its message
//! (cp says "Text file busy", which is ETXTBSY).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::confine::{self, Starter};
use crate::error::Interrupted;
use crate::guard;
use crate::interrupt;
use crate::victim::{pidfd_open, wait_fds};
use crate::workfile;

use crate::trial::UpdateResult;

/// A command that runs longer than this is killed, with everything it started, and the trial
/// fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The full path of `name` on PATH (or `name` itself when it contains a slash and exists).
pub fn find(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The tools of the catalogue, whose `--version` clobber asks for. Any other command (a user's
/// deploy script given to `check`) is never run with arguments it was not given.
const KNOWN: [&str; 18] = [
    "cp", "install", "mv", "rsync", "dd", "sh", "cat", "sleep", "dpkg", "dpkg-deb", "python3",
    "cargo", "env", "rpm", "rpmbuild", "npm", "node", "tar",
];

/// The version of the tool `name` found at `path`: the first line `TOOL --version` prints for a
/// known tool, otherwise (or when it has no such flag) the path it resolves to.
pub fn version(name: &str, path: &Path) -> String {
    let real = || {
        std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string()
    };
    if !KNOWN.contains(&name) {
        return format!("{} (version not asked: not a catalogue tool)", real());
    }
    let output = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        _ => format!("{} (no --version)", real()),
    }
}

/// The errno whose message a command's stderr quotes (the longest one, so that "Text file busy"
/// wins over a shorter message it contains).
fn named_errno(stderr: &str) -> Option<Errno> {
    (1..=133)
        .map(Errno::from_raw)
        .filter(|errno| *errno != Errno::UnknownErrno && !errno.desc().is_empty())
        .filter(|errno| stderr.contains(errno.desc()))
        .max_by_key(|errno| errno.desc().len())
}

/// Substitutes `{new}` and `{target}` in `argv`.
pub fn substitute(argv: &[String], new: &Path, target: &Path) -> Vec<String> {
    argv.iter()
        .map(|arg| {
            arg.replace("{new}", &new.to_string_lossy())
                .replace("{target}", &target.to_string_lossy())
        })
        .collect()
}

/// Runs `argv` (already substituted) in `dir`, its stderr going to `dir/command.stderr`, under a
/// guard in a process group of its own that dies with the harness, confined to writing beneath
/// `confine` (with TMPDIR there) when given: applied when it exits 0;
/// refused when it failed with a message naming an errno (e.g. "Text file busy", ETXTBSY);
/// failed otherwise. The group is killed on every path, so nothing the command started outlives
/// it; Ctrl-C ends it at once.
pub fn run(argv: &[String], dir: &Path, confine: Option<&Path>) -> Result<UpdateResult> {
    let stderr_path = dir.join("command.stderr");
    let stderr_file = workfile::create(&stderr_path, 0o644)
        .with_context(|| format!("creating {}", stderr_path.display()))?;
    let mut command = guard::command(dir, argv)?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr_file);
    let running = || format!("running {}", argv.join(" "));
    let (child, starter) = match confine {
        Some(root) => {
            let tmp = root.join("tmp");
            std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            command.env("TMPDIR", tmp);
            let (child, starter) = confine::spawn_confined(command, root).with_context(running)?;
            (child, Some(starter))
        }
        None => (command.spawn().with_context(running)?, None),
    };
    let mut group = Group::new(child, starter)?;
    let started = Instant::now();
    let status = loop {
        if interrupt::requested() {
            return Err(Interrupted.into());
        }
        if let Some(status) = group.wait(POLL)? {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            anyhow::bail!(
                "`{}` did not finish within {COMMAND_TIMEOUT:?}",
                argv.join(" ")
            );
        }
    };
    if status.success() {
        return Ok(UpdateResult::Applied);
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let message = stderr.lines().next().unwrap_or_default().to_string();
    Ok(match named_errno(&stderr) {
        Some(errno) => UpdateResult::Refused {
            errno: format!("{errno:?}"),
            message,
        },
        None => UpdateResult::Failed {
            code: status.code().filter(|code| *code < 128),
            message,
        },
    })
}

/// How long one wait for the command lasts before the interrupt flag and the timeout are checked.
const POLL: Duration = Duration::from_millis(1);

/// A command's process group, led by its guard (or by the command itself, where no guard is
/// needed): killed, and its leader reaped, when dropped.
struct Group {
    guard: Child,
    pidfd: OwnedFd,
    reaped: bool,
    /// The thread that started a confined guard, kept until the guard is reaped (dropped after
    /// the other fields, and after [`Group::drop`] reaped it).
    _starter: Option<Starter>,
}

impl Group {
    fn new(mut guard: Child, starter: Option<Starter>) -> Result<Group> {
        match pidfd_open(guard.id()) {
            Ok(pidfd) => Ok(Group {
                guard,
                pidfd,
                reaped: false,
                _starter: starter,
            }),
            Err(err) => {
                let _ = killpg(Pid::from_raw(guard.id() as i32), Signal::SIGKILL);
                let _ = guard.wait();
                Err(err)
            }
        }
    }

    /// Kills every process of the group. The guard, the group's leader, is not reaped yet, so
    /// its pid (the group's id) cannot have been reused.
    fn kill(&mut self) {
        if !self.reaped {
            let _ = killpg(Pid::from_raw(self.guard.id() as i32), Signal::SIGKILL);
        }
    }

    /// Waits up to `timeout` for the guard to end; then kills what is left of the group (a
    /// command's background children) and reaps the guard.
    fn wait(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        match wait_fds(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => Ok(None),
            Ok(_) => {
                self.kill();
                let status = self.guard.wait().context("reaping the command's guard")?;
                self.reaped = true;
                Ok(Some(status))
            }
            Err(err) => Err(err).context("waiting for the command"),
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            let _ = self.guard.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_errno() {
        assert_eq!(
            named_errno("cp: cannot create regular file 'x': Text file busy\n"),
            Some(Errno::ETXTBSY)
        );
        assert_eq!(named_errno("something else"), None);
    }

    #[test]
    fn placeholders_are_substituted() {
        let argv = vec!["cp".into(), "{new}".into(), "{target}".into()];
        assert_eq!(
            substitute(&argv, Path::new("/a"), Path::new("/b")),
            ["cp", "/a", "/b"]
        );
    }
}
