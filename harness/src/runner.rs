//! Trials: for each one, a fresh copy of the old version in the work dir, ready victims, the
//! update, and observation until every victim's outcome is known (it died, or made enough progress
//! after the update to tell what it sees, or stopped progressing). Never a fixed sleep. Victims
//! are observed whatever became of the update, and every death gets its evidence.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::poll::{PollFd, PollFlags};

use crate::data::data_file;
use crate::detect;
use crate::elf;
use crate::embedded;
use crate::error::Interrupted;
use crate::evidence::{self, KernelLog};
use crate::filesystem::Overlay;
use crate::interrupt;
use crate::method;
use crate::outcome::Outcome;
use crate::package::{self, Packages, Payload};
use crate::release::{self, Library};
use crate::scenario::{Binding, Layer, Scenario, Target, Update, VictimKind};
use crate::tool;
use crate::trial::{Death, NewProcess, Trial, UpdateResult, VictimRecord};
use crate::victim::{wait_fds, Program, Readiness, Victim};
use crate::workfile::write as write_file;

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
/// How long sleepers sleep in a scenario's first trial. Later trials sleep
/// [`SLEEP_OVER_EXPOSURE`] times the longest a sleeper had to stay asleep so far (from its start
/// to the end of the update), at least [`MIN_SLEEP`]; a trial whose sleeper woke before the update
/// was over (a slow or loaded machine) is run again with twice the sleep, up to [`MAX_SLEEP`],
/// and no later trial sleeps less than that.
const FIRST_SLEEP: Duration = Duration::from_secs(1);
const MIN_SLEEP: Duration = Duration::from_millis(100);
const SLEEP_OVER_EXPOSURE: u32 = 2;
const MAX_SLEEP: Duration = Duration::from_secs(64);
/// CPU time (clock ticks, 1/100 s) a sleeper may use after its sleep ended without exiting: a
/// `sleep` that woke exits within microseconds of CPU; one that burns this much runs code that is
/// not its own (the rewritten C library) and is `hung`.
const SLEEPER_SPIN_TICKS: u64 = 10;
/// Upper bound of the random delay between readiness and the update.
const MAX_JITTER_MICROS: u64 = 500;
/// How long one wait for the victims lasts at most: they wake the harness when they die or make
/// progress, so this only paces the checks for hung victims.
const LOOK_INTERVAL: Duration = Duration::from_millis(1);
/// The version a victim reports for the old and the new file.
const OLD_VERSION: u64 = 1;
const NEW_VERSION: u64 = 2;
/// Pages in the data file of data targets (256 KiB).
const DATA_PAGES: usize = 64;

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
    /// Release targets: the release's other files (the C library's loader), (name, old, new),
    /// written afresh beside the target before each trial.
    companions: Vec<(&'static str, Vec<u8>, Vec<u8>)>,
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

/// The file name and bytes of the victim program of a real library's release.
fn release_victim(library: Library) -> (&'static str, &'static [u8]) {
    match library {
        Library::Libc => ("victim-libc", embedded::LIBC_VICTIM),
        Library::Zlib => ("victim-zlib", embedded::ZLIB_VICTIM),
        Library::Sqlite => ("victim-sqlite", embedded::SQLITE_VICTIM),
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
            companions: Vec::new(),
        };
        Ok(match target {
            Target::Lib => Materials {
                support: vec![("victim-dlopen", embedded::DLOPEN.to_vec())],
                ..plain("libvictim.so", embedded::LIB_V1, embedded::LIB_V2, 0o755)
            },
            Target::Exe => plain("victim", embedded::EXE_V1, embedded::EXE_V2, 0o755),
            Target::Data => Materials {
                old: data_file(1, DATA_PAGES),
                new: data_file(2, DATA_PAGES),
                support: vec![("victim-mmap", embedded::MMAP.to_vec())],
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
                    companions: Vec::new(),
                }
            }
            Target::Libc => Materials::of_release(Library::Libc)?,
            Target::Zlib => Materials::of_release(Library::Zlib)?,
            Target::Sqlite => Materials::of_release(Library::Sqlite)?,
            Target::PythonLib => Materials {
                support: vec![(package::PYTHON_VICTIM, package::python_victim())],
                ..plain("libvictim.so", embedded::LIB_V1, embedded::LIB_V2, 0o755)
            },
            Target::NodeAddon => Materials {
                support: vec![(package::NODE_VICTIM, package::node_victim())],
                ..plain("victim.node", embedded::ADDON_V1, embedded::ADDON_V2, 0o755)
            },
        })
    }
    /// The files of a real library's releases, from the cache.
    fn of_release(library: Library) -> Result<Materials> {
        let pair = release::cached(library).with_context(|| {
            format!(
                "the releases of {} are not in the cache (clobber lib fetch {library})",
                library.package()
            )
        })?;
        let (name, others) = library.files().split_first().expect("a release has files");
        let (old, new) = pair.bytes(name)?;
        let companions = others
            .iter()
            .map(|n| pair.bytes(n).map(|(old, new)| (*n, old, new)))
            .collect::<Result<_>>()?;
        let (victim, bytes) = release_victim(library);
        let mut support = vec![(victim, bytes.to_vec())];
        if let Some(runtime) = library.runs_on() {
            // The newer C library the victims run on, never updated.
            let pair = release::cached(runtime).with_context(|| {
                format!("the releases of {} are not in the cache", runtime.package())
            })?;
            for file in runtime.files() {
                support.push((file, pair.bytes(file)?.1));
            }
        }
        Ok(Materials {
            file_name: name,
            old,
            new,
            mode: 0o755,
            support,
            new_build_id: String::new(),
            companions,
        })
    }
}

