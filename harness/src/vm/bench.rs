//! `clobber bench --kernel`: the bench inside a guest kernel, in one boot. The host puts the C
//! floor it built (the same binary it measured, with the loader and libraries it needs) into the
//! initramfs at [`GUEST_FLOOR`] and a [`GuestBench`] into the guest's configuration; the guest
//! runs [`crate::bench::run`] without the memory run, prints its stages on the console and sends
//! its report as one JSON line on ttyS1, which the host reads back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::bench::{self, CFloor, Place, Report};
use crate::environment;
use crate::error::Interrupted;
use crate::interrupt;
use crate::session::Workdir;
use crate::vm::guest::{self, Config};
use crate::vm::initramfs;
use crate::vm::kernel::{self, Spec};
use crate::vm::qemu::{self, Boot};

/// Where the guest finds the C floor.
pub const GUEST_FLOOR: &str = "/clobber/floor";
/// Prefix of the guest's stage lines on the console.
const PREFIX: &str = "clobber-bench: ";
/// A guest that prints nothing for this long is killed as hung.
const SILENCE: Duration = Duration::from_secs(300);

/// What the guest measures, from the host's configuration.
#[derive(Debug, Deserialize, Serialize)]
pub struct GuestBench {
    /// Trials per scenario and floor iterations.
    pub trials: u32,
    /// Why the host has no C floor to carry in; none when it is at [`GUEST_FLOOR`].
    pub c_floor_missing: Option<String>,
}

/// Runs the bench in the guest and sends the report to the host (guest side).
pub fn in_guest(config: &GuestBench) -> Result<()> {
    let workdir = Workdir::new(Some(Path::new("/tmp/work")))?;
    let options = bench::Options {
        trials: config.trials,
        long: None,
        c_floor: match &config.c_floor_missing {
            Some(why) => CFloor::Missing(format!("not built on the host: {why}")),
            None => CFloor::Binary(PathBuf::from(GUEST_FLOOR)),
        },
    };
    let report = bench::run(
        workdir.path(),
        Place::here("guest"),
        &options,
        &mut |stage| println!("{PREFIX}{stage}"),
    )?;
    let mut line = serde_json::to_vec(&report)?;
    line.push(b'\n');
    guest::send(&line)
}

/// Boots `spec` with the bench as its job and returns the guest's report, named after `spec`
/// (host side). `scratch` holds the initramfs and the guest's ttyS1.
pub fn measure(
    spec: &Spec,
    options: &bench::Options,
    scratch: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let cached = kernel::ensure(spec).with_context(|| format!("fetching {spec}"))?;
    let config = Config {
        scenarios: Vec::new(),
        trials: None,
        default_trials: options.trials,
        seed: 0,
        filesystem: None,
        bench: Some(GuestBench {
            trials: options.trials,
            c_floor_missing: match &options.c_floor {
                CFloor::Binary(_) => None,
                CFloor::Missing(why) => Some(why.clone()),
            },
        }),
    };
    let shared = scratch.join("bench.initramfs");
    initramfs::build(&config, &shared).context("building the initramfs")?;
    let initrd = match &options.c_floor {
        CFloor::Binary(binary) => {
            let initrd = scratch.join("bench-floor.initramfs");
            initramfs::with_files(
                &shared,
                &[(PathBuf::from(GUEST_FLOOR), binary.clone())],
                &initrd,
            )
            .context("adding the C floor to the initramfs")?;
            initrd
        }
        CFloor::Missing(_) => shared,
    };
    let image = cached.image();
    let accel = qemu::accel(&image, &initrd, scratch);
    let boot = Boot {
        kernel: &image,
        initrd: &initrd,
        accel,
        params: format!(
            "clobber.virt={} clobber.machine={}",
            accel.virtualization(),
            environment::this_machine_id()
        ),
        ttys1: scratch.join("bench.ttyS1"),
        disk: None,
    };
    progress(&format!("booting {spec} under {}", accel.virtualization()));
    let mut failure = None;
    let finished = qemu::run(
        &boot,
        SILENCE,
        |line| {
            if let Some(stage) = line.split_once(PREFIX).map(|(_, stage)| stage.trim()) {
                progress(&format!("{spec}: {stage}"));
            }
            if let Some(guest::Event::Error(message)) = guest::parse(line) {
                failure = Some(message);
            }
        },
        interrupt::requested,
    )?;
    if interrupt::requested() {
        return Err(Interrupted.into());
    }
    if let Some(message) = failure {
        bail!("the bench in {spec} failed: {message}");
    }
    if !finished.succeeded() {
        bail!(
            "{spec} did not finish the bench ({:?}); last console lines:\n{}",
            finished.end,
            finished.console.join("\n")
        );
    }
    let sent = std::fs::read(&boot.ttys1).context("reading the guest's ttyS1")?;
    let mut report: Report = sent
        .split(|b| *b == b'\n')
        .find_map(|line| serde_json::from_slice(line).ok())
        .with_context(|| format!("{spec} sent no bench report"))?;
    report.place.name = spec.to_string();
    Ok(report)
}
