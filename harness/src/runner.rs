//! Trials: for each one, a fresh copy of the old version in the work dir, ready victims, the
//! update, and observation until every victim's outcome is known (it died, or made enough progress
//! after the update to tell what it sees, or stopped progressing). Never a fixed sleep.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clobber_victims::mmap_reader::data_file;
use nix::poll::{PollFd, PollFlags};

use crate::detect;
use crate::elf;
use crate::embedded;
use crate::error::Interrupted;
use crate::filesystem::Overlay;
use crate::interrupt;
use crate::method;
use crate::outcome::Outcome;
use crate::scenario::{Binding, Layer, Scenario, Target, Update};
use crate::tool;
use crate::victim::{wait_fds, Program, Readiness, Victim};

/// Iterations a surviving victim must complete after the update before its view is read.
const SETTLE_ITERATIONS: u64 = 3;
/// A victim without a new iteration for this long is `hung` if it is stopped or sleeping, or if
/// it burnt [`HUNG_CPU_TICKS`] of CPU time meanwhile (spinning without progress).
const HUNG_AFTER: Duration = Duration::from_secs(2);
/// CPU time (clock ticks, 1/100 s) a victim may use without completing an iteration.
const HUNG_CPU_TICKS: u64 = 100;
/// A runnable victim that got no CPU (a starved machine) is `hung` only after this long.
const STARVED_LIMIT: Duration = Duration::from_secs(60);
/// How long a victim may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound of the random delay between readiness and the update.
const MAX_JITTER_MICROS: u64 = 500;
/// How long one look at the victims waits for a death before checking their progress.
const POLL_INTERVAL: Duration = Duration::from_micros(100);
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

/// What happened to one victim in one trial.
#[derive(Clone, Debug)]
pub struct VictimRecord {
    /// How it ended.
    pub outcome: Outcome,
    /// Microseconds from the start of the update to its death, if it died.
    pub death_us: Option<u64>,
    /// For survivors of an update that went through: whether a restart checker can see that it
    /// runs something the path no longer holds.
    pub restart_visible: Option<bool>,
}

/// One trial's measurements.
#[derive(Clone, Debug)]
pub struct Trial {
    /// One record per victim (one, or many for blast-radius scenarios).
    pub victims: Vec<VictimRecord>,
    /// Microseconds the update took.
    pub update_us: u64,
    /// For scenarios with `new_process`, when the old victim survived: what a new process got,
    /// and whether the old one still ran the old version afterwards.
    pub new_process: Option<(NewProcess, bool)>,
    /// Last stderr lines of dying victims, or the first of a refused command.
    pub messages: Vec<String>,
}

