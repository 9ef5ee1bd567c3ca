//! `clobber bench`: how fast trials run, next to two floors measured in the same run: the C floor
//! (`harness/bench/floor.c`, built with the system's `cc`: fork, exec a minimal victim that
//! dlopen()s the library and calls it once, waitpid) and clobber's own (spawning its dlopen victim
//! until it is ready, then killing and reaping it); what cp-over-lib's victims died of, so that a
//! faster harness can be seen to measure the same thing; and the harness's memory over a long run
//! (VmRSS and its peak VmHWM from /proc/self/status).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::embedded;
use crate::runner::Runner;
use crate::scenario;
use crate::victim::{Program, Readiness, Victim};

/// Trials per second of one scenario.
#[derive(Debug, Serialize)]
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
    pub outcomes: std::collections::BTreeMap<String, u64>,
}

/// Memory of the harness process during a long run, in KiB.
#[derive(Debug, Serialize)]
pub struct Memory {
    /// Scenario of the long run.
    pub scenario: String,
    /// (trials done, VmRSS KiB) samples.
    pub rss_kib: Vec<(u32, u64)>,
    /// VmHWM (peak RSS) at the end, KiB.
    pub peak_kib: u64,
}

/// Everything `clobber bench` measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Where the writer and the victims ran.
    pub placement: String,
    /// Milliseconds per trial of the C floor, when it could be measured.
    pub c_floor_ms: Option<f64>,
    /// Why the C floor could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c_floor_missing: Option<String>,
    /// Spawn a victim, load the library, run it once, kill and reap: per second.
    pub floor_per_second: f64,
    /// Milliseconds per floor iteration.
    pub floor_ms: f64,
    /// Trial rates.
    pub rates: Vec<Rate>,
    /// Memory over the long run.
    pub memory: Memory,
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

/// The C floor's milliseconds per trial over `iterations`, built and run in `dir`; or why not.
fn c_floor(dir: &Path, iterations: u32) -> Result<f64, String> {
    let source = dir.join("floor.c");
    let binary = dir.join("floor");
    let lib = dir.join("libvictim.so");
    crate::workfile::write(&source, FLOOR_C.as_bytes(), 0o644).map_err(|e| format!("{e:#}"))?;
    crate::workfile::write(&lib, embedded::LIB_V1, 0o755).map_err(|e| format!("{e:#}"))?;
    let built = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .arg("-ldl")
        .output()
        .map_err(|e| format!("cannot run cc ({e}): install a C compiler (apt-get install gcc)"))?;
    if !built.status.success() {
        return Err(format!(
            "cc failed: {}",
            String::from_utf8_lossy(&built.stderr).trim()
        ));
    }
    let ran = Command::new(&binary)
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
const FLOOR_C: &str = include_str!("../bench/floor.c");

/// Runs the benchmark in `workdir`: `trials` trials each of cp-over-lib and install-over-lib,
/// the same number of floor iterations, and a `long` trial run of cp-over-lib for memory.
pub fn run(
    workdir: &Path,
    trials: u32,
    long: u32,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let catalogue = scenario::load_catalogue(None)?;
    let placement = crate::placement::apply();
    progress("C floor");
    let c_floor_dir = workdir.join("c-floor");
    fs::create_dir_all(&c_floor_dir)?;
    let c_floor = c_floor(&c_floor_dir, trials);
    let c_floor_ms = c_floor.as_ref().ok().copied();
    progress("floor");
    let floor = floor(&workdir.join("floor"), trials)?;
    let floor_s = floor.as_secs_f64();
    let mut rates = Vec::new();
    for name in ["cp-over-lib", "install-over-lib"] {
        progress(name);
        let chosen = scenario::select(&catalogue, &[name.to_string()])?;
        let mut runner = Runner::new(workdir, 1);
        let started = Instant::now();
        let records = runner.run(&chosen[0], trials, &mut |_| {})?;
        let per_trial = started.elapsed().as_secs_f64() / f64::from(trials);
        let spawns = chosen[0].spawns_per_trial();
        let mut outcomes = std::collections::BTreeMap::new();
        for trial in &records {
            *outcomes.entry(trial.outcome().to_string()).or_default() += 1;
        }
        rates.push(Rate {
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
    progress("memory");
    let chosen = scenario::select(&catalogue, &["cp-over-lib".to_string()])?;
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
    Ok(Report {
        placement,
        c_floor_ms,
        c_floor_missing: c_floor.err(),
        floor_per_second: 1.0 / floor_s,
        floor_ms: floor_s * 1000.0,
        rates,
        memory: Memory {
            scenario: "cp-over-lib".into(),
            rss_kib: samples,
            peak_kib: status_kib("VmHWM:")?,
        },
    })
}

/// The human rendering of a report.
pub fn render(report: &Report) -> String {
    let mut out = format!("placement: {}\n", report.placement);
    out.push_str(&match (&report.c_floor_ms, &report.c_floor_missing) {
        (Some(ms), _) => format!("C floor (fork, exec, dlopen, call once, waitpid): {ms:.2} ms\n"),
        (None, why) => format!(
            "C floor: not measured: {}\n",
            why.as_deref().unwrap_or("unknown")
        ),
    });
    out.push_str(&format!(
        "clobber floor (spawn its dlopen victim until ready, kill and reap): {:.2} ms, {:.0}/s\n",
        report.floor_ms, report.floor_per_second
    ));
    for rate in &report.rates {
        let c = rate
            .over_c_floor_per_spawn
            .map(|x| format!("{x:.2}× the C floor"))
            .unwrap_or_else(|| "C floor not measured".into());
        let outcomes: Vec<String> = rate
            .outcomes
            .iter()
            .map(|(label, k)| format!("{label} {k}"))
            .collect();
        out.push_str(&format!(
            "{:<18} {:>5} trials  {:.2} ms/trial  {:.0} trials/s  {} spawn(s) per trial; per spawn {c}, {:.2}× clobber's floor; outcomes: {}\n",
            rate.scenario,
            rate.trials,
            rate.ms_per_trial,
            rate.per_second,
            rate.spawns_per_trial,
            rate.over_floor_per_spawn,
            outcomes.join(", ")
        ));
    }
    let rss: Vec<String> = report
        .memory
        .rss_kib
        .iter()
        .map(|(trials, kib)| format!("{trials}:{:.1}", *kib as f64 / 1024.0))
        .collect();
    out.push_str(&format!(
        "memory over {} trials of {}: VmRSS MiB by trials done {}; peak {:.1} MiB\n",
        report.memory.rss_kib.last().map_or(0, |s| s.0),
        report.memory.scenario,
        rss.join(" "),
        report.memory.peak_kib as f64 / 1024.0
    ));
    out
}
