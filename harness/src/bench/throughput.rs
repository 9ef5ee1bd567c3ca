//! `clobber bench --matrix`: the matrix's throughput. Runs `clobber matrix` over the whole
//! catalogue with the given trials into a throwaway results directory, and reports the wall time
//! per kernel (boot included) and in all, the trials run and trials per second; then projects the
//! run to [`GOAL_TRIALS`] trials a scenario from each scenario's measured cost per trial (blast
//! scenarios keep their one trial), kernels run `jobs` at a time as the matrix does, next to the
//! goal of [`GOAL_WALL`] for the four Debian kernels. With few trials the projection is an upper
//! bound: a scenario's fixed costs are scaled with its trials.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::bench::{by_label, counts_text, Recorded};
use crate::results;
use crate::scenario::{self, Scenario};
use crate::vm::guest::Config;
use crate::vm::kernel::Spec;
use crate::vm::matrix::{self, Success};

/// Trials a scenario the goal asks for.
pub const GOAL_TRIALS: u32 = 100;
/// The goal's wall time for the whole catalogue × 4 Debian kernels × [`GOAL_TRIALS`] under TCG.
pub const GOAL_WALL: Duration = Duration::from_secs(15 * 60);

/// One kernel's share.
#[derive(Debug, Serialize)]
pub struct Kernel {
    /// The kernel as given.
    pub spec: String,
    /// Its release.
    pub release: String,
    /// `qemu-tcg` or `qemu-kvm`.
    pub virtualization: String,
    /// Scenarios run (not counting those not run there).
    pub scenarios: usize,
    /// Trials run, over all its scenarios.
    pub trials: u64,
    /// Seconds from starting qemu to /init.
    pub boot_s: f64,
    /// Seconds from starting qemu to its end.
    pub wall_s: f64,
    /// Trials per second of wall time.
    pub trials_per_second: f64,
    /// Seconds it would take with [`GOAL_TRIALS`] trials a scenario.
    pub projected_wall_s: f64,
    /// Scenarios whose outcomes could be compared with those recorded in the results for this
    /// kernel.
    pub compared: usize,
    /// Those whose outcome shares differ from the recorded ones beyond their 95% intervals.
    pub differ: Vec<Difference>,
}

/// A scenario whose outcomes now differ from those recorded.
#[derive(Debug, Serialize)]
pub struct Difference {
    /// The scenario.
    pub scenario: String,
    /// Its outcomes now, and as recorded.
    pub now: BTreeMap<String, u64>,
    /// What the results recorded, with the labels that differ.
    pub recorded: Recorded,
}

/// What `clobber bench --matrix` measured.
#[derive(Debug, Serialize)]
pub struct Throughput {
    /// Trials a scenario asked for.
    pub trials: u32,
    /// Kernels booted at once.
    pub jobs: usize,
    /// Kernels that gave results, in the order given.
    pub kernels: Vec<Kernel>,
    /// Kernels that failed.
    pub failures: usize,
    /// Seconds of the whole matrix (initramfs and KVM probe included).
    pub wall_s: f64,
    /// Trials per second of the whole matrix.
    pub trials_per_second: f64,
    /// Trials a scenario of the projection.
    pub goal_trials: u32,
    /// Seconds the kernels measured would take with [`GOAL_TRIALS`] trials, `jobs` at a time.
    pub projected_wall_s: f64,
    /// The goal's seconds for 4 Debian kernels under TCG.
    pub goal_wall_s: f64,
}

/// Runs the matrix on `kernels` with `trials` trials a scenario, `jobs` kernels at a time, and
/// compares each scenario's outcomes with those recorded in `recorded` (a results dir).
pub fn measure(
    kernels: Vec<Spec>,
    trials: u32,
    jobs: usize,
    recorded: &Path,
) -> Result<Throughput> {
    let results_dir = tempfile::Builder::new()
        .prefix("clobber-bench-matrix-")
        .tempdir()
        .context("creating a throwaway results dir")?;
    let order: Vec<String> = kernels.iter().map(Spec::to_string).collect();
    let started = Instant::now();
    let summary = matrix::run(&matrix::Options {
        kernels,
        guest: Config {
            scenarios: Vec::new(),
            trials: Some(trials),
            default_trials: trials,
            seed: fastrand::u64(..),
            filesystem: None,
            bench: None,
        },
        results: results_dir.path().to_path_buf(),
        jobs,
        silence: Duration::from_secs(300),
    })?;
    let wall = started.elapsed().as_secs_f64();
    let blasts: Vec<String> = scenario::load_catalogue(None)?
        .into_iter()
        .filter(Scenario::is_blast)
        .map(|s| s.name)
        .collect();
    let mut measured = Vec::new();
    for spec in &order {
        if let Some(done) = summary.successes.iter().find(|s| s.spec == *spec) {
            measured.push(kernel(done, &blasts, recorded)?);
        }
    }
    let trials_run: u64 = measured.iter().map(|k| k.trials).sum();
    let projected: Vec<f64> = measured.iter().map(|k| k.projected_wall_s).collect();
    Ok(Throughput {
        trials,
        jobs,
        failures: summary.failures,
        kernels: measured,
        wall_s: wall,
        trials_per_second: trials_run as f64 / wall,
        goal_trials: GOAL_TRIALS,
        projected_wall_s: scheduled(&projected, jobs),
        goal_wall_s: GOAL_WALL.as_secs_f64(),
    })
}