/// Runs scenarios' trials inside one work directory.
pub struct Runner {
    workdir: PathBuf,
    rng: fastrand::Rng,
    overlay: Option<Overlay>,
    /// The kernel's log, where this user may read it, or why not.
    kernel_log: Result<KernelLog, String>,
    /// Where update commands may write (Landlock), or None to run them unconfined.
    confine: Option<PathBuf>,
    /// What the victims of the latest scenario on a real library reported for its releases.
    reported: Option<Reported>,
    /// How long sleepers sleep, and what that is made from.
    sleep: Sleep,
}

/// How long sleepers sleep in the next trial of a scenario (see [`FIRST_SLEEP`]).
#[derive(Clone, Copy, Debug)]
struct Sleep {
    /// The longest a sleeper had to stay asleep in this scenario so far.
    longest_exposure: Option<Duration>,
    /// The least sleep: twice one that proved too short.
    floor: Duration,
}

impl Sleep {
    fn new() -> Sleep {
        Sleep {
            longest_exposure: None,
            floor: MIN_SLEEP,
        }
    }

    /// The sleep of the next trial.
    fn next(&self) -> Duration {
        match self.longest_exposure {
            None => FIRST_SLEEP.max(self.floor),
            Some(exposure) => (exposure * SLEEP_OVER_EXPOSURE).max(self.floor),
        }
        .min(MAX_SLEEP)
    }

    /// A sleeper was started `started` and the update ended at `updated`.
    fn exposed(&mut self, started: Instant, updated: Instant) {
        let exposure = updated.saturating_duration_since(started);
        self.longest_exposure = Some(self.longest_exposure.map_or(exposure, |l| l.max(exposure)));
    }

    /// A sleeper that slept `slept` woke before the update was over: whether a longer sleep is
    /// still allowed (then the next is at least twice as long).
    fn too_short(&mut self, slept: Duration) -> bool {
        self.floor = self.floor.max(slept * 2);
        slept < MAX_SLEEP
    }
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
    /// The victims' programs, in the order they start.
    programs: Vec<Program>,
    /// The program of a process started after the update.
    new_program: Program,
    /// The versions its victims report for the old and the new file.
    versions: (u64, u64),
    update: Update,
    /// Release targets: the update replaces the companions (the loader) first.
    with_loader: bool,
    /// Package scenarios: the packages of both versions and the private root they go into.
    packages: Option<Packages>,
    new_process: bool,
}

/// A sleeper woke before the update was over: its trial measured nothing about a sleeping
/// program, and is run again with a longer sleep.
#[derive(Debug, thiserror::Error)]
#[error("sleeper {pid} was to sleep {sleep:?} and woke before the update was over")]
struct WokeEarly {
    pid: u32,
    sleep: Duration,
}

