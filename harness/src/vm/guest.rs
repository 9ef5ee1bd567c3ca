//! The harness as PID 1 of a guest kernel: mount proc, sysfs, devtmpfs and a tmpfs, run the
//! scenarios of /clobber/guest.json on the tmpfs (or, for `--fs ext4|xfs|btrfs`, load the
//! modules the initramfs carries with init_module(2) and run them on /dev/vda mounted with that
//! filesystem), print progress lines the host parses, write each
//! scenario's result as soon as it is known as a JSON line to the second serial port (ttyS1, a
//! file on the host, so that a guest that dies later loses nothing), then tell qemu that all went
//! well through isa-debug-exit (qemu exits with status 33) and power off.

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::termios;
use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::filesystem::FsKind;
use crate::results::ScenarioResult;
use crate::session;
use crate::vm::bench::GuestBench;

/// Where the configuration lies in the initramfs.
pub const CONFIG_PATH: &str = "/clobber/guest.json";
/// PATH in the guest; the initramfs puts the tools here.
pub const GUEST_PATH: &str = "/usr/bin";
/// Where the initramfs of a `--fs` guest holds its modules, in load order by name.
pub const MODULES_DIR: &str = "/clobber/modules";
/// The guest's cache directory (`XDG_CACHE_HOME`): the initramfs puts the host's library
/// releases in it.
pub const CACHE_DIR: &str = "/clobber/cache";
/// Where a `--fs` guest mounts its disk.
const DISK_MOUNT: &str = "/mnt/clobber";
/// How long the guest waits for its disk to appear after loading the modules.
const DISK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// Prefix of the console lines the host parses.
const PREFIX: &str = "clobber-guest: ";
/// I/O port of qemu's isa-debug-exit device; qemu exits with status (value << 1) | 1.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
/// The value written to [`DEBUG_EXIT_PORT`] after a good run, so qemu exits with 33.
const DEBUG_EXIT_VALUE: u8 = 0x10;
/// qemu's exit status after a good run.
pub const SUCCESS_STATUS: i32 = ((DEBUG_EXIT_VALUE as i32) << 1) | 1;
/// Kernel parameter of the KVM probe: the guest signals success at once.
pub const PROBE_PARAM: &str = "clobber.probe";

/// What the guest runs, written by the host into the initramfs.
#[derive(Debug, Deserialize, Serialize)]
pub struct Config {
    /// Scenario names; empty means the whole catalogue.
    pub scenarios: Vec<String>,
    /// Trials per scenario given on the host's command line.
    pub trials: Option<u32>,
    /// Trials of scenarios whose file names none, when `trials` is not given.
    pub default_trials: u32,
    /// Seed of the random update delay.
    pub seed: u64,
    /// The filesystem of the work dir; none means the guest's tmpfs. Default: none.
    #[serde(default)]
    pub filesystem: Option<FsKind>,
    /// Run `clobber bench` instead of the scenarios. Default: none.
    #[serde(default)]
    pub bench: Option<GuestBench>,
}

/// What a progress line from the guest says.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// /init is running.
    Started,
    /// Scenario `index` (from 1) of `total` begins.
    Scenario {
        index: usize,
        total: usize,
        name: String,
    },
    /// Trial `index` (from 1) of `total` of the current scenario ended.
    Trial { index: u32, total: u32 },
    /// The results were sent; the guest powers off.
    Done,
    /// The guest failed; the message says why.
    Error(String),
}

/// Prints the console line of `event` (guest side).
pub fn announce(event: &Event) {
    let line = match event {
        Event::Started => "started".to_string(),
        Event::Scenario { index, total, name } => format!("scenario {index}/{total} {name}"),
        Event::Trial { index, total } => format!("trial {index}/{total}"),
        Event::Done => "done".to_string(),
        Event::Error(message) => format!("error: {message}"),
    };
    println!("{PREFIX}{line}");
    let _ = std::io::stdout().flush();
}