/// The files of one scenario's target, both versions, and what the victims need beside it.
struct Materials {
    file_name: &'static str,
    old: Vec<u8>,
    new: Vec<u8>,
    mode: u32,
    /// (file name, bytes) installed once per scenario next to the target, mode 0755.
    support: Vec<(&'static str, Vec<u8>)>,
    /// Interp targets: the build-id (hex) of the new loader version.
    new_build_id: String,
}

/// The system's dynamic loader, as named by the harness's own PT_INTERP.
fn system_loader() -> Result<(PathBuf, Vec<u8>)> {
    let mut head = Vec::new();
    File::open("/proc/self/exe")
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .context("reading /proc/self/exe")?;
    let path = elf::interpreter(&head).context("finding the dynamic loader")?;
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok((path, bytes))
}

/// The file name and bytes of the linked-lib victim executable with `binding`.
fn linked_victim(binding: Binding) -> (&'static str, &'static [u8]) {
    match binding {
        Binding::Now => ("victim-linked", embedded::LINKED),
        Binding::Lazy => ("victim-linked-lazy", embedded::LINKED_LAZY),
    }
}

impl Materials {
    fn for_target(target: Target, binding: Binding) -> Result<Materials> {
        let plain = |file_name, old: &[u8], new: &[u8], mode| Materials {
            file_name,
            old: old.to_vec(),
            new: new.to_vec(),
            mode,
            support: Vec::new(),
            new_build_id: String::new(),
        };
        Ok(match target {
            Target::Lib => plain("libvictim.so", embedded::LIB_V1, embedded::LIB_V2, 0o755),
            Target::Exe => plain("victim", embedded::EXE_V1, embedded::EXE_V2, 0o755),
            Target::Data => Materials {
                old: data_file(1, DATA_PAGES),
                new: data_file(2, DATA_PAGES),
                ..plain("data.bin", &[], &[], 0o644)
            },
            Target::LinkedLib => {
                let (name, exe) = linked_victim(binding);
                Materials {
                    support: vec![(name, exe.to_vec())],
                    ..plain("libvictim.so", embedded::LIB_V1, embedded::LIB_V2, 0o755)
                }
            }
            Target::Interp => {
                // Version 2 of the loader is version 1 with its build-id inverted: the same code,
                // so any crash comes from the update itself, and a process can tell which it runs.
                let (_, old) = system_loader()?;
                let range = elf::build_id(&old).context("the system's dynamic loader")?;
                let mut new = old.clone();
                new[range.clone()].iter_mut().for_each(|b| *b = !*b);
                let new_build_id = new[range].iter().map(|b| format!("{b:02x}")).collect();
                Materials {
                    file_name: "ld.so",
                    old,
                    new,
                    mode: 0o755,
                    support: vec![
                        ("victim-interp", embedded::INTERP.to_vec()),
                        ("libvictim.so", embedded::LIB_V1.to_vec()),
                    ],
                    new_build_id,
                }
            }
        })
    }
}

/// Runs scenarios' trials inside one work directory.
pub struct Runner {
    workdir: PathBuf,
    rng: fastrand::Rng,
    overlay: Option<Overlay>,
}

/// One scenario being run: its directory, files and victim program.
struct Setup {
    /// Where victims run and their status files live.
    dir: PathBuf,
    /// Where the scenario's files are put: `dir`, or the overlay's lower layer.
    base: PathBuf,
    /// The file the victims use.
    target: PathBuf,
    /// The file the update writes: `target`, or its lower-layer file.
    update_target: PathBuf,
    new_path: PathBuf,
    materials: Materials,
    program: Program,
    update: Update,
    victims: u32,
    new_process: bool,
}

impl Runner {
    /// A runner writing only inside `workdir`, randomising update timing from `seed`.
    pub fn new(workdir: &Path, seed: u64) -> Runner {
        Runner {
            workdir: workdir.to_path_buf(),
            rng: fastrand::Rng::with_seed(seed),
            overlay: None,
        }
    }

    /// Runs from an overlay's merged directory (`workdir` must be it): files are put into the
    /// lower layer and the overlay is mounted afresh before each trial.
    pub fn with_overlay(mut self, overlay: Option<Overlay>) -> Runner {
        self.overlay = overlay;
        self
    }

    /// Runs `trials` trials of `scenario`, calling `on_trial` after each.
    pub fn run(
        &mut self,
        scenario: &Scenario,
        trials: u32,
        on_trial: &mut dyn FnMut(&Trial),
    ) -> Result<Vec<Trial>> {
        let setup = self
            .setup(scenario)
            .with_context(|| format!("preparing scenario {}", scenario.name))?;
        let mut records = Vec::with_capacity(trials as usize);
        for _ in 0..trials {
            if interrupt::requested() {
                return Err(Interrupted.into());
            }
            let trial = self
                .trial(&setup)
                .with_context(|| format!("scenario {}", scenario.name))?;
            on_trial(&trial);
            records.push(trial);
        }
        Ok(records)
    }

