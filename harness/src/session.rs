//! A run of scenarios on this kernel: the work directory, the results file each scenario's entry
//! is merged into as soon as it is known, progress (a bar, or console lines in a guest), and the
//! summary printed after each scenario. Used by the command line and by the guest of a matrix.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::check;
use crate::confine;
use crate::environment;
use crate::error::BadInput;
use crate::filesystem::{FsKind, Mounted};
use crate::interrupt;
use crate::placement;
use crate::release;
use crate::results::{self, ScenarioResult};
use crate::runner::Runner;
use crate::scenario::{self, Layer, Scenario, Update};
use crate::summary;
use crate::tool;
use crate::vm::guest;

/// What a run is asked to do, from the command line or the guest's configuration.
pub struct Options {
    /// Trials per scenario; None: the scenario file's `trials`, else the caller's default.
    pub trials: Option<u32>,
    /// Directory of results files.
    pub results: PathBuf,
    /// Where victims and their files live; None: a fresh temporary directory.
    pub workdir: Option<PathBuf>,
    /// Seed of the random update delay; None: from the clock.
    pub seed: Option<u64>,
    /// A fresh filesystem of this type to run on.
    pub fs: Option<FsKind>,
    /// Run update commands even where they cannot be confined to the work dir (no Landlock).
    pub allow_unconfined: bool,
}

/// The work directory: always a fresh private directory that clobber made itself (mkdtemp, mode
/// 0700), so that no name in it pre-exists and no one else's symlink can be in it. Inside a
/// `--workdir` the user named it is kept afterwards for inspection; in the system's temporary
/// directory it is removed on drop, and directories of earlier clobbers that were killed before
/// they could remove theirs are removed on the next start.
pub enum Workdir {
    /// Inside a directory the user named: kept.
    Given(PathBuf),
    /// In the system's temporary directory: removed on drop.
    Temporary(tempfile::TempDir),
}

/// The prefix of a private work directory: `clobber-<pid>-`, so that a later clobber can tell
/// whether the clobber that made it is still alive.
fn private_prefix() -> String {
    format!("clobber-{}-", std::process::id())
}

impl Workdir {
    /// A private directory inside `given` (created if needed; `/` is refused), or in the system's
    /// temporary directory. Its path is absolute: victims run with other working directories.
    pub fn new(given: Option<&Path>) -> Result<Workdir> {
        match given {
            Some(dir) => {
                let unusable =
                    |why: String| BadInput(format!("--workdir {}: {why}", dir.display()));
                std::fs::create_dir_all(dir).map_err(|err| unusable(err.to_string()))?;
                let dir = std::fs::canonicalize(dir).map_err(|err| unusable(err.to_string()))?;
                if dir == Path::new("/") {
                    return Err(unusable("give a directory of its own".into()).into());
                }
                let foreign = std::fs::read_dir(&dir)
                    .map_err(|err| unusable(err.to_string()))?
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .find(|name| !name.starts_with("clobber-"));
                if let Some(name) = foreign {
                    return Err(unusable(format!(
                        "holds `{name}`, which clobber did not make; give an empty directory or one only clobber uses"
                    ))
                    .into());
                }
                let private = tempfile::Builder::new()
                    .prefix(&private_prefix())
                    .tempdir_in(&dir)
                    .with_context(|| {
                        format!("creating a private directory in {}", dir.display())
                    })?;
                Ok(Workdir::Given(private.keep()))
            }
            None => {
                remove_abandoned(&std::env::temp_dir());
                Ok(Workdir::Temporary(
                    tempfile::Builder::new()
                        .prefix(&private_prefix())
                        .tempdir()
                        .context("creating a temporary work dir")?,
                ))
            }
        }
    }

    /// Its absolute path.
    pub fn path(&self) -> &Path {
        match self {
            Workdir::Given(dir) => dir,
            Workdir::Temporary(dir) => dir.path(),
        }
    }
}