/// The event of a console line (host side); `None` for the kernel's and the harness's own lines.
pub fn parse(line: &str) -> Option<Event> {
    let rest = &line[line.find(PREFIX)? + PREFIX.len()..];
    match rest.trim() {
        "started" => return Some(Event::Started),
        "done" => return Some(Event::Done),
        _ => {}
    }
    if let Some(message) = rest.strip_prefix("error: ") {
        return Some(Event::Error(message.trim().to_string()));
    }
    if let Some(trial) = rest.strip_prefix("trial ") {
        let (index, total) = trial.trim().split_once('/')?;
        return Some(Event::Trial {
            index: index.parse().ok()?,
            total: total.parse().ok()?,
        });
    }
    let mut words = rest.strip_prefix("scenario ")?.split_whitespace();
    let (index, total) = words.next()?.split_once('/')?;
    Some(Event::Scenario {
        index: index.parse().ok()?,
        total: total.parse().ok()?,
        name: words.next()?.to_string(),
    })
}

/// Whether this process is PID 1, i.e. /init of a guest.
pub fn is_init() -> bool {
    std::process::id() == 1
}

/// Runs the guest and powers off; never returns (PID 1 must not exit).
pub fn run() -> ! {
    let ok = match run_guest() {
        Ok(probe) => {
            if !probe {
                announce(&Event::Done);
            }
            true
        }
        Err(err) => {
            announce(&Event::Error(format!("{err:#}")));
            false
        }
    };
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    if ok {
        signal_success();
    }
    let _ = reboot(RebootMode::RB_POWER_OFF);
    loop {
        std::thread::park();
    }
}

/// Sets up the guest and runs it; returns whether this was only the KVM probe.
fn run_guest() -> Result<bool> {
    for (source, target, fstype) in [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("tmpfs", "/tmp", "tmpfs"),
    ] {
        fs::create_dir_all(target)?;
        mount(
            Some(source),
            target,
            Some(fstype),
            MsFlags::empty(),
            None::<&str>,
        )
        .with_context(|| format!("mounting {fstype} on {target}"))?;
    }
    let cmdline = fs::read_to_string("/proc/cmdline").context("reading /proc/cmdline")?;
    if cmdline.split_whitespace().any(|w| w == PROBE_PARAM) {
        return Ok(true);
    }
    announce(&Event::Started);
    std::env::set_var("PATH", GUEST_PATH);
    std::env::set_var("HOME", "/tmp");
    std::env::set_var("XDG_CACHE_HOME", CACHE_DIR);
    let config: Config = serde_json::from_slice(
        &fs::read(CONFIG_PATH).with_context(|| format!("reading {CONFIG_PATH}"))?,
    )
    .with_context(|| format!("parsing {CONFIG_PATH}"))?;
    if let Some(bench) = &config.bench {
        crate::vm::bench::in_guest(bench)?;
        return Ok(false);
    }
    let workdir = match config.filesystem {
        Some(kind @ (FsKind::Ext4 | FsKind::Xfs | FsKind::Btrfs)) => mount_disk(kind)?,
        Some(FsKind::Tmpfs) | None => Path::new("/tmp/work").to_path_buf(),
        Some(kind @ FsKind::Overlay) => anyhow::bail!("--fs {kind} is not supported in a guest"),
    };
    session::run_in_guest(
        &config.scenarios,
        config.trials,
        config.default_trials,
        config.seed,
        Path::new("/tmp/results"),
        &workdir,
    )?;
    Ok(false)
}

