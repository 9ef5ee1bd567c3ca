//! Victim processes: spawning them (in their own process group, killed when the harness dies, never
//! dumping core), waiting until they are ready, and watching their progress and death without
//! blocking them: the harness blocks on each victim's pidfd and on its notification pipe (its
//! stdout, one byte when it is ready and after each bump of `UPDATED`), never on a timer. A
//! [`Victim`] kills and reaps its process when dropped, on every path.

use std::io::{PipeReader, PipeWriter, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;

use crate::error::Interrupted;
use crate::evidence;
use crate::interrupt;
use crate::placement;
use crate::scenario::{Mapping, VictimKind};
use crate::status::{self, Status};
use crate::workfile;

/// Which victim program runs, and how it uses its target.
#[derive(Clone, Debug)]
pub enum Program {
    /// The dlopen victim at this path (`victim-dlopen`).
    Dlopen(PathBuf),
    /// The victim executable, run from the target path itself.
    Exe,
    /// The mmap victim at `exe` (`victim-mmap`), mapping the target this way.
    Mmap { exe: PathBuf, mapping: Mapping },
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
    /// The program at `exe`, of `kind`, run by the dynamic loader at `loader` with the library
    /// path set to the loader's directory (`ld.so --library-path DIR EXE`), so that it runs on the
    /// private C library there: clobber's C-library victim, or a real program of the system.
    UnderLoader {
        loader: PathBuf,
        kind: VictimKind,
        exe: PathBuf,
        /// How long a sleeper sleeps: it must still be asleep when the update is over.
        sleep: Duration,
    },
    /// A victim script run by its interpreter, `interpreter ARGS... STATUS_FILE`: the Python
    /// victim (`victims/python/victim.py`, run by a venv's python) or the Node.js victim
    /// (`victims/node/victim.js`), which load the package that ships the target. The harness
    /// gives them their parent-death signal and no core dumps (see [`Program::hardens_itself`]).
    Script {
        interpreter: PathBuf,
        args: Vec<std::ffi::OsString>,
    },
}

impl Program {
    /// Which program it is.
    pub fn kind(&self) -> VictimKind {
        match self {
            Program::UnderLoader { kind, .. } => *kind,
            _ => VictimKind::Clobber,
        }
    }

    /// Whether the program sets its own parent-death signal, checks its parent and gives up core
    /// dumps (clobber's compiled victims, `victims/common/report.rs`), so that it can be spawned
    /// without running code between fork and exec.
    fn hardens_itself(&self) -> bool {
        !matches!(self, Program::Script { .. }) && self.kind() == VictimKind::Clobber
    }
}

/// The shell victim: it waits, blocked reading its stdin, until the harness releases it (closes
/// the pipe), then loops: arithmetic, a pattern match and, every 1000 rounds, a line on its stdout
/// (the notification pipe), by which the harness sees it work.
const SHELL_LOOP: &str =
    "read -r held; i=0; while :; do i=$((i + 1)); case $i in *000) echo $i;; esac; done";
/// The line the reader is sent after the update, and echoes back.
const READER_LINE: &[u8] = b"ping\n";

/// When this variable is set, victims (and only they) run with `LD_DEBUG` set to its value, so the
/// dynamic loader's trace (e.g. `bindings`) lands in their stderr files in the work dir.
pub const VICTIM_LD_DEBUG: &str = "CLOBBER_VICTIM_LD_DEBUG";

/// The longest a wait for a running victim blocks before the harness looks again on its own:
/// victims wake it through their pidfd and notification pipe, but under emulation a wake-up from
/// a spinning victim on the one vCPU can wait for the scheduler for seconds (seen on Linux 6.12
/// and 7.2 under TCG: a pipe write is a "sync" wake-up, which expects the writer to block, and a
/// spinning victim does not), so the harness also wakes on a timer.
const WAKE_AT_LEAST: Duration = Duration::from_millis(1);
/// The same while a victim of clobber's starts: it announces readiness on its pipe and then
/// blocks on its stdin, and its death wakes the pidfd, so the harness needs no timer, and under
/// emulation every timer wake costs the starting victim CPU time (the one vCPU is shared). The
/// timer only bounds how late an interrupt is seen.
const WAKE_WHILE_STARTING: Duration = Duration::from_millis(100);
/// The same for a real program that is starting: it says nothing when ready, so the harness
/// looks at its state in /proc, at first at once and then less and less often.
const LOOK_WHILE_STARTING: std::ops::RangeInclusive<Duration> =
    Duration::from_micros(250)..=Duration::from_millis(8);

/// The variable in which victims get the harness's pid (read by `victims/common/report.rs`).
const HARNESS_PID: &str = "CLOBBER_HARNESS_PID";

/// A running victim.
pub struct Victim {
    child: Child,
    pidfd: OwnedFd,
    /// The read end of the victim's notification pipe (its stdout), non-blocking.
    notify: PipeReader,
    /// The write end of the victim's stdin: closing it releases the victim into its loop.
    hold: Option<PipeWriter>,
    status: Status,
    stderr: PathBuf,
    reaped: Option<ExitStatus>,
    /// When it was started.
    started: Instant,
    kind: VictimKind,
    /// The file it runs on.
    target: PathBuf,
    /// Bytes read from its notification pipe so far.
    heard: u64,
    /// Bytes of stderr it had written when it became ready.
    said_before_ready: u64,
    /// Whether it is stopped by [`Victim::pause`].
    paused: bool,
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
            Program::Dlopen(exe) => {
                let mut command = Command::new(exe);
                command.arg(target).arg(status_path);
                command
            }
            Program::UnderLoader {
                loader,
                kind,
                exe,
                sleep,
            } => {
                let mut command = Command::new(loader);
                command
                    .arg("--library-path")
                    .arg(loader.parent().unwrap_or(Path::new("/")))
                    .arg(exe);
                match kind {
                    VictimKind::Clobber => command.arg(status_path),
                    VictimKind::Shell => command.args(["-c", SHELL_LOOP]),
                    VictimKind::Sleeper => command.arg(sleep.as_secs_f64().to_string()),
                    VictimKind::Reader => &mut command,
                };
                command
            }
            Program::Script { interpreter, args } => {
                let mut command = Command::new(interpreter);
                command.args(args).arg(status_path);
                command
            }
            Program::Mmap { exe, mapping } => {
                let mut command = Command::new(exe);
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
        let (notify, notify_writer) = std::io::pipe().context("making a notification pipe")?;
        fcntl(notify.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .context("making the notification pipe non-blocking")?;
        let (hold_reader, hold) = std::io::pipe().context("making a release pipe")?;
        command
            .stdin(hold_reader)
            .stdout(notify_writer)
            .stderr(stderr);
        // Own process group: a terminal's Ctrl-C reaches the harness, which ends victims. The
        // victim itself sets its parent-death signal, checks that its parent is still this
        // harness and gives up core dumps (`victims/common/report.rs`), so that no code runs
        // between fork and exec and the spawn is a vfork (posix_spawn), not a copy of the harness.
        command
            .process_group(0)
            .env(HARNESS_PID, std::process::id().to_string());
        if !program.hardens_itself() {
            // Real programs (dash, sleep, cat) and interpreters (Node.js has neither prctl nor
            // setrlimit) do none of that, and a sleeper that woke into a rewritten C library
            // spins forever: the child does it between fork and exec (both survive exec).
            let harness = std::process::id() as libc::pid_t;
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: prctl, getppid, setrlimit and _exit are async-signal-safe and touch nothing
            // of the parent's memory.
            unsafe {
                command.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                    if libc::getppid() != harness {
                        libc::_exit(1);
                    }
                    libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                    Ok(())
                });
            }
        }
        let started = Instant::now();
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
        // The write end went to the child with `command`, dropped here: once the victim is gone the
        // pipe reads end-of-file.
        drop(command);
        if let Some(set) = placement::victim_cpus() {
            // SAFETY: a valid cpu_set_t of the size passed, for our own child.
            unsafe {
                libc::sched_setaffinity(
                    child.id() as libc::pid_t,
                    std::mem::size_of_val(&set),
                    &set,
                )
            };
        }
        Ok(Victim {
            child,
            pidfd,
            notify,
            hold: Some(hold),
            status,
            stderr: stderr_path.to_path_buf(),
            reaped: None,
            started,
            kind: program.kind(),
            target: target.to_path_buf(),
            heard: 0,
            said_before_ready: 0,
            paused: false,
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

    /// Which program it is.
    pub fn kind(&self) -> VictimKind {
        self.kind
    }

    /// When it was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Its progress so far: iterations of clobber's victims, bytes heard from a real program.
    pub fn progress(&self) -> u64 {
        match self.kind {
            VictimKind::Clobber => self.iterations(),
            _ => self.heard,
        }
    }

    /// Releases a ready victim into its loop and waits, at most `timeout`, until it has run an
    /// iteration of it (or died: the caller's observation will see it). The sleeper and the
    /// reader stay as they are (the reader's stdin stays open: it is written to after the
    /// update).
    pub fn release_and_wait(&mut self, timeout: Duration) -> Result<()> {
        if matches!(self.kind, VictimKind::Sleeper | VictimKind::Reader) {
            return Ok(());
        }
        self.hold = None;
        let before = self.progress();
        self.wait_for(
            timeout,
            "made no progress after its release",
            |_| WAKE_AT_LEAST,
            |v| v.progress() != before,
        )
        .map(drop)
    }

    /// Stops a living victim whose outcome is known (SIGSTOP), so that it takes no CPU time from
    /// the processes still watched or starting (under emulation they share one CPU). Its mappings
    /// stay readable. It is still an unreaped child, so its pid is its own.
    pub fn pause(&mut self) {
        if self.reaped.is_none() && !self.paused {
            self.paused = kill(self.pid(), libc::SIGSTOP);
        }
    }

    /// Lets a paused victim run on (SIGCONT).
    pub fn resume(&mut self) {
        if self.paused && self.reaped.is_none() {
            kill(self.pid(), libc::SIGCONT);
        }
        self.paused = false;
    }

    /// Wakes a reader after the update: it is sent a line, which it should echo.
    pub fn poke(&mut self) {
        if let (VictimKind::Reader, Some(hold)) = (self.kind, self.hold.as_mut()) {
            // A reader that died meanwhile closed the pipe: its death is what will be seen.
            let _ = std::io::Write::write_all(hold, READER_LINE);
        }
    }

    /// Whether its mappings include its target file (the loader has loaded it).
    fn maps_target(&self) -> bool {
        self.maps()
            .iter()
            .any(|m| Path::new(&m.path) == self.target)
    }

    /// Waits until `done` holds or the victim dies (Ok(false)), blocking on its pidfd and its
    /// notification pipe, for at most `wake(round)` at a time; after `timeout` it is an error
    /// saying the victim `what`.
    fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        wake: impl Fn(u32) -> Duration,
        done: impl Fn(&Victim) -> bool,
    ) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut round = 0u32;
        loop {
            if interrupt::requested() {
                return Err(Interrupted.into());
            }
            if done(self) {
                return Ok(true);
            }
            if self.wait_death(Duration::ZERO)?.is_some() {
                return Ok(false);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "victim {} {what} after {timeout:?}{}",
                    self.pid(),
                    self.stderr_line()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default()
                );
            }
            let mut fds = [
                PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.notify.as_fd(), PollFlags::POLLIN),
            ];
            match wait_fds(&mut fds, left.min(wake(round))) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => self.drain(),
                Err(err) => {
                    return Err(err).with_context(|| format!("waiting for victim {}", self.pid()))
                }
            }
            round = round.saturating_add(1);
        }
    }

    /// Bumps the status word `UPDATED`: the update has finished (victims that do something only
    /// afterwards, like the lazy linked victim, read it), and the victim announces its next few
    /// iterations on its notification pipe.
    pub fn expect_progress(&mut self) {
        self.drain();
        self.status.bump(status::UPDATED);
    }

    /// The read end of the victim's notification pipe, readable when it has something to say.
    pub fn notify_fd(&self) -> BorrowedFd<'_> {
        self.notify.as_fd()
    }

    /// Reads what the notification pipe holds, without blocking.
    pub fn drain(&mut self) {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = self.notify.read(&mut buffer) {
            self.heard += n as u64;
        }
    }

    /// Its file mappings now, from /proc/PID/maps; empty when they cannot be read.
    pub fn maps(&self) -> Vec<evidence::Mapping> {
        std::fs::read_to_string(format!("/proc/{}/maps", self.pid()))
            .map(|text| evidence::parse_maps(&text))
            .unwrap_or_default()
    }

    /// The first line the victim wrote to stderr, if any (e.g. why it could not start).
    pub fn stderr_line(&self) -> Option<String> {
        let text = self.stderr_text()?;
        text.lines().next().map(clip)
    }

    /// What the victim wrote to stderr, with the paths of its own directory made relative to it
    /// (the work dir's name differs from run to run).
    fn stderr_text(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.stderr).ok()?;
        self.stderr_after(text)
    }

    /// `text` of the victim's stderr with the paths of its own directory made relative.
    fn stderr_after(&self, text: String) -> Option<String> {
        Some(match self.target.parent() {
            Some(dir) => text.replace(&format!("{}/", dir.display()), ""),
            None => text,
        })
    }

    /// The last line the victim wrote to stderr after it became ready, if any: what it said
    /// just before it died (e.g. the loader's complaint, after the lazy linked victim's line
    /// announcing its late call), never what it said while starting (e.g. its version).
    pub fn last_stderr_line(&self) -> Option<String> {
        let bytes = std::fs::read(&self.stderr).ok()?;
        let after = bytes.get(self.said_before_ready as usize..)?;
        let text = self.stderr_after(String::from_utf8_lossy(after).into_owned())?;
        text.lines().next_back().map(clip)
    }

    /// Waits until the victim is ready or dead, at most `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Readiness> {
        let ready = |v: &Victim| match v.kind {
            VictimKind::Clobber => v.status.get(status::STATE) == status::READY,
            VictimKind::Shell | VictimKind::Sleeper | VictimKind::Reader => {
                matches!(v.sched(), Some(('S', _))) && v.maps_target()
            }
        };
        let kind = self.kind;
        let wake = move |round: u32| match kind {
            VictimKind::Clobber => WAKE_WHILE_STARTING,
            _ => (*LOOK_WHILE_STARTING.start() * 2u32.saturating_pow(round))
                .min(*LOOK_WHILE_STARTING.end()),
        };
        Ok(
            match (
                self.wait_for(timeout, "not ready", wake, ready)?,
                self.reaped,
            ) {
                (false, Some(exit)) => Readiness::Died(exit),
                _ => {
                    self.said_before_ready = std::fs::metadata(&self.stderr).map_or(0, |m| m.len());
                    Readiness::Ready(self.status.get(status::FIRST))
                }
            },
        )
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

/// Sends `signal` to our own child `pid`; whether it was sent.
fn kill(pid: u32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) with a pid of a child not yet reaped, so not reused.
    unsafe { libc::kill(pid as libc::pid_t, signal) == 0 }
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
