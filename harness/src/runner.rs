//! Trials: for each one, a fresh copy of the old version in the work dir, a ready victim, the
//! update, and observation until the outcome is known (the victim died, or made enough progress
//! after the update to tell what it sees, or stopped progressing). Never a fixed sleep.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clobber_victims::mmap_reader::data_file;

use crate::embedded;
use crate::error::Interrupted;
use crate::interrupt;
use crate::method;
use crate::outcome::Outcome;
use crate::scenario::{Scenario, Target};
use crate::victim::{Program, Readiness, Victim};

/// Iterations a surviving victim must complete after the update before its view is read.
const SETTLE_ITERATIONS: u64 = 3;
/// A victim alive but without a new iteration for this long is `hung`.
const HUNG_AFTER: Duration = Duration::from_secs(2);
/// How long a victim may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound of the random delay between readiness and the update.
const MAX_JITTER_MICROS: u64 = 500;
/// Pages in the data file of data targets (256 KiB).
const DATA_PAGES: usize = 64;

/// What a process started after the update got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewProcess {
    /// It became ready and saw this version.
    Saw(u64),
    /// It died before it was ready, with this outcome.
    Died(Outcome),
}

/// One trial's measurements.
#[derive(Clone, Debug)]
pub struct Trial {
    /// How it ended.
    pub outcome: Outcome,
    /// Microseconds from the start of the update to the victim's death, if it died.
    pub death_us: Option<u64>,
    /// Microseconds the update took.
    pub update_us: u64,
    /// For scenarios with `new_process`, when the old victim survived: what a new process got,
    /// and whether the old one still ran the old version afterwards.
    pub new_process: Option<(NewProcess, bool)>,
    /// The first line the victim wrote to stderr, when it died.
    pub message: Option<String>,
}

/// The files of one scenario's target, both versions.
struct Materials {
    file_name: &'static str,
    old: Vec<u8>,
    new: Vec<u8>,
    mode: u32,
}

impl Materials {
    fn for_target(target: Target) -> Materials {
        match target {
            Target::Lib => Materials {
                file_name: "libvictim.so",
                old: embedded::LIB_V1.to_vec(),
                new: embedded::LIB_V2.to_vec(),
                mode: 0o755,
            },
            Target::Exe => Materials {
                file_name: "victim",
                old: embedded::EXE_V1.to_vec(),
                new: embedded::EXE_V2.to_vec(),
                mode: 0o755,
            },
            Target::Data => Materials {
                file_name: "data.bin",
                old: data_file(1, DATA_PAGES),
                new: data_file(2, DATA_PAGES),
                mode: 0o644,
            },
        }
    }
}

/// Runs scenarios' trials inside one work directory.
pub struct Runner {
    workdir: PathBuf,
    rng: fastrand::Rng,
}