/// Removes this user's private work directories in `dir` whose clobber is no longer running (it
/// was killed by a signal it could not handle). Symlinks are never followed: only real
/// directories named `clobber-<pid>-*` and owned by this user are removed.
fn remove_abandoned(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("clobber-")
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let ours = std::fs::symlink_metadata(entry.path())
            .is_ok_and(|m| m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) == me);
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if ours && gone && pid > 0 {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// How a run shows its progress.
pub enum Progress {
    /// A progress bar on the terminal.
    Bar,
    /// A console line per scenario that the VM host parses (the guest of `clobber matrix`).
    Lines,
}

/// Runs `names` (all when empty) as the guest of `clobber matrix`: results into `results`,
/// victims in `workdir`, progress as console lines.
pub fn run_in_guest(
    names: &[String],
    trials: Option<u32>,
    default_trials: u32,
    seed: u64,
    results: &Path,
    workdir: &Path,
) -> Result<()> {
    let catalogue = scenario::load_catalogue(None)?;
    let mut chosen = if names.is_empty() {
        catalogue
    } else {
        scenario::select(&catalogue, names)?
    };
    let whole_catalogue = names.is_empty();
    for s in &mut chosen {
        s.file.trials = Some(if whole_catalogue && s.is_blast() {
            // Under emulation a blast-radius trial (32 victims on one vCPU) takes half a minute:
            // one trial, 32 observations, unless the scenario is asked for by name.
            1
        } else {
            // The default also caps the scenario files' own counts.
            trials.unwrap_or_else(|| {
                s.file
                    .trials
                    .map_or(default_trials, |t| t.min(default_trials))
            })
        });
    }
    let args = Options {
        trials: None,
        results: results.to_path_buf(),
        workdir: Some(workdir.to_path_buf()),
        seed: Some(seed),
        fs: None,
        // The guest is a throwaway VM: it is the confinement.
        allow_unconfined: true,
    };
    run_scenarios(&chosen, &args, default_trials, None, Progress::Lines).map(drop)
}

/// Runs `scenarios`, writing each result as soon as it is known, and returns the results.
/// `adjust` may rewrite a result's verdict before it is written.
pub fn run_scenarios(
    scenarios: &[Scenario],
    args: &Options,
    default_trials: u32,
    adjust: Option<fn(&mut ScenarioResult) -> check::Finding>,
    progress: Progress,
) -> Result<Vec<ScenarioResult>> {
    interrupt::install()?;
    let workdir = Workdir::new(args.workdir.as_deref())?;
    let mounted = args
        .fs
        .map(|kind| Mounted::new(kind, workdir.path()))
        .transpose()?;
    let run_dir = mounted.as_ref().map_or(workdir.path(), |m| m.work());
    let mut environment = environment::collect(run_dir);
    environment.placement = placement::apply();
    // Whether the kernel can confine update commands, asked once for the whole run.
    let confinable = confine::abi();
    if confinable.is_err() && args.allow_unconfined {
        environment
            .confinement
            .push_str("; commands ran unconfined (--allow-unconfined)");
    }
    let results_path = match &mounted {
        Some(m) => results::path_for_fs(
            &args.results,
            &environment.kernel_release,
            &m.kind().to_string(),
        ),
        None => results::path_for(&args.results, &environment.kernel_release),
    };
    {
        // Refuse to run at all, before the first trial, if the results directory is unusable or
        // the file we would merge into is unreadable or another machine's.
        let _lock = results::lock_dir(&args.results)?;
        if results_path.exists() {
            results::read_own(&results_path, &environment)?;
        }
    }
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let trials_of = |s: &Scenario| args.trials.or(s.file.trials).unwrap_or(default_trials);
    let total: u64 = scenarios.iter().map(|s| u64::from(trials_of(s))).sum();
    eprintln!(
        "clobber: {} scenario(s), {total} trials on Linux {} ({}, work dir on {}), seed {seed}",
        scenarios.len(),
        environment.kernel_release,
        environment.arch,
        environment.filesystem
    );
    let bar = match progress {
        Progress::Bar => ProgressBar::new(total),
        Progress::Lines => ProgressBar::hidden(),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} trials  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut unexpected = Vec::new();
    let mut finished = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        bar.set_message(scenario.name.clone());
        if let Progress::Lines = progress {
            guest::announce(&guest::Event::Scenario {
                index: index + 1,
                total: scenarios.len(),
                name: scenario.name.clone(),
            });
        }
        let trials = trials_of(scenario);
        // The entry's own environment names the tools this scenario ran, and only those.
        let mut measured_in = environment.clone();
        measured_in.tools.clear();
        let missing: Vec<String> = scenario
            .required_tools()
            .into_iter()
            .filter(|name| match tool::find(name) {
                Some(path) => {
                    let version = environment
                        .tools
                        .entry(name.clone())
                        .or_insert_with(|| tool::version(name, &path));
                    measured_in.tools.insert(name.clone(), version.clone());
                    false
                }
                None => true,
            })
            .collect();
        let overlay = mounted.as_ref().and_then(Mounted::overlay).cloned();
        let needs_overlay = scenario.layer() == Layer::Lower && overlay.is_none();
        // The real releases a scenario needs, from the cache or fetched now.
        let release = scenario.file.target.library().map(release::ensure);
        let result = if needs_overlay {
            bar.inc(u64::from(trials));
            ScenarioResult::not_run(
                scenario,
                &measured_in,
                "it writes an overlay's lower layer: run it with --fs overlay".into(),
            )
        } else if let (Update::Command(_), Err(why), false) =
            (scenario.update(), &confinable, args.allow_unconfined)
        {
            bar.inc(u64::from(trials));
            ScenarioResult::not_run(
                scenario,
                &measured_in,
                format!("its command cannot be confined to the work dir here ({why}); --allow-unconfined runs it anyway"),
            )
        } else if let Some(Err(why)) = &release {
            bar.inc(u64::from(trials));
            ScenarioResult::not_run(
                scenario,
                &measured_in,
                format!("its library releases could not be had: {why:#}"),
            )
        } else if missing.is_empty() {
            let started = Instant::now();
            let confined = confinable.is_ok().then(|| workdir.path().to_path_buf());
            let mut runner = Runner::new(run_dir, seed)
                .with_overlay(overlay)
                .with_confinement(confined);
            let mut done = 0;
            let records = runner.run(scenario, trials, &mut |_| {
                bar.inc(1);
                done += 1;
                if let Progress::Lines = progress {
                    guest::announce(&guest::Event::Trial {
                        index: done,
                        total: trials,
                    });
                }
            })?;
            let mut result = ScenarioResult::from_trials(
                scenario,
                &measured_in,
                &records,
                seed,
                started.elapsed().as_millis() as u64,
            );
            result.kernel_log = runner.kernel_log_unreadable().map(String::from);
            if let (Some(Ok(pair)), Some(reported)) = (&release, runner.reported()) {
                result.releases = Some(pair.used(reported.old.clone(), reported.new.clone()));
            }
            if let Some(adjust) = adjust {
                adjust(&mut result);
            }
            if !result.verdict.as_expected {
                unexpected.push(result.name.clone());
            }
            result
        } else {
            bar.inc(u64::from(trials));
            ScenarioResult::not_run(
                scenario,
                &measured_in,
                format!("{} not found", missing.join(", ")),
            )
        };
        results::merge_into(&results_path, &environment, result.clone())?;
        if let Progress::Lines = progress {
            guest::publish(&environment, &result)?;
        }
        bar.suspend(|| println!("{}", summary::render(&result)));
        finished.push(result);
    }
    bar.finish_and_clear();
    println!("results: {}", results_path.display());
    if let Some(line) = summary::invisible_changes(&finished) {
        println!("{line}");
    }
    if !unexpected.is_empty() {
        println!(
            "differs from the scenario files' expectations: {}",
            unexpected.join(", ")
        );
    }
    Ok(finished)
}
