//! Results files: the JSON schema (one file per kernel release), turning trials into a scenario's
//! entry with counts, rates, timings and the verdict against its expectation, and the atomic merge
//! that replaces one scenario's entry and keeps the others.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::error::BadInput;
use crate::method::Method;
use crate::outcome::matches;
use crate::runner::{NewProcess, Trial};
use crate::scenario::{Expectation, Scenario, Share, Target};
use crate::stats::{Percentiles, Rate};

/// Version of this file format.
pub const SCHEMA_VERSION: u32 = 1;

/// One results file: everything measured on one kernel release.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ResultsFile {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Where the latest scenario was measured.
    pub environment: Environment,
    /// One entry per scenario, sorted by name.
    pub scenarios: Vec<ScenarioResult>,
}

/// What processes started after the update got.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct NewProcessCounts {
    /// Trials in which a new process was started (the old victim survived the update).
    pub started: u64,
    /// New processes that got the new version.
    pub saw_new: u64,
    /// New processes that got the old version.
    pub saw_old: u64,
    /// New processes that died before they were ready.
    pub died: u64,
    /// Trials in which the old process still ran the old version after the new one started.
    pub old_unchanged: u64,
}

/// The comparison of a measurement with the scenario's expectation.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Verdict {
    /// Whether the measurement met the expectation.
    pub as_expected: bool,
    /// One sentence saying what was compared, with the counts.
    pub detail: String,
}

/// One scenario's measurement on one kernel.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ScenarioResult {
    /// Scenario name, e.g. `cp-over-lib`.
    pub name: String,
    /// The scenario's one-line description.
    pub description: String,
    /// What happens and why, from the scenario file. Default (older files): empty.
    #[serde(default)]
    pub explanation: String,
    /// Update method.
    pub method: Method,
    /// Target kind.
    pub target: Target,
    /// Mapping or binding of the victim, where the target has one.
    pub victim: String,
    /// Number of trials.
    pub trials: u64,
    /// Seed of the random update delay.
    pub seed: u64,
    /// Trials per outcome label.
    pub counts: BTreeMap<String, u64>,
    /// Rate and 95% Wilson interval per outcome label.
    pub rates: BTreeMap<String, Rate>,
    /// Microseconds from the start of the update to the victim's death, over trials that died.
    pub time_to_death_us: Option<Percentiles>,
    /// Every death time in microseconds, sorted, for distributions.
    pub death_times_us: Vec<u64>,
    /// Microseconds the update itself took.
    pub update_us: Option<Percentiles>,
    /// For scenarios that start a process after the update.
    pub new_process: Option<NewProcessCounts>,
    /// Distinct first lines of dying victims' stderr (at most 5), e.g. the loader's complaint.
    pub victim_messages: Vec<String>,
    /// The scenario's expectation.
    pub expectation: Expectation,
    /// The measurement compared with the expectation.
    pub verdict: Verdict,
    /// Wall-clock milliseconds of the whole scenario.
    pub wall_ms: u64,
    /// Unix time (seconds) at which the scenario finished.
    pub finished_at: u64,
}

fn judge(
    expectation: &Expectation,
    counts: &BTreeMap<String, u64>,
    trials: u64,
    new: Option<&NewProcessCounts>,
) -> Verdict {
    let matching: u64 = counts
        .iter()
        .filter(|(label, _)| expectation.outcomes.iter().any(|p| matches(p, label)))
        .map(|(_, count)| count)
        .sum();
    let (met, word) = match expectation.share {
        Share::All => (matching == trials, "all"),
        Share::Most => (matching * 2 > trials, "most"),
        Share::Some => (matching >= 1, "some"),
    };
    let mut detail = format!(
        "{matching}/{trials} trials ended in {} (expected: {word})",
        expectation.outcomes.join(" or ")
    );
    let mut as_expected = met;
    if let Some(sees_new) = expectation.new_process_sees_new {
        let new = new.cloned().unwrap_or(NewProcessCounts {
            started: 0,
            saw_new: 0,
            saw_old: 0,
            died: 0,
            old_unchanged: 0,
        });
        let hits = if sees_new { new.saw_new } else { new.saw_old };
        let ok = new.started > 0 && hits == new.started && new.old_unchanged == new.started;
        as_expected &= ok;
        detail.push_str(&format!(
            "; new processes got the {} version in {hits}/{} trials, old processes kept the old one in {}/{}",
            if sees_new { "new" } else { "old" },
            new.started,
            new.old_unchanged,
            new.started
        ));
    }
    Verdict {
        as_expected,
        detail,
    }
}