/// What the victims of a real library reported for its old and new release, measured once per
/// scenario: the first line each wrote (e.g. `glibc 2.36`).
#[derive(Clone, Debug)]
pub struct Reported {
    /// For the old release.
    pub old: String,
    /// For the new release.
    pub new: String,
}

/// The program of a victim of `kind` for `scenario`, whose files are in `dir`.
fn program_for(scenario: &Scenario, dir: &Path, kind: VictimKind) -> Result<Program> {
    let target = scenario.file.target;
    Ok(match target {
        Target::Lib => Program::Dlopen(dir.join("victim-dlopen")),
        Target::Exe => Program::Exe,
        Target::Data => Program::Mmap {
            exe: dir.join("victim-mmap"),
            mapping: scenario.mapping(),
        },
        Target::LinkedLib => Program::Linked(dir.join(linked_victim(scenario.binding()).0)),
        Target::Interp => Program::Interp {
            exe: dir.join("victim-interp"),
            lib: dir.join("libvictim.so"),
            new_build_id: String::new(),
        },
        Target::Zlib => Program::Linked(dir.join(release_victim(Library::Zlib).0)),
        Target::PythonLib => Program::Script {
            interpreter: package::root(dir).join("bin/python"),
            args: vec![
                "-I".into(),
                "-B".into(),
                dir.join(package::PYTHON_VICTIM).into(),
            ],
        },
        Target::NodeAddon => Program::Script {
            interpreter: tool::find("node").context("node not found on PATH")?,
            args: vec![
                dir.join(package::NODE_VICTIM).into(),
                package::node_package(dir).into(),
            ],
        },
        // On trixie's C library, run by its loader (see [`Library::runs_on`]).
        Target::Sqlite => Program::UnderLoader {
            loader: dir.join(release::LOADER),
            kind: VictimKind::Clobber,
            sleep: FIRST_SLEEP,
            exe: dir.join(release_victim(Library::Sqlite).0),
        },
        Target::Libc => {
            let real =
                |name: &str| tool::find(name).with_context(|| format!("{name} not found on PATH"));
            Program::UnderLoader {
                loader: dir.join(release::LOADER),
                kind,
                sleep: FIRST_SLEEP,
                exe: match kind {
                    VictimKind::Clobber => dir.join(release_victim(Library::Libc).0),
                    VictimKind::Shell => real("dash")?,
                    VictimKind::Sleeper => real("sleep")?,
                    VictimKind::Reader => real("cat")?,
                },
            }
        }
    })
}

/// A victim being watched after the update, until its outcome is known.
struct Watch {
    /// Which program it is.
    kind: VictimKind,
    /// What it counts as if it lives on, for real programs (see [`Runner::trial`]).
    survivor: Outcome,
    /// The version it saw when it became ready.
    first: u64,
    /// Its mappings when it became ready, to locate a fault in a file.
    maps: Vec<evidence::Mapping>,
    /// Iterations when the watch began.
    base: u64,
    /// Iterations at the latest sign of progress.
    last: u64,
    /// When it last made progress.
    last_progress: Instant,
    /// Its CPU time (clock ticks) at the latest progress.
    cpu_at_progress: u64,
    /// A sleeper's sleep, and when it ends at the earliest (its readiness plus the sleep).
    sleep: Option<(Duration, Instant)>,
    /// How it ended, once known: the outcome, and its wait status if it died.
    done: Option<(Outcome, Option<(u64, ExitStatus)>)>,
}

impl Watch {
    /// Watches a victim that has just become ready; a sleeper sleeps `sleep`.
    fn new(kind: VictimKind, sleep: Duration, first: u64, maps: Vec<evidence::Mapping>) -> Watch {
        let sleeper = kind == VictimKind::Sleeper;
        Watch {
            sleep: sleeper.then(|| (sleep, Instant::now() + sleep)),
            kind,
            survivor: Outcome::Unchanged,
            first,
            maps,
            base: 0,
            last: 0,
            last_progress: Instant::now(),
            cpu_at_progress: 0,
            done: None,
        }
    }

