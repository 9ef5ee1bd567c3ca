//! `clobber bench`: how fast trials run, next to two floors measured in the same run: the C floor
//! (`harness/bench/floor.c`, built on the host with `cc -O2 floor.c -ldl`: fork, exec a minimal
//! victim that dlopen()s the library and calls it once, waitpid) and clobber's own (spawning its
//! dlopen victim until it is ready, then killing and reaping it); what a command costs alone and
//! as tool scenarios run it (under clobber's guard on the host); what each trial kind's victims
//! died of, beside what the results recorded for the same kernel ([`Recorded`]), so that a faster
//! harness can be seen to measure the same thing; and the harness's memory over a long run (VmRSS
//! and its peak VmHWM from /proc/self/status).
//!
//! With `--kernel`, the same measurements run again inside each guest kernel under qemu, in the
//! same boot (see [`crate::vm::bench`]). Guests have no C compiler: the very binary built on the
//! host goes into the guest's initramfs (dynamically linked, with the loader and libraries it
//! needs, as the harness's own are carried), which is equivalent to building and running floor.c
//! in the guest. With `--matrix`, [`throughput`] measures the whole catalogue in guest kernels.

pub mod table;
pub mod throughput;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::confine;
use crate::embedded;
use crate::runner::Runner;
use crate::scenario;
use crate::tool;
use crate::trial::UpdateResult;
use crate::victim::{Program, Readiness, Victim};

/// Trials per second of one scenario.
#[derive(Debug, Deserialize, Serialize)]
pub struct Rate {
    /// Scenario name.
    pub scenario: String,
    /// Trials run.
    pub trials: u32,
    /// Trials per second.
    pub per_second: f64,
    /// Milliseconds per trial.
    pub ms_per_trial: f64,
    /// Cost of a trial over the cost of the floor.
    pub over_floor: f64,
    /// Victim processes a trial starts (2 when a new process checks the new version).
    pub spawns_per_trial: u32,
    /// Cost of a trial over the floor times the spawns it needs: the harness's own overhead.
    pub over_floor_per_spawn: f64,
    /// Cost of a trial over the C floor times the spawns it needs, when the C floor was measured.
    pub over_c_floor_per_spawn: Option<f64>,
    /// Trials per outcome label.
    pub outcomes: BTreeMap<String, u64>,
    /// What the results recorded for the scenario on the same kernel, to tell that a faster
    /// harness measures the same thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
}

/// A scenario's outcomes as recorded in a results file, beside those measured now.
#[derive(Debug, Deserialize, Serialize)]
pub struct Recorded {
    /// The results file.
    pub file: PathBuf,
    /// The clobber version that recorded them.
    pub clobber_version: String,
    /// Trials there.
    pub trials: u64,
    /// Trials per outcome label there.
    pub outcomes: BTreeMap<String, u64>,
    /// The labels whose share now and there differ: their 95% Wilson intervals do not overlap.
    pub differ: Vec<String>,
}

impl Recorded {
    /// What the results file of `kernel_release` in `results_dir` recorded for `scenario`, beside
    /// the outcomes `now` of `trials` trials measured now; None where it has no such entry.
    pub fn find(
        results_dir: &Path,
        kernel_release: &str,
        scenario: &str,
        now: &BTreeMap<String, u64>,
        trials: u64,
    ) -> Option<Recorded> {
        let file = crate::results::path_for(results_dir, kernel_release);
        let results = crate::results::read(&file).ok()?;
        let entry = results
            .scenarios
            .iter()
            .find(|s| s.name == scenario && s.trials > 0)?;
        let outcomes = by_label(&entry.counts);
        let labels: std::collections::BTreeSet<&String> =
            now.keys().chain(outcomes.keys()).collect();
        let share = |counts: &BTreeMap<String, u64>, label: &str, n: u64| {
            crate::stats::wilson(counts.get(label).copied().unwrap_or(0), n)
        };
        let differ = labels
            .into_iter()
            .filter(|label| {
                let here = share(now, label, trials);
                let there = share(&outcomes, label, entry.trials);
                here.1 < there.0 || there.1 < here.0
            })
            .cloned()
            .collect();
        Some(Recorded {
            file,
            clobber_version: entry
                .environment
                .as_ref()
                .map_or_else(|| "unknown".into(), |e| e.clobber_version.clone()),
            trials: entry.trials,
            differ,
            outcomes,
        })
    }
}

/// Counts as `label k, label k`.
pub fn counts_text(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(label, k)| format!("{label} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Outcome counts keyed by their labels.
pub fn by_label(counts: &BTreeMap<crate::outcome::Outcome, u64>) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(outcome, k)| (outcome.to_string(), *k))
        .collect()
}

/// Memory of the harness process during a long run, in KiB.
#[derive(Debug, Deserialize, Serialize)]
pub struct Memory {
    /// Scenario of the long run.
    pub scenario: String,
    /// (trials done, VmRSS KiB) samples.
    pub rss_kib: Vec<(u32, u64)>,
    /// VmHWM (peak RSS) at the end, KiB.
    pub peak_kib: u64,
}