impl ScenarioResult {
    /// Summarises the trials of `scenario`.
    pub fn from_trials(
        scenario: &Scenario,
        trials: &[Trial],
        seed: u64,
        wall_ms: u64,
    ) -> ScenarioResult {
        let n = trials.len() as u64;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for trial in trials {
            *counts.entry(trial.outcome.to_string()).or_default() += 1;
        }
        let rates = counts
            .iter()
            .map(|(label, k)| (label.clone(), Rate::new(*k, n)))
            .collect();
        let mut deaths: Vec<u64> = trials.iter().filter_map(|t| t.death_us).collect();
        deaths.sort_unstable();
        let updates: Vec<u64> = trials.iter().map(|t| t.update_us).collect();
        let new_process = scenario.file.new_process.then(|| {
            let mut counts = NewProcessCounts {
                started: 0,
                saw_new: 0,
                saw_old: 0,
                died: 0,
                old_unchanged: 0,
            };
            for (got, old_unchanged) in trials.iter().filter_map(|t| t.new_process.as_ref()) {
                counts.started += 1;
                match got {
                    NewProcess::Saw(2) => counts.saw_new += 1,
                    NewProcess::Saw(_) => counts.saw_old += 1,
                    NewProcess::Died(_) => counts.died += 1,
                }
                counts.old_unchanged += u64::from(*old_unchanged);
            }
            counts
        });
        let mut victim_messages: Vec<String> = Vec::new();
        for message in trials.iter().filter_map(|t| t.message.as_ref()) {
            if victim_messages.len() < 5 && !victim_messages.contains(message) {
                victim_messages.push(message.clone());
            }
        }
        let victim = match scenario.file.target {
            Target::Lib => format!("dlopen {:?}", scenario.binding()).to_lowercase(),
            Target::Exe => "exec".into(),
            Target::Data => format!("mmap {:?}", scenario.mapping()).to_lowercase(),
        };
        let verdict = judge(&scenario.file.expect, &counts, n, new_process.as_ref());
        ScenarioResult {
            name: scenario.name.clone(),
            description: scenario.file.description.clone(),
            explanation: scenario.file.explanation.clone(),
            method: scenario.file.method,
            target: scenario.file.target,
            victim,
            trials: n,
            seed,
            counts,
            rates,
            time_to_death_us: Percentiles::of(&deaths),
            death_times_us: deaths,
            update_us: Percentiles::of(&updates),
            new_process,
            victim_messages,
            expectation: scenario.file.expect.clone(),
            verdict,
            wall_ms,
            finished_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// The results file for `release` in `dir`.
pub fn path_for(dir: &Path, release: &str) -> PathBuf {
    dir.join(format!("{release}.json"))
}

/// Reads a results file; a file that does not parse is bad input naming the file.
pub fn read(path: &Path) -> Result<ResultsFile> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| {
        BadInput(format!(
            "{}: not a clobber results file (line {}, column {}: {err}); move it away or fix it, it was left untouched",
            path.display(),
            err.line(),
            err.column()
        ))
        .into()
    })
}

/// Reads a results file to merge into from `environment`: one measured on another machine is bad
/// input, so that runs of one kernel release on two machines never mix.
pub fn read_own(path: &Path, environment: &Environment) -> Result<ResultsFile> {
    let file = read(path)?;
    let theirs = &file.environment.machine_id;
    if !theirs.is_empty() && *theirs != environment.machine_id {
        return Err(BadInput(format!(
            "{}: holds results of machine {theirs}, this is machine {}; give each machine its own --results directory (clobber report reads them all)",
            path.display(),
            environment.machine_id
        ))
        .into());
    }
    Ok(file)
}

/// Writes `entry` into the results file for `environment` in `dir`, replacing an entry of the same
/// name and keeping the others. Atomic: written to a temporary file and renamed. A file of the same
/// kernel release measured on another machine is never merged into: that is bad input.
pub fn merge(dir: &Path, environment: &Environment, entry: ScenarioResult) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = path_for(dir, &environment.kernel_release);
    let mut file = if path.exists() {
        read_own(&path, environment)?
    } else {
        ResultsFile {
            schema_version: SCHEMA_VERSION,
            environment: environment.clone(),
            scenarios: Vec::new(),
        }
    };
    file.schema_version = SCHEMA_VERSION;
    file.environment = environment.clone();
    file.scenarios.retain(|s| s.name != entry.name);
    file.scenarios.push(entry);
    file.scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    serde_json::to_writer_pretty(&mut temp, &file)?;
    temp.write_all(b"\n")?;
    temp.as_file().sync_all()?;
    temp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    temp.persist(&path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(path)
}
