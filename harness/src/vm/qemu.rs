//! Running qemu-system-x86_64: the command line (direct kernel boot, console on ttyS0 = stdout,
//! results on ttyS1 = a file, isa-debug-exit for the success signal), a guard that kills and
//! reaps qemu on every path (and PR_SET_PDEATHSIG, so that even a SIGKILLed harness leaves no
//! qemu), a silence timeout, and the KVM probe: /dev/kvm can exist where a KVM guest hangs, so
//! KVM counts as working only when a probe guest boots under it within a short timeout.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::vm::guest;

/// The qemu binary.
const QEMU: &str = "qemu-system-x86_64";
/// Guest memory in MiB: the initramfs (the harness, libraries, tools) lives in RAM.
const MEMORY_MIB: u32 = 1024;
/// Console lines kept for error messages.
const CONSOLE_TAIL: usize = 20;
/// How long a probe guest may take to boot under KVM.
const KVM_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How qemu runs the guest's CPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accel {
    /// Hardware virtualization.
    Kvm,
    /// Software emulation.
    Tcg,
}

impl Accel {
    /// The `environment.virtualization` of results measured under it.
    pub fn virtualization(self) -> &'static str {
        match self {
            Accel::Kvm => "qemu-kvm",
            Accel::Tcg => "qemu-tcg",
        }
    }
}

/// One guest boot.
pub struct Boot<'a> {
    /// The kernel image (a vmlinux with a PVH note, or a bzImage).
    pub kernel: &'a Path,
    /// The initramfs.
    pub initrd: &'a Path,
    /// Accelerator.
    pub accel: Accel,
    /// Kernel parameters after the fixed ones.
    pub params: String,
    /// The file that receives the guest's ttyS1.
    pub ttys1: PathBuf,
    /// A raw disk image attached as the guest's virtio disk (/dev/vda), if any.
    pub disk: Option<&'a Path>,
}

/// Kills and reaps qemu when dropped, whatever path left the scope.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a qemu run ended.
#[derive(Debug)]
pub enum End {
    /// qemu exited by itself with this status.
    Exited(ExitStatus),
    /// The guest printed nothing for this long and was killed.
    Silent(Duration),
    /// The caller asked to stop (an interrupt) and qemu was killed.
    Stopped,
}

/// What a finished qemu run left.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub end: End,
    /// The last console lines (with qemu's own stderr at the end).
    pub console: Vec<String>,
}

impl Finished {
    /// Whether the guest signalled success through isa-debug-exit.
    pub fn succeeded(&self) -> bool {
        matches!(&self.end, End::Exited(status) if status.code() == Some(guest::SUCCESS_STATUS))
    }
}

fn command(boot: &Boot) -> Command {
    let mut command = Command::new(QEMU);
    let append = format!("console=ttyS0 panic=-1 quiet {}", boot.params);
    command
        .arg("-kernel")
        .arg(boot.kernel)
        .arg("-initrd")
        .arg(boot.initrd)
        .args(["-append", append.trim()])
        .args(["-m", &MEMORY_MIB.to_string(), "-smp", "1"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-no-reboot", "-serial", "stdio", "-serial"])
        .arg(format!("file:{}", boot.ttys1.display()))
        .args([
            "-device",
            &format!(
                "isa-debug-exit,iobase={:#x},iosize=0x04",
                guest::DEBUG_EXIT_PORT
            ),
        ]);
    if let Some(disk) = boot.disk {
        command.arg("-drive").arg(format!(
            "file={},if=virtio,format=raw",
            disk.display().to_string().replace(',', ",,")
        ));
    }
    match boot.accel {
        Accel::Kvm => command.args(["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => command.args(["-accel", "tcg"]),
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; the closure touches no other state.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// Boots `boot` and waits for qemu to exit, handing each console line to `on_line`. qemu is
/// killed when the guest prints nothing for `silence`, or when `stop()` turns true.
pub fn run(
    boot: &Boot,
    silence: Duration,
    mut on_line: impl FnMut(&str),
    stop: impl Fn() -> bool,
) -> Result<Finished> {
    let mut child = command(boot)
        .spawn()
        .with_context(|| format!("starting {QEMU} (is qemu-system-x86 installed?)"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let mut guard = Guard(child);
    let (lines_tx, lines) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            let _ = lines_tx.send(text.trim_end_matches(['\r', '\n']).to_string());
            line.clear();
        }
    });
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut console: VecDeque<String> = VecDeque::new();
    let mut last = Instant::now();
    let end = loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                last = Instant::now();
                on_line(&line);
                if console.len() == CONSOLE_TAIL {
                    console.pop_front();
                }
                console.push_back(line);
            }
            Err(RecvTimeoutError::Disconnected) => {
                break End::Exited(guard.0.wait().context("waiting for qemu")?);
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if stop() {
            break End::Stopped;
        }
        if last.elapsed() >= silence {
            break End::Silent(silence);
        }
    };
    drop(guard); // kills and reaps qemu unless it exited; its pipes close
    let _ = reader.join();
    let mut console: Vec<String> = console.into();
    if let Ok(text) = errors.join() {
        console.extend(text.lines().map(|l| format!("qemu: {l}")));
    }
    Ok(Finished { end, console })
}

/// Whether KVM works here: /dev/kvm opens and `probe` (a guest booted under KVM with
/// [`guest::PROBE_PARAM`]) succeeds within a short timeout. Decided once per process.
pub fn accel(kernel: &Path, initrd: &Path, scratch: &Path) -> Accel {
    static ACCEL: OnceLock<Accel> = OnceLock::new();
    *ACCEL.get_or_init(|| {
        let usable = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        if !usable {
            return Accel::Tcg;
        }
        let boot = Boot {
            kernel,
            initrd,
            accel: Accel::Kvm,
            params: guest::PROBE_PARAM.into(),
            ttys1: scratch.join("kvm-probe.ttyS1"),
            disk: None,
        };
        let started = Instant::now();
        let works = run(
            &boot,
            KVM_PROBE_TIMEOUT,
            |_| {},
            || started.elapsed() >= KVM_PROBE_TIMEOUT,
        )
        .is_ok_and(|finished| finished.succeeded());
        if works {
            Accel::Kvm
        } else {
            Accel::Tcg
        }
    })
}