    fn setup(&self, scenario: &Scenario) -> Result<Setup> {
        let dir = self.workdir.join(&scenario.name);
        let base = match &self.overlay {
            Some(overlay) => overlay.lower.join(&scenario.name),
            None => dir.clone(),
        };
        fs::create_dir_all(base.join("new"))
            .with_context(|| format!("creating {}", base.display()))?;
        let materials = Materials::for_target(scenario.file.target, scenario.binding())?;
        for (name, bytes) in &materials.support {
            write_file(&base.join(name), bytes, 0o755)?;
        }
        if let Some(overlay) = &self.overlay {
            overlay.remount()?;
        }
        let target = dir.join(materials.file_name);
        let update_target = match scenario.layer() {
            Layer::Lower => base.join(materials.file_name),
            Layer::Merged => target.clone(),
        };
        let new_path = base.join("new").join(materials.file_name);
        let program = match scenario.file.target {
            Target::Lib => Program::Dlopen,
            Target::Exe => Program::Exe,
            Target::Data => Program::Mmap(scenario.mapping()),
            Target::LinkedLib => Program::Linked(dir.join(linked_victim(scenario.binding()).0)),
            Target::Interp => Program::Interp {
                exe: dir.join("victim-interp"),
                lib: dir.join("libvictim.so"),
                new_build_id: materials.new_build_id.clone(),
            },
        };
        Ok(Setup {
            update: scenario.update(),
            victims: scenario.victims(),
            new_process: scenario.file.new_process,
            dir,
            base,
            target,
            update_target,
            new_path,
            materials,
            program,
        })
    }

    fn trial(&mut self, setup: &Setup) -> Result<Trial> {
        let target = &setup.target;
        match &self.overlay {
            Some(overlay) => {
                let lower = setup.base.join(setup.materials.file_name);
                write_file(&lower, &setup.materials.old, setup.materials.mode)?;
                overlay.remount()?;
            }
            None => write_file(target, &setup.materials.old, setup.materials.mode)?,
        }
        if matches!(setup.update, Update::Command(_)) {
            // A command may move or consume the new version (mv): give each trial a fresh one.
            write_file(&setup.new_path, &setup.materials.new, setup.materials.mode)?;
        }
        let old_inode = fs::metadata(target)?.ino();
        let mut victims = Vec::with_capacity(setup.victims as usize);
        let mut firsts = Vec::with_capacity(setup.victims as usize);
        for index in 0..setup.victims {
            let mut victim = Victim::spawn(
                &setup.program,
                target,
                &setup.dir.join(format!("status-{index}")),
                &setup.dir.join(format!("stderr-{index}")),
            )?;
            firsts.push(ready(&mut victim)?);
            victims.push(victim);
        }
        let jitter = self.rng.u64(0..=MAX_JITTER_MICROS);
        std::thread::sleep(Duration::from_micros(jitter));

        let start = Instant::now();
        let applied = match &setup.update {
            Update::Syscalls(method) => method::apply(
                *method,
                &setup.update_target,
                &setup.materials.new,
                setup.materials.mode,
            )
            .map_err(|errno| (format!("{errno:?}"), String::new())),
            Update::Command(argv) => {
                let argv = tool::substitute(argv, &setup.new_path, &setup.update_target);
                tool::run(&argv, &setup.dir)?
            }
        };
        let update_us = start.elapsed().as_micros() as u64;
        for victim in &victims {
            victim.mark_updated();
        }

        let mut messages = Vec::new();
        let mut records = match applied {
            Err((why, message)) => {
                if !message.is_empty() {
                    messages.push(message);
                }
                let outcome = Outcome::Writer(why);
                victims
                    .iter()
                    .map(|_| VictimRecord {
                        outcome: outcome.clone(),
                        death_us: None,
                        restart_visible: None,
                    })
                    .collect()
            }
            Ok(()) => observe(&mut victims, &firsts, start)?,
        };
        for (victim, record) in victims.iter().zip(records.iter_mut()) {
            if record.outcome.is_death() {
                messages.extend(victim.last_stderr_line());
            } else if !matches!(record.outcome, Outcome::Writer(_)) {
                record.restart_visible =
                    Some(detect::restart_visible(victim.pid(), target, old_inode)?);
            }
        }
        let new_process = match (setup.new_process, victims.first_mut(), records.first()) {
            (true, Some(old), Some(record)) if !record.outcome.is_death() => {
                Some(start_new_process(old, firsts[0], setup)?)
            }
            _ => None,
        };
        Ok(Trial {
            victims: records,
            update_us,
            new_process,
            messages,
        })
    }
}

/// Puts `bytes` at `path` on a new inode with `mode`, closed before anything executes it.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("removing {}", path.display())),
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Waits for a victim to be ready; a victim that dies first is a harness error.
fn ready(victim: &mut Victim) -> Result<u64> {
    match victim.wait_ready(READY_TIMEOUT)? {
        Readiness::Ready(version) => Ok(version),
        Readiness::Died(exit) => bail!(
            "the victim ended ({}) before it was ready{}",
            Outcome::from_exit(exit),
            victim
                .stderr_line()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        ),
    }
}

/// Waits up to [`POLL_INTERVAL`] for any victim still undecided to die.
fn wait_any(victims: &[Victim], undecided: &[bool]) -> Result<()> {
    let mut fds: Vec<PollFd> = victims
        .iter()
        .zip(undecided)
        .filter(|(_, open)| **open)
        .map(|(victim, _)| PollFd::new(victim.pidfd(), PollFlags::POLLIN))
        .collect();
    match wait_fds(&mut fds, POLL_INTERVAL) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(err) => Err(err).context("polling victims"),
    }
}