impl Runner {
    /// A runner writing only inside `workdir`, randomising update timing from `seed`.
    pub fn new(workdir: &Path, seed: u64) -> Runner {
        Runner {
            workdir: workdir.to_path_buf(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Runs `trials` trials of `scenario`, calling `on_trial` after each.
    pub fn run(
        &mut self,
        scenario: &Scenario,
        trials: u32,
        on_trial: &mut dyn FnMut(&Trial),
    ) -> Result<Vec<Trial>> {
        let dir = self.workdir.join(&scenario.name);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let materials = Materials::for_target(scenario.file.target);
        let mut records = Vec::with_capacity(trials as usize);
        for _ in 0..trials {
            if interrupt::requested() {
                return Err(Interrupted.into());
            }
            let trial = self
                .trial(scenario, &dir, &materials)
                .with_context(|| format!("scenario {}", scenario.name))?;
            on_trial(&trial);
            records.push(trial);
        }
        Ok(records)
    }

    fn program(scenario: &Scenario) -> Program {
        match scenario.file.target {
            Target::Lib => Program::Dlopen(scenario.binding()),
            Target::Exe => Program::Exe,
            Target::Data => Program::Mmap(scenario.mapping()),
        }
    }

    fn trial(&mut self, scenario: &Scenario, dir: &Path, materials: &Materials) -> Result<Trial> {
        let target = dir.join(materials.file_name);
        install_old(&target, materials)?;
        let program = Self::program(scenario);
        let mut victim = Victim::spawn(program, &target, &dir.join("status"), &dir.join("stderr"))?;
        let first = match victim.wait_ready(READY_TIMEOUT)? {
            Readiness::Ready(version) => version,
            Readiness::Died(exit) => bail!(
                "the victim ended ({}) before it was ready{}",
                Outcome::from_exit(exit),
                victim
                    .stderr_line()
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default()
            ),
        };
        let jitter = self.rng.u64(0..=MAX_JITTER_MICROS);
        std::thread::sleep(Duration::from_micros(jitter));

        let start = Instant::now();
        let applied = method::apply(
            scenario.file.method,
            &target,
            &materials.new,
            materials.mode,
        );
        let update_us = start.elapsed().as_micros() as u64;

        let (outcome, death_us) = match applied {
            Err(errno) => (Outcome::Writer(errno), None),
            Ok(()) => observe(&mut victim, first, start)?,
        };
        let message = if outcome.is_death() {
            victim.stderr_line()
        } else {
            None
        };
        let new_process = if scenario.file.new_process && !outcome.is_death() {
            Some(start_new_process(
                &mut victim,
                first,
                program,
                &target,
                dir,
            )?)
        } else {
            None
        };
        Ok(Trial {
            outcome,
            death_us,
            update_us,
            new_process,
            message,
        })
    }
}

/// Puts a fresh copy of the old version at `target`, on a new inode.
fn install_old(target: &Path, materials: &Materials) -> Result<()> {
    match fs::remove_file(target) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("removing {}", target.display())),
    }
    fs::write(target, &materials.old).with_context(|| format!("writing {}", target.display()))?;
    fs::set_permissions(target, fs::Permissions::from_mode(materials.mode))
        .with_context(|| format!("chmod {}", target.display()))
}

/// Watches a victim after an update that went through, until its outcome is known.
fn observe(victim: &mut Victim, first: u64, start: Instant) -> Result<(Outcome, Option<u64>)> {
    let base = victim.iterations();
    let mut last = base;
    let mut last_progress = Instant::now();
    loop {
        if interrupt::requested() {
            return Err(Interrupted.into());
        }
        if let Some(exit) = victim.wait_death(Duration::from_millis(1))? {
            let death_us = start.elapsed().as_micros() as u64;
            return Ok((Outcome::from_exit(exit), Some(death_us)));
        }
        let now = victim.iterations();
        if now >= base + SETTLE_ITERATIONS {
            let outcome = if victim.seen() == first {
                Outcome::Unchanged
            } else {
                Outcome::SawNew
            };
            return Ok((outcome, None));
        }
        if now != last {
            last = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= HUNG_AFTER {
            return Ok((Outcome::Hung, None));
        }
    }
}

/// Starts a second victim on the updated path and records the version it gets, then checks that
/// the old victim still runs the old version.
fn start_new_process(
    old: &mut Victim,
    first: u64,
    program: Program,
    target: &Path,
    dir: &Path,
) -> Result<(NewProcess, bool)> {
    let mut new = Victim::spawn(
        program,
        target,
        &dir.join("status-new"),
        &dir.join("stderr-new"),
    )?;
    let got = match new.wait_ready(READY_TIMEOUT)? {
        Readiness::Ready(version) => NewProcess::Saw(version),
        Readiness::Died(exit) => NewProcess::Died(Outcome::from_exit(exit)),
    };
    drop(new);
    let (after, _) = observe(old, first, Instant::now())?;
    Ok((got, after == Outcome::Unchanged))
}