    /// Starts counting the victim's progress from now, after the update, and asks it to announce
    /// its next iterations.
    fn begin(&mut self, victim: &mut Victim, survivor: &Outcome) -> Result<()> {
        if let Some((sleep, _)) = self
            .sleep
            .filter(|(sleep, _)| victim.started() + *sleep <= Instant::now())
        {
            return Err(WokeEarly {
                pid: victim.pid(),
                sleep,
            }
            .into());
        }
        self.survivor = survivor.clone();
        victim.expect_progress();
        victim.poke();
        let now = victim.progress();
        self.base = now;
        self.last = now;
        self.last_progress = Instant::now();
        self.cpu_at_progress = victim.sched().map_or(0, |(_, cpu)| cpu);
        self.done = None;
        Ok(())
    }

    /// Looks at the victim once: its death, its progress, or a hang.
    fn look(&mut self, victim: &mut Victim, start: Instant) -> Result<()> {
        if let Some(exit) = victim.wait_death(Duration::ZERO)? {
            // A sleeper that woke and finished its sleep lived through the update.
            if self.kind == VictimKind::Sleeper && exit.success() {
                self.done = Some((self.survivor.clone(), None));
                return Ok(());
            }
            let after = start.elapsed().as_micros() as u64;
            self.done = Some((Outcome::from_exit(exit), Some((after, exit))));
            return Ok(());
        }
        let now = victim.progress();
        if now >= self.base.saturating_add(settle(self.kind)) {
            let outcome = match self.kind {
                VictimKind::Clobber if victim.seen() == self.first => Outcome::Unchanged,
                VictimKind::Clobber => Outcome::SawNew,
                _ => self.survivor.clone(),
            };
            self.done = Some((outcome, None));
        } else if now != self.last {
            self.last = now;
            self.last_progress = Instant::now();
            self.cpu_at_progress = victim.sched().map_or(0, |(_, cpu)| cpu);
        } else if self.spins_after_waking(victim)
            || self.last_progress.elapsed() >= self.patience()
                && stuck(
                    victim.sched(),
                    self.cpu_at_progress,
                    self.last_progress.elapsed(),
                )
        {
            self.done = Some((Outcome::Hung, None));
        }
        Ok(())
    }

    /// How long it may go without progress after the update before it is hung: a sleeper's sleep
    /// longer than the others'.
    fn patience(&self) -> Duration {
        HUNG_AFTER + self.sleep.map_or(Duration::ZERO, |(sleep, _)| sleep)
    }

    /// Whether a sleeper whose sleep is over runs on without exiting, having burnt
    /// [`SLEEPER_SPIN_TICKS`] of CPU time since the update: it woke into code that is not its own.
    fn spins_after_waking(&self, victim: &Victim) -> bool {
        self.sleep.is_some_and(|(_, wakes)| wakes <= Instant::now())
            && matches!(victim.sched(),
                Some(('R', cpu)) if cpu >= self.cpu_at_progress + SLEEPER_SPIN_TICKS)
    }
}

/// The progress after the update that shows a victim lives on: iterations of clobber's victims,
/// bytes from a real program (three of the shell's lines, the reader's echo). A sleeper shows it
/// only by ending well after it wakes.
fn settle(kind: VictimKind) -> u64 {
    match kind {
        VictimKind::Clobber => SETTLE_ITERATIONS,
        VictimKind::Shell => 16,
        VictimKind::Reader => 5,
        VictimKind::Sleeper => u64::MAX,
    }
}

/// Whether a victim without progress for `idle` is hung, given its scheduler state and CPU time
/// now (None once it is gone) and its CPU time at its latest progress: stopped or sleeping,
/// spinning (burning [`HUNG_CPU_TICKS`]), or starved for [`STARVED_LIMIT`]. A zombie or a vanished
/// process died after the death check and is never hung: the next look reaps it.
fn stuck(sched: Option<(char, u64)>, cpu_at_progress: u64, idle: Duration) -> bool {
    match sched {
        Some(('Z' | 'X', _)) | None => false,
        Some(('R', cpu)) => cpu >= cpu_at_progress + HUNG_CPU_TICKS || idle >= STARVED_LIMIT,
        Some(_) => true,
    }
}