/// Watches victims after an update that went through, until each one's outcome is known.
fn observe(victims: &mut [Victim], firsts: &[u64], start: Instant) -> Result<Vec<VictimRecord>> {
    let mut done: Vec<Option<VictimRecord>> = vec![None; victims.len()];
    let base: Vec<u64> = victims.iter().map(Victim::iterations).collect();
    let mut last = base.clone();
    let mut last_progress = vec![Instant::now(); victims.len()];
    let mut cpu_at_progress: Vec<u64> = victims
        .iter()
        .map(|v| v.sched().map_or(0, |(_, cpu)| cpu))
        .collect();
    loop {
        if interrupt::requested() {
            return Err(Interrupted.into());
        }
        let undecided: Vec<bool> = done.iter().map(Option::is_none).collect();
        if !undecided.contains(&true) {
            return Ok(done.into_iter().flatten().collect());
        }
        wait_any(victims, &undecided)?;
        for (index, victim) in victims.iter_mut().enumerate() {
            if done[index].is_some() {
                continue;
            }
            let record = |outcome, death_us| VictimRecord {
                outcome,
                death_us,
                restart_visible: None,
            };
            if let Some(exit) = victim.wait_death(Duration::ZERO)? {
                let death_us = start.elapsed().as_micros() as u64;
                done[index] = Some(record(Outcome::from_exit(exit), Some(death_us)));
                continue;
            }
            let now = victim.iterations();
            if now >= base[index] + SETTLE_ITERATIONS {
                let outcome = if victim.seen() == firsts[index] {
                    Outcome::Unchanged
                } else {
                    Outcome::SawNew
                };
                done[index] = Some(record(outcome, None));
            } else if now != last[index] {
                last[index] = now;
                last_progress[index] = Instant::now();
                cpu_at_progress[index] = victim.sched().map_or(0, |(_, cpu)| cpu);
            } else if last_progress[index].elapsed() >= HUNG_AFTER {
                let stuck = match victim.sched() {
                    Some(('R', cpu)) => cpu >= cpu_at_progress[index] + HUNG_CPU_TICKS,
                    Some(_) => true,
                    None => false,
                };
                if stuck || last_progress[index].elapsed() >= STARVED_LIMIT {
                    done[index] = Some(record(Outcome::Hung, None));
                }
            }
        }
    }
}

/// Starts a second victim on the updated path and records the version it gets, then checks that
/// the old victim still runs the old version.
fn start_new_process(old: &mut Victim, first: u64, setup: &Setup) -> Result<(NewProcess, bool)> {
    let mut new = Victim::spawn(
        &setup.program,
        &setup.target,
        &setup.dir.join("status-new"),
        &setup.dir.join("stderr-new"),
    )?;
    let got = match new.wait_ready(READY_TIMEOUT)? {
        Readiness::Ready(version) => NewProcess::Saw(version),
        Readiness::Died(exit) => NewProcess::Died(Outcome::from_exit(exit)),
    };
    drop(new);
    let after = observe(std::slice::from_mut(old), &[first], Instant::now())?;
    Ok((got, after[0].outcome == Outcome::Unchanged))
}