/// Where a report was measured.
#[derive(Debug, Deserialize, Serialize)]
pub struct Place {
    /// `host`, or the kernel booted under qemu as given (e.g. `debian:6.1`).
    pub name: String,
    /// `uname -r` where it ran.
    pub kernel_release: String,
    /// `none`, `qemu-tcg` or `qemu-kvm` (as in results' environments).
    pub virtualization: String,
}

impl Place {
    /// This machine, called `name`.
    pub fn here(name: &str) -> Place {
        let environment = crate::environment::collect(Path::new("/"));
        Place {
            name: name.to_string(),
            kernel_release: environment.kernel_release,
            virtualization: environment.virtualization,
        }
    }
}

/// Everything `clobber bench` measured in one place.
#[derive(Debug, Deserialize, Serialize)]
pub struct Report {
    /// Where it was measured.
    pub place: Place,
    /// Where the writer and the victims ran.
    pub placement: String,
    /// Milliseconds per trial of the C floor, when it could be measured.
    pub c_floor_ms: Option<f64>,
    /// Why the C floor could not be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_floor_missing: Option<String>,
    /// Spawn a victim, load the library, run it once, kill and reap: per second.
    pub floor_per_second: f64,
    /// Milliseconds per floor iteration.
    pub floor_ms: f64,
    /// Milliseconds to spawn `cat /dev/null` and wait for it, where cat is found.
    pub command_ms: Option<f64>,
    /// Milliseconds to run `cat /dev/null` as tool scenarios run their commands (under clobber's
    /// guard and confined where the kernel allows; in a guest without either), where cat is found.
    pub guarded_command_ms: Option<f64>,
    /// Trial rates.
    pub rates: Vec<Rate>,
    /// Memory over the long run, when one was asked for (the host's only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// What `clobber bench --json` prints: one report per place, the host's first.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// The reports.
    pub environments: Vec<Report>,
}

/// The C floor's program, or why there is none.
pub enum CFloor {
    /// The built floor.c.
    Binary(PathBuf),
    /// Why it could not be built or carried.
    Missing(String),
}

/// What one bench run measures.
pub struct Options {
    /// Trials per scenario for the rates, and floor iterations.
    pub trials: u32,
    /// Trials of the long run that samples memory; none skips it.
    pub long: Option<u32>,
    /// The C floor's program.
    pub c_floor: CFloor,
}

fn status_kib(field: &str) -> Result<u64> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}

fn floor(dir: &Path, iterations: u32) -> Result<Duration> {
    fs::create_dir_all(dir)?;
    let lib = dir.join("libvictim.so");
    crate::workfile::write(&lib, embedded::LIB_V1, 0o755)?;
    let exe = dir.join("victim-dlopen");
    crate::workfile::write(&exe, embedded::DLOPEN, 0o755)?;
    let started = Instant::now();
    for _ in 0..iterations {
        let mut victim = Victim::spawn(
            &Program::Dlopen(exe.clone()),
            &lib,
            &dir.join("status"),
            &dir.join("stderr"),
        )?;
        if let Readiness::Died(exit) = victim.wait_ready(Duration::from_secs(20))? {
            bail!("floor victim died before it was ready: {exit}");
        }
    }
    Ok(started.elapsed() / iterations)
}

/// Builds floor.c with `cc` in `dir`: the program, or why not.
pub fn build_c_floor(dir: &Path) -> CFloor {
    let source = dir.join("floor.c");
    let binary = dir.join("floor");
    if let Err(err) = crate::workfile::write(&source, FLOOR_C.as_bytes(), 0o644) {
        return CFloor::Missing(format!("{err:#}"));
    }
    let built = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .arg("-ldl")
        .output();
    match built {
        Err(err) => CFloor::Missing(format!(
            "cannot run cc ({err}): install a C compiler (apt-get install gcc)"
        )),
        Ok(built) if !built.status.success() => CFloor::Missing(format!(
            "cc failed: {}",
            String::from_utf8_lossy(&built.stderr).trim()
        )),
        Ok(_) => CFloor::Binary(binary),
    }
}

/// The C floor's milliseconds per trial over `iterations`, run in `dir`; or why not.
fn c_floor(binary: &Path, dir: &Path, iterations: u32) -> Result<f64, String> {
    let lib = dir.join("libvictim.so");
    crate::workfile::write(&lib, embedded::LIB_V1, 0o755).map_err(|e| format!("{e:#}"))?;
    let ran = Command::new(binary)
        .arg(iterations.to_string())
        .arg(&lib)
        .arg("victim_version")
        .output()
        .map_err(|e| format!("cannot run the C floor: {e}"))?;
    String::from_utf8_lossy(&ran.stdout)
        .trim()
        .strip_prefix("floor_us_per_trial=")
        .and_then(|us| us.parse::<f64>().ok())
        .map(|us| us / 1000.0)
        .ok_or_else(|| {
            format!(
                "the C floor failed: {}",
                String::from_utf8_lossy(&ran.stderr).trim()
            )
        })
}

/// The C floor's source, equivalent to the project's reference floor.c.
const FLOOR_C: &str = include_str!("../../bench/floor.c");

