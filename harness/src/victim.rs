//! Victim processes: spawning them (in their own process group, killed when the harness dies, never
//! dumping core), waiting until they are ready, and watching their progress and death without
//! blocking them. A [`Victim`] kills and reaps its process when dropped, on every path.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clobber_victims::status::{self, Status};
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

use crate::error::Interrupted;
use crate::evidence;
use crate::interrupt;
use crate::scenario::Mapping;
use crate::workfile;

/// Which victim program runs, and how it uses its target.
#[derive(Clone, Debug)]
pub enum Program {
    /// The dlopen loop (the harness re-executed as `clobber victim dlopen`).
    Dlopen,
    /// The victim executable, run from the target path itself.
    Exe,
    /// The mmap reader (the harness re-executed as `clobber victim mmap`).
    Mmap(Mapping),
    /// The executable at this path, linked against the target library: `victim-linked`, or
    /// `victim-linked-lazy`, which calls one function first after [`Victim::mark_updated`].
    Linked(PathBuf),
    /// The executable at `exe`, whose interpreter is the target; it dlopen()s `lib` in a loop and
    /// reports version 2 when its loader has the build-id `new_build_id` (hex).
    Interp {
        exe: PathBuf,
        lib: PathBuf,
        new_build_id: String,
    },
}

/// When this variable is set, victims (and only they) run with `LD_DEBUG` set to its value, so the
/// dynamic loader's trace (e.g. `bindings`) lands in their stderr files in the work dir.
pub const VICTIM_LD_DEBUG: &str = "CLOBBER_VICTIM_LD_DEBUG";

/// A running victim.
pub struct Victim {
    child: Child,
    pidfd: OwnedFd,
    status: Status,
    stderr: PathBuf,
    reaped: Option<ExitStatus>,
}

/// What waiting for readiness found.
pub enum Readiness {
    /// Ready, having seen this version.
    Ready(u64),
    /// Died before becoming ready.
    Died(ExitStatus),
}