impl Runner {
    /// A runner writing only inside `workdir`, randomising update timing from `seed`.
    pub fn new(workdir: &Path, seed: u64) -> Runner {
        Runner {
            workdir: workdir.to_path_buf(),
            rng: fastrand::Rng::with_seed(seed),
            overlay: None,
            kernel_log: KernelLog::open(),
            confine: None,
            reported: None,
            sleep: Sleep::new(),
        }
    }

    /// Confines update commands to writing beneath `root` (the private work dir).
    pub fn with_confinement(mut self, root: Option<PathBuf>) -> Runner {
        self.confine = root;
        self
    }

    /// Runs from an overlay's merged directory (`workdir` must be it): files are put into the
    /// lower layer and the overlay is mounted afresh before each trial.
    pub fn with_overlay(mut self, overlay: Option<Overlay>) -> Runner {
        self.overlay = overlay;
        self
    }

    /// What the victims of the latest scenario on a real library reported for its releases.
    pub fn reported(&self) -> Option<&Reported> {
        self.reported.as_ref()
    }

    /// Why the kernel's log lines are missing from the evidence, if they are.
    pub fn kernel_log_unreadable(&self) -> Option<&str> {
        self.kernel_log.as_ref().err().map(String::as_str)
    }

    /// Runs `trials` trials of `scenario`, calling `on_trial` after each.
    pub fn run(
        &mut self,
        scenario: &Scenario,
        trials: u32,
        on_trial: &mut dyn FnMut(&Trial),
    ) -> Result<Vec<Trial>> {
        let mut setup = self
            .setup(scenario)
            .with_context(|| format!("preparing scenario {}", scenario.name))?;
        self.reported = None;
        if scenario.file.target.library().is_some() {
            let (versions, reported) = self
                .calibrate(scenario, &setup)
                .with_context(|| format!("preparing scenario {}", scenario.name))?;
            setup.versions = versions;
            self.reported = Some(reported);
        }
        let mut records = Vec::with_capacity(trials as usize);
        self.sleep = Sleep::new();
        for _ in 0..trials {
            if interrupt::requested() {
                return Err(Interrupted.into());
            }
            let trial = loop {
                match self.trial(&setup) {
                    Err(err)
                        if err
                            .downcast_ref::<WokeEarly>()
                            .is_some_and(|early| self.sleep.too_short(early.sleep)) =>
                    {
                        eprintln!(
                            "clobber: {err}; the trial runs again with {:?} of sleep",
                            self.sleep.next()
                        );
                    }
                    other => break other,
                }
            }
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
        let packages = match scenario.file.package {
            Some(format) => Some(package::build(
                format,
                &dir,
                &Payload {
                    file_name: materials.file_name,
                    old: &materials.old,
                    new: &materials.new,
                    executable: scenario.file.target == Target::Exe,
                },
            )?),
            None => None,
        };
        let (target, update_target, new_path) = match &packages {
            Some(packages) => (
                packages.target.clone(),
                packages.target.clone(),
                packages.new.clone(),
            ),
            None => (
                dir.join(materials.file_name),
                match scenario.layer() {
                    Layer::Lower => base.join(materials.file_name),
                    Layer::Merged => dir.join(materials.file_name),
                },
                base.join("new").join(materials.file_name),
            ),
        };
        let mut kinds: Vec<VictimKind> = scenario
            .programs()
            .into_iter()
            .cycle()
            .take(scenario.victims() as usize)
            .collect();
        // Sleepers start last, so that they are still asleep when the update comes.
        kinds.sort_by_key(|kind| *kind == VictimKind::Sleeper);
        let mut programs = kinds
            .into_iter()
            .map(|kind| program_for(scenario, &dir, kind))
            .collect::<Result<Vec<_>>>()?;
        let mut new_program = program_for(scenario, &dir, VictimKind::Clobber)?;
        for program in programs.iter_mut().chain([&mut new_program]) {
            if let Program::Interp { new_build_id, .. } = program {
                new_build_id.clone_from(&materials.new_build_id);
            }
        }
        Ok(Setup {
            update: scenario.update(),
            new_process: scenario.file.new_process,
            with_loader: scenario.file.with_loader,
            packages,
            versions: (OLD_VERSION, NEW_VERSION),
            dir,
            base,
            target,
            update_target,
            new_path,
            materials,
            programs,
            new_program,
        })
    }

    /// The versions the victims of a real library report for its old and new release, and the
    /// first line they wrote: a victim started on each, in a directory of its own.
    fn calibrate(&self, scenario: &Scenario, setup: &Setup) -> Result<((u64, u64), Reported)> {
        let mut seen = Vec::new();
        for (which, new) in [("old", false), ("new", true)] {
            let dir = setup.dir.join("versions").join(which);
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let materials = &setup.materials;
            for (name, bytes) in &materials.support {
                write_file(&dir.join(name), bytes, 0o755)?;
            }
            let pick = |old: &[u8], fresh: &[u8]| if new { fresh.to_vec() } else { old.to_vec() };
            write_file(
                &dir.join(materials.file_name),
                &pick(&materials.old, &materials.new),
                materials.mode,
            )?;
            for (name, old, fresh) in &materials.companions {
                write_file(&dir.join(name), &pick(old, fresh), 0o755)?;
            }
            let program = program_for(scenario, &dir, VictimKind::Clobber)?;
            let mut victim = Victim::spawn(
                &program,
                &dir.join(materials.file_name),
                &dir.join("status"),
                &dir.join("stderr"),
            )?;
            let version = ready(&mut victim)
                .with_context(|| format!("starting a victim on the {which} release"))?;
            seen.push((version, victim.stderr_line().unwrap_or_default()));
        }
        let (new, old) = (seen.pop().expect("two"), seen.pop().expect("two"));
        if old.0 == new.0 {
            bail!(
                "the old and the new release report the same version ({})",
                old.1
            );
        }
        Ok((
            (old.0, new.0),
            Reported {
                old: old.1,
                new: new.1,
            },
        ))
    }

    fn trial(&mut self, setup: &Setup) -> Result<Trial> {
        let target = &setup.target;
        for (name, old, _) in &setup.materials.companions {
            write_file(&setup.base.join(name), old, 0o755)?;
        }
        match (&setup.packages, &setup.update, &self.overlay) {
            (Some(packages), Update::Command(argv), _) => {
                let install = packages.command(argv, &packages.old);
                packages.install_old(&install, &setup.dir, self.confine.as_deref())?;
            }
            (_, _, Some(overlay)) => {
                let lower = setup.base.join(setup.materials.file_name);
                write_file(&lower, &setup.materials.old, setup.materials.mode)?;
                overlay.remount()?;
            }
            _ => write_file(target, &setup.materials.old, setup.materials.mode)?,
        }
        if matches!(setup.update, Update::Command(_)) && setup.packages.is_none() {
            // A command may move or consume the new version (mv): give each trial a fresh one.
            write_file(&setup.new_path, &setup.materials.new, setup.materials.mode)?;
        }
        let old_inode = fs::metadata(target)?.ino();
        let mut victims = Vec::with_capacity(setup.programs.len());
        let mut watches = Vec::with_capacity(setup.programs.len());
        let sleep = self.sleep.next();
        for (index, program) in setup.programs.iter().enumerate() {
            let mut program = program.clone();
            if let Program::UnderLoader { sleep: slept, .. } = &mut program {
                *slept = sleep;
            }
            let mut victim = Victim::spawn(
                &program,
                target,
                &setup.dir.join(format!("status-{index}")),
                &setup.dir.join(format!("stderr-{index}")),
            )?;
            let first = ready(&mut victim)?;
            watches.push(Watch::new(victim.kind(), sleep, first, victim.maps()));
            victims.push(victim);
        }
        // Ready victims wait to be released, so that starting the next ones is not slowed down by
        // those already spinning; the update comes once every one of them runs its loop.
        for victim in &mut victims {
            victim.release_and_wait(READY_TIMEOUT)?;
        }
        let jitter = self.rng.u64(0..=MAX_JITTER_MICROS);
        std::thread::sleep(Duration::from_micros(jitter));
        if let Ok(log) = &mut self.kernel_log {
            // Only lines written during this trial are read afterwards.
            log.read_new();
        }

        let start = Instant::now();
        let update = match &setup.update {
            Update::Syscalls(method) => {
                // The release's loader first, where the scenario replaces it, as its package
                // does; then the target.
                let companions = setup
                    .materials
                    .companions
                    .iter()
                    .filter(|_| setup.with_loader)
                    .map(|(name, _, new)| (setup.update_target.with_file_name(name), new, 0o755));
                let files = companions.chain([(
                    setup.update_target.clone(),
                    &setup.materials.new,
                    setup.materials.mode,
                )]);
                let mut result = UpdateResult::Applied;
                for (path, bytes, mode) in files {
                    if let Err(errno) = method::apply(*method, &path, bytes, mode) {
                        result = UpdateResult::Refused {
                            errno: format!("{errno:?}"),
                            message: String::new(),
                        };
                        break;
                    }
                }
                result
            }
            Update::Command(argv) => {
                let argv = match &setup.packages {
                    Some(packages) => packages.command(argv, &packages.new),
                    None => tool::substitute(argv, &setup.new_path, &setup.update_target),
                };
                tool::run(&argv, &setup.dir, self.confine.as_deref())?
            }
        };
        let update_us = start.elapsed().as_micros() as u64;
        let updated = Instant::now();

        // What a real program that lives on ran on: the old file, where the path now names
        // another inode (it keeps mapping the old one), or the rewritten one.
        let replaced = fs::metadata(target).map_or(true, |m| m.ino() != old_inode);
        let survivor = if replaced || update != UpdateResult::Applied {
            Outcome::Unchanged
        } else {
            Outcome::SawNew
        };
        // Observed whatever became of the update: a command may damage the file and then fail.
        observe(&mut victims, &mut watches, start, &survivor)?;
        for victim in victims.iter().filter(|v| v.kind() == VictimKind::Sleeper) {
            self.sleep.exposed(victim.started(), updated);
        }
        let kernel_lines = match &mut self.kernel_log {
            Ok(log) => log.read_new(),
            Err(_) => Vec::new(),
        };
        let mut messages: Vec<String> = update.message().map(String::from).into_iter().collect();
        let old_first = watches.first().map(|watch| watch.first);
        let mut records = Vec::with_capacity(victims.len());
        for (victim, watch) in victims.iter().zip(watches) {
            let (fate, died) = watch.done.expect("observe decides every victim");
            let death = died.map(|(after_us, status)| {
                let lines = KernelLog::lines_for(&kernel_lines, victim.pid());
                Death {
                    after_us,
                    status,
                    evidence: evidence::for_death(
                        std::os::unix::process::ExitStatusExt::signal(&status),
                        &lines,
                        &watch.maps,
                        setup.materials.file_name,
                        &setup.materials.old,
                        &setup.materials.new,
                    ),
                }
            });
            let restart_visible = if death.is_some() {
                messages.extend(victim.last_stderr_line());
                None
            } else {
                detect::restart_visible(victim.pid(), target, old_inode)
            };
            records.push(VictimRecord {
                kind: victim.kind(),
                fate,
                death,
                restart_visible,
            });
        }
        let new_process = match (setup.new_process, victims.first_mut(), records.first()) {
            (true, Some(old), Some(record)) => {
                let alive = record.death.is_none() && record.fate != Outcome::Hung;
                Some(start_new_process(old, old_first.filter(|_| alive), setup)?)
            }
            _ => None,
        };
        Ok(Trial {
            update,
            update_us,
            victims: records,
            new_process,
            messages,
        })
    }
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

/// Waits up to [`LOOK_INTERVAL`] for any victim still undecided to die or make progress.
fn wait_any(victims: &[Victim], watches: &[Watch]) -> Result<()> {
    let mut fds: Vec<PollFd> = victims
        .iter()
        .zip(watches)
        .filter(|(_, watch)| watch.done.is_none())
        .flat_map(|(victim, _)| {
            [
                PollFd::new(victim.pidfd(), PollFlags::POLLIN),
                PollFd::new(victim.notify_fd(), PollFlags::POLLIN),
            ]
        })
        .collect();
    match wait_fds(&mut fds, LOOK_INTERVAL) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(err) => Err(err).context("polling victims"),
    }
}

/// Watches victims from now until each one's outcome is known.
fn observe(
    victims: &mut [Victim],
    watches: &mut [Watch],
    start: Instant,
    survivor: &Outcome,
) -> Result<()> {
    for (victim, watch) in victims.iter_mut().zip(watches.iter_mut()) {
        watch.begin(victim, survivor)?;
    }
    loop {
        if interrupt::requested() {
            return Err(Interrupted.into());
        }
        if watches.iter().all(|w| w.done.is_some()) {
            return Ok(());
        }
        wait_any(victims, watches)?;
        for (victim, watch) in victims.iter_mut().zip(watches.iter_mut()) {
            if watch.done.is_none() {
                victim.drain();
                watch.look(victim, start)?;
                if watch.done.is_some() {
                    // Its outcome is known; if it lives, it waits stopped.
                    victim.pause();
                }
            }
        }
    }
}

/// Starts a process on the updated path and records what it got; then, when the old victim is
/// still alive (`old_first` is the version it became ready on), lets it run on (it waited
/// stopped, see [`Victim::pause`], so that the new process started without sharing a CPU with
/// it) and records whether it still runs that version with the new process beside it.
fn start_new_process(
    old: &mut Victim,
    old_first: Option<u64>,
    setup: &Setup,
) -> Result<(NewProcess, bool)> {
    let mut new = Victim::spawn(
        &setup.new_program,
        &setup.target,
        &setup.dir.join("status-new"),
        &setup.dir.join("stderr-new"),
    )?;
    let (old_version, new_version) = setup.versions;
    let got = match new.wait_ready(READY_TIMEOUT)? {
        Readiness::Ready(v) if v == new_version => NewProcess::GotNew,
        Readiness::Ready(v) if v == old_version => NewProcess::GotOld,
        Readiness::Ready(_) => NewProcess::Mixed,
        Readiness::Died(exit) => {
            NewProcess::FailedToStart(Outcome::from_exit(exit), new.stderr_line())
        }
    };
    drop(new);
    let kept_old = match old_first {
        Some(first) => {
            old.resume();
            let mut watch = [Watch::new(old.kind(), FIRST_SLEEP, first, Vec::new())];
            observe(
                std::slice::from_mut(old),
                &mut watch,
                Instant::now(),
                &Outcome::Unchanged,
            )?;
            matches!(watch[0].done, Some((Outcome::Unchanged, _)))
        }
        None => false,
    };
    Ok((got, kept_old))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_victim_that_died_between_two_looks_is_never_hung() {
        let long = STARVED_LIMIT * 2;
        assert!(!stuck(Some(('Z', 500)), 0, long));
        assert!(!stuck(None, 0, long));
        assert!(stuck(Some(('T', 0)), 0, HUNG_AFTER));
        assert!(stuck(Some(('S', 0)), 0, HUNG_AFTER));
        assert!(stuck(Some(('R', HUNG_CPU_TICKS)), 0, HUNG_AFTER));
        assert!(!stuck(Some(('R', 1)), 0, HUNG_AFTER));
        assert!(stuck(Some(('R', 1)), 0, STARVED_LIMIT));
    }

    #[test]
    fn sleepers_sleep_a_multiple_of_their_exposure_and_never_less_than_what_proved_too_short() {
        let mut sleep = Sleep::new();
        assert_eq!(sleep.next(), FIRST_SLEEP);
        let start = Instant::now();
        sleep.exposed(start, start + Duration::from_millis(3));
        assert_eq!(sleep.next(), MIN_SLEEP);
        sleep.exposed(start, start + Duration::from_millis(300));
        sleep.exposed(start, start + Duration::from_millis(200));
        assert_eq!(sleep.next(), Duration::from_millis(600));
        assert!(sleep.too_short(Duration::from_secs(2)));
        assert_eq!(sleep.next(), Duration::from_secs(4));
        assert!(!sleep.too_short(MAX_SLEEP));
        assert_eq!(sleep.next(), MAX_SLEEP);
    }
}