/// Loads the modules of [`MODULES_DIR`], waits for /dev/vda and mounts it as `kind`; returns the
/// work dir on it.
fn mount_disk(kind: FsKind) -> Result<std::path::PathBuf> {
    let mut modules: Vec<_> = fs::read_dir(MODULES_DIR)
        .with_context(|| format!("reading {MODULES_DIR}"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    modules.sort();
    for module in &modules {
        load_module(module)?;
    }
    let disk = Path::new("/dev/vda");
    let started = std::time::Instant::now();
    while !disk.exists() {
        if started.elapsed() > DISK_WAIT {
            anyhow::bail!(
                "/dev/vda did not appear within {}s of loading the modules",
                DISK_WAIT.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    fs::create_dir_all(DISK_MOUNT)?;
    mount(
        Some(disk),
        DISK_MOUNT,
        Some(kind.to_string().as_str()),
        MsFlags::empty(),
        None::<&str>,
    )
    .with_context(|| format!("mounting /dev/vda as {kind} on {DISK_MOUNT}"))?;
    Ok(Path::new(DISK_MOUNT).join("work"))
}

/// Loads the module at `path` with init_module(2); one already loaded is fine.
fn load_module(path: &Path) -> Result<()> {
    let image = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    // SAFETY: the pointer and length describe `image`, which outlives the call; the parameter
    // string is a NUL-terminated literal.
    let status = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len(),
            c"".as_ptr(),
        )
    };
    let err = std::io::Error::last_os_error();
    if status != 0 && err.raw_os_error() != Some(libc::EEXIST) {
        return Err(err).with_context(|| format!("loading the module {}", path.display()));
    }
    Ok(())
}

/// One line on ttyS1: a scenario's result and where it was measured.
#[derive(Deserialize, Serialize)]
pub struct Published {
    /// The guest's environment.
    pub environment: Environment,
    /// The scenario's result.
    pub scenario: ScenarioResult,
}

/// Sends a scenario's result to the host as one JSON line on ttyS1.
pub fn publish(environment: &Environment, scenario: &ScenarioResult) -> Result<()> {
    let mut line = serde_json::to_vec(&Published {
        environment: environment.clone(),
        scenario: scenario.clone(),
    })?;
    line.push(b'\n');
    send(&line)
}

/// Every complete result line the guest sent (host side); a line cut short by a dying guest is
/// left out.
pub fn received(ttys1: &[u8]) -> Vec<Published> {
    ttys1
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect()
}

/// Writes to ttyS1 in raw mode and waits until the bytes are sent.
pub fn send(json: &[u8]) -> Result<()> {
    let mut port = fs::OpenOptions::new()
        .write(true)
        .open("/dev/ttyS1")
        .context("opening /dev/ttyS1")?;
    let mut attrs = termios::tcgetattr(port.as_fd()).context("reading ttyS1's termios")?;
    termios::cfmakeraw(&mut attrs);
    termios::cfsetospeed(&mut attrs, termios::BaudRate::B115200)?;
    termios::tcsetattr(port.as_fd(), termios::SetArg::TCSANOW, &attrs)?;
    port.write_all(json)
        .context("writing the results to ttyS1")?;
    termios::tcdrain(port.as_fd()).context("draining ttyS1")?;
    Ok(())
}

/// Writes to isa-debug-exit, which ends qemu with [`SUCCESS_STATUS`].
fn signal_success() {
    // SAFETY: ioperm only grants this process access to one I/O port; the `out` touches only it.
    unsafe {
        if libc::ioperm(libc::c_ulong::from(DEBUG_EXIT_PORT), 1, 1) == 0 {
            std::arch::asm!("out dx, al", in("dx") DEBUG_EXIT_PORT, in("al") DEBUG_EXIT_VALUE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_parse_even_after_kernel_noise() {
        assert_eq!(parse("clobber-guest: started"), Some(Event::Started));
        assert_eq!(
            parse("[    2.1] clobber-guest: scenario 3/34 cp-over-lib\r"),
            Some(Event::Scenario {
                index: 3,
                total: 34,
                name: "cp-over-lib".into()
            })
        );
        assert_eq!(
            parse("clobber-guest: error: no such scenario"),
            Some(Event::Error("no such scenario".into()))
        );
        assert_eq!(parse("Run /init as init process"), None);
        assert_eq!(SUCCESS_STATUS, 33);
    }
}