/// A pidfd of process `pid`, readable once it has exited.
pub fn pidfd_open(pid: u32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .context("pidfd_open (Linux 5.3 or later needed)");
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl Victim {
    /// Starts `program` on `target`, reporting through a status file created at `status_path`;
    /// the victim's stderr goes to `stderr_path`.
    pub fn spawn(
        program: &Program,
        target: &Path,
        status_path: &Path,
        stderr_path: &Path,
    ) -> Result<Victim> {
        let status = workfile::create(status_path, 0o600)
            .and_then(|file| Status::create(&file))
            .with_context(|| format!("creating {}", status_path.display()))?;
        let mut command = match program {
            Program::Linked(exe) => {
                let mut command = Command::new(exe);
                command.arg(status_path);
                command
            }
            Program::Interp {
                exe,
                lib,
                new_build_id,
            } => {
                // PT_INTERP is `ld.so`, relative: the kernel looks it up in the working directory.
                let mut command = Command::new(exe);
                command
                    .arg(status_path)
                    .arg(lib)
                    .arg(new_build_id)
                    .current_dir(target.parent().unwrap_or(Path::new("/")));
                command
            }
            Program::Exe => {
                let mut command = Command::new(target);
                command.arg(status_path);
                command
            }
            Program::Dlopen => {
                let mut command = Command::new(self_exe()?);
                command.args(["victim", "dlopen"]);
                command.arg(target).arg(status_path);
                command
            }
            Program::Mmap(mapping) => {
                let mut command = Command::new(self_exe()?);
                command.args(["victim", "mmap", "--mapping"]);
                command.arg(match *mapping {
                    Mapping::Shared => "shared",
                    Mapping::Private => "private",
                    Mapping::Denywrite => "denywrite",
                });
                command.arg(target).arg(status_path);
                command
            }
        };
        if let Some(value) = std::env::var_os(VICTIM_LD_DEBUG) {
            command.env("LD_DEBUG", value);
        }
        let stderr = workfile::create(stderr_path, 0o644)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let harness = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // Own process group: a terminal's Ctrl-C reaches the harness, which ends victims.
                if libc::setpgid(0, 0) != 0
                    || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                // A harness that died between fork and prctl sent no parent-death signal.
                if libc::getppid() != harness {
                    libc::_exit(137);
                }
                let zero = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &zero);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting victim {program:?} on {}", target.display()))?;
        let pidfd = match pidfd_open(child.id()) {
            Ok(fd) => fd,
            Err(err) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                return Err(err);
            }
        };
        Ok(Victim {
            child,
            pidfd,
            status,
            stderr: stderr_path.to_path_buf(),
            reaped: None,
        })
    }

    /// The victim's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Completed iterations of the victim's loop.
    pub fn iterations(&self) -> u64 {
        self.status.get(status::ITERATIONS)
    }

    /// The version the latest iteration saw.
    pub fn seen(&self) -> u64 {
        self.status.get(status::SEEN)
    }

    /// Tells the victim that the update has finished (status word `UPDATED`), for victims that
    /// do something only afterwards.
    pub fn mark_updated(&self) {
        self.status.set(status::UPDATED, 1);
    }

    /// Its file mappings now, from /proc/PID/maps; empty when they cannot be read.
    pub fn maps(&self) -> Vec<evidence::Mapping> {
        std::fs::read_to_string(format!("/proc/{}/maps", self.pid()))
            .map(|text| evidence::parse_maps(&text))
            .unwrap_or_default()
    }

    /// The first line the victim wrote to stderr, if any (e.g. why it could not start).
    pub fn stderr_line(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.stderr).ok()?;
        text.lines().next().map(clip)
    }

    /// The last line the victim wrote to stderr, if any: what it said just before it died (e.g.
    /// the loader's complaint, after the lazy linked victim's line announcing its late call).
    pub fn last_stderr_line(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.stderr).ok()?;
        text.lines().next_back().map(clip)
    }

    /// Waits until the victim is ready or dead, at most `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Readiness> {
        let deadline = Instant::now() + timeout;
        loop {
            if interrupt::requested() {
                return Err(Interrupted.into());
            }
            if self.status.get(status::STATE) == status::READY {
                return Ok(Readiness::Ready(self.status.get(status::FIRST)));
            }
            if let Some(exit) = self.wait_death(Duration::from_micros(200))? {
                return Ok(Readiness::Died(exit));
            }
            if Instant::now() >= deadline {
                bail!(
                    "victim {} not ready after {:?}{}",
                    self.pid(),
                    timeout,
                    self.stderr_line()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default()
                );
            }
        }
    }

    /// The victim's scheduler state (`R` running, `S`/`D` sleeping, `T` stopped, ...) and the CPU
    /// time it has used in clock ticks, from /proc/PID/stat; None once it is gone.
    pub fn sched(&self) -> Option<(char, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // Fields after the command name, which may hold spaces: state is field 3, utime 14,
        // stime 15.
        let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
        let state = fields.first()?.chars().next()?;
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some((state, utime + stime))
    }

    /// The victim's pidfd, readable once it has exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Waits up to `timeout` for the victim to die; returns its exit status if it did.
    pub fn wait_death(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if let Some(exit) = self.reaped {
            return Ok(Some(exit));
        }
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        match wait_fds(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(None),
            Ok(_) => {
                let exit = self.child.wait().context("reaping victim")?;
                self.reaped = Some(exit);
                Ok(Some(exit))
            }
            Err(err) => Err(err).context("polling victim"),
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            // Only our own child, by pid; then reap it so nothing is left behind.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A line of a victim's stderr, cut to 200 characters for messages.
fn clip(line: &str) -> String {
    line.chars().take(200).collect()
}

/// ppoll(2) on `fds` for at most `timeout`, with microsecond resolution (poll(2) rounds up to
/// milliseconds, which would dominate a trial's cost).
pub fn wait_fds(fds: &mut [PollFd], timeout: Duration) -> nix::Result<i32> {
    ppoll(fds, Some(TimeSpec::from_duration(timeout)), None)
}

/// The harness's own executable, re-executed for the dlopen and mmap victims.
fn self_exe() -> Result<PathBuf> {
    std::env::current_exe().context("locating the clobber executable")
}