/// A kernel's figures, from its results file; `blasts` name the blast-radius scenarios, which
/// the matrix runs once; `recorded` is the results dir to compare the outcomes with.
fn kernel(done: &Success, blasts: &[String], recorded: &Path) -> Result<Kernel> {
    let file = results::read(&done.path)?;
    let run: Vec<_> = file
        .scenarios
        .iter()
        .filter(|s| s.not_run.is_none())
        .collect();
    let trials: u64 = run.iter().map(|s| s.trials).sum();
    let scenarios_s: f64 = run.iter().map(|s| s.wall_ms as f64 / 1000.0).sum();
    let projected_scenarios_s: f64 = run
        .iter()
        .map(|s| {
            let goal = if blasts.contains(&s.name) {
                s.trials
            } else {
                u64::from(GOAL_TRIALS)
            };
            s.us_per_trial as f64 * goal as f64 / 1e6
        })
        .sum();
    let comparisons: Vec<(String, BTreeMap<String, u64>, Recorded)> = run
        .iter()
        .filter_map(|s| {
            let now = by_label(&s.counts);
            Recorded::find(recorded, &done.release, &s.name, &now, s.trials)
                .map(|rec| (s.name.clone(), now, rec))
        })
        .collect();
    let compared = comparisons.len();
    let differ = comparisons
        .into_iter()
        .filter(|(_, _, rec)| !rec.differ.is_empty())
        .map(|(scenario, now, recorded)| Difference {
            scenario,
            now,
            recorded,
        })
        .collect();
    let wall = done.total.as_secs_f64();
    Ok(Kernel {
        compared,
        differ,
        spec: done.spec.clone(),
        release: done.release.clone(),
        virtualization: file.environment.virtualization.clone(),
        scenarios: run.len(),
        trials,
        boot_s: done.boot.as_secs_f64(),
        wall_s: wall,
        trials_per_second: trials as f64 / wall,
        // Boot, set-up and power-off stay; the scenarios' time scales with their trials.
        projected_wall_s: (wall - scenarios_s).max(0.0) + projected_scenarios_s,
    })
}

/// Seconds until the last of `durations` ends when `jobs` workers take them in order, each the
/// next as soon as it is free: how the matrix schedules its kernels.
fn scheduled(durations: &[f64], jobs: usize) -> f64 {
    let mut free_at = vec![0.0_f64; jobs.max(1)];
    for duration in durations {
        let worker = free_at
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("at least one worker");
        *worker += duration;
    }
    free_at.into_iter().fold(0.0, f64::max)
}

/// The human rendering.
pub fn render(throughput: &Throughput) -> String {
    let mut out = String::new();
    for k in &throughput.kernels {
        out.push_str(&format!(
            "{:<12} {:<22} {}: {} scenarios, {} trials in {:.1}s (boot {:.1}s): {:.2} trials/s; with {} trials a scenario ≈ {:.0}s\n",
            k.spec,
            k.release,
            k.virtualization,
            k.scenarios,
            k.trials,
            k.wall_s,
            k.boot_s,
            k.trials_per_second,
            throughput.goal_trials,
            k.projected_wall_s
        ));
    }
    for k in &throughput.kernels {
        out.push_str(&format!(
            "{:<12} outcomes: {} of {} scenarios agree with the results recorded for {} (95% intervals)\n",
            k.spec,
            k.compared - k.differ.len(),
            k.compared,
            k.release
        ));
        for d in &k.differ {
            out.push_str(&format!(
                "  DIFFERS {} in {}: now {}; recorded {} ({} trials)\n",
                d.scenario,
                d.recorded.differ.join(", "),
                counts_text(&d.now),
                counts_text(&d.recorded.outcomes),
                d.recorded.trials
            ));
        }
    }
    out.push_str(&format!(
        "matrix: {} kernel(s), {} at a time, --trials {}: {:.1}s wall, {:.2} trials/s{}\n",
        throughput.kernels.len(),
        throughput.jobs,
        throughput.trials,
        throughput.wall_s,
        throughput.trials_per_second,
        if throughput.failures > 0 {
            format!("; {} kernel(s) FAILED", throughput.failures)
        } else {
            String::new()
        }
    ));
    out.push_str(&format!(
        "projected with {} trials a scenario: {:.0}s for these kernels, {} at a time (goal: {:.0}s for the 4 Debian kernels under TCG)\n",
        throughput.goal_trials,
        throughput.projected_wall_s,
        throughput.jobs,
        throughput.goal_wall_s
    ));
    out
}

/// The four Debian kernels the goal names.
pub fn goal_kernels() -> Vec<Spec> {
    crate::vm::kernel::SERIES.iter().map(Spec::Debian).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_scheduled_in_order_on_the_first_free_worker() {
        assert_eq!(scheduled(&[10.0, 4.0, 3.0, 5.0], 2), 12.0);
        assert_eq!(scheduled(&[10.0, 4.0], 1), 14.0);
        assert_eq!(scheduled(&[], 2), 0.0);
    }
}