/// Runs the benchmark in `workdir` and calls the result `place`: `options.trials` trials each of
/// cp-over-lib and install-over-lib, as many iterations of both floors, and a long run of
/// cp-over-lib for memory when asked.
pub fn run(
    workdir: &Path,
    place: Place,
    options: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let trials = options.trials;
    let catalogue = scenario::load_catalogue(None)?;
    let placement = crate::placement::apply();
    progress("C floor");
    let c_floor_dir = workdir.join("c-floor");
    fs::create_dir_all(&c_floor_dir)?;
    let c_floor = match &options.c_floor {
        CFloor::Binary(binary) => c_floor(binary, &c_floor_dir, trials),
        CFloor::Missing(why) => Err(why.clone()),
    };
    let c_floor_ms = c_floor.as_ref().ok().copied();
    progress("floor");
    let floor = floor(&workdir.join("floor"), trials)?;
    let floor_s = floor.as_secs_f64();
    // Tool scenarios' commands are confined where the kernel can, as in a real run.
    let confined = confine::abi().is_ok().then(|| workdir.to_path_buf());
    progress("commands");
    let (command_ms, guarded_command_ms) = match tool::find("cat") {
        Some(cat) => {
            let (plain, guarded) = commands(&cat, workdir, confined.as_deref(), trials)?;
            (Some(plain), Some(guarded))
        }
        None => (None, None),
    };
    let mut rates = Vec::new();
    for name in ["cp-over-lib", "install-over-lib", "tool-cp-over-lib"] {
        progress(name);
        let chosen = scenario::select(&catalogue, &[name.to_string()])?;
        let mut runner = Runner::new(workdir, 1).with_confinement(confined.clone());
        let started = Instant::now();
        let records = runner.run(&chosen[0], trials, &mut |_| {})?;
        let per_trial = started.elapsed().as_secs_f64() / f64::from(trials);
        let spawns = chosen[0].spawns_per_trial();
        let mut outcomes = BTreeMap::new();
        for trial in &records {
            *outcomes.entry(trial.outcome().to_string()).or_default() += 1;
        }
        rates.push(Rate {
            recorded: None,
            over_c_floor_per_spawn: c_floor_ms
                .map(|c| per_trial * 1000.0 / (c * f64::from(spawns))),
            outcomes,
            spawns_per_trial: spawns,
            over_floor_per_spawn: per_trial / (floor_s * f64::from(spawns)),
            scenario: name.into(),
            trials,
            per_second: 1.0 / per_trial,
            ms_per_trial: per_trial * 1000.0,
            over_floor: per_trial / floor_s,
        });
    }
    let memory = match options.long {
        Some(long) => {
            progress("memory");
            Some(memory(workdir, &catalogue, long)?)
        }
        None => None,
    };
    Ok(Report {
        place,
        placement,
        c_floor_ms,
        c_floor_missing: c_floor.err(),
        floor_per_second: 1.0 / floor_s,
        floor_ms: floor_s * 1000.0,
        command_ms,
        guarded_command_ms,
        rates,
        memory,
    })
}

/// Milliseconds to spawn `cat /dev/null` and wait for it, and to run it under the guard (confined
/// to `confined` when given), each over `iterations`.
fn commands(
    cat: &Path,
    workdir: &Path,
    confined: Option<&Path>,
    iterations: u32,
) -> Result<(f64, f64)> {
    let ms = |elapsed: Duration| elapsed.as_secs_f64() * 1000.0 / f64::from(iterations);
    let started = Instant::now();
    for _ in 0..iterations {
        let status = Command::new(cat).arg("/dev/null").status()?;
        if !status.success() {
            bail!("cat /dev/null failed: {status}");
        }
    }
    let plain = ms(started.elapsed());
    let dir = workdir.join("commands");
    fs::create_dir_all(&dir)?;
    let argv = [cat.display().to_string(), "/dev/null".to_string()];
    let started = Instant::now();
    for _ in 0..iterations {
        let update = tool::run(&argv, &dir, confined)?;
        if !matches!(update, UpdateResult::Applied) {
            bail!("cat /dev/null under the guard: {update:?}");
        }
    }
    Ok((plain, ms(started.elapsed())))
}

/// VmRSS over `long` trials of cp-over-lib, sampled ten times, and the peak.
fn memory(workdir: &Path, catalogue: &[scenario::Scenario], long: u32) -> Result<Memory> {
    let chosen = scenario::select(catalogue, &["cp-over-lib".to_string()])?;
    let mut runner = Runner::new(workdir, 2);
    let mut done = 0u32;
    let mut samples = vec![(0, status_kib("VmRSS:")?)];
    let mut failed = None;
    runner.run(&chosen[0], long, &mut |_| {
        done += 1;
        if done.is_multiple_of((long / 10).max(1)) {
            match status_kib("VmRSS:") {
                Ok(kib) => samples.push((done, kib)),
                Err(err) => failed = Some(err),
            }
        }
    })?;
    if let Some(err) = failed {
        return Err(err);
    }
    Ok(Memory {
        scenario: "cp-over-lib".into(),
        rss_kib: samples,
        peak_kib: status_kib("VmHWM:")?,
    })
}
