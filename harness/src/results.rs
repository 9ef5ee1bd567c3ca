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
use crate::outcome::{matches, Outcome};
use crate::runner::{NewProcess, Trial};
use crate::scenario::{Binding, Expectation, Scenario, Share, Target, Update};
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

/// How many surviving victims a restart checker (needrestart, `lsof +L1`) can find.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct RestartDetection {
    /// Victims alive after an update that went through.
    pub survivors: u64,
    /// Of those, victims whose mapping of the old file is marked "(deleted)" or has an inode the
    /// path no longer has.
    pub visible: u64,
    /// Survivors that saw new or mixed content (`saw-new`).
    pub changed: u64,
    /// Of those, the ones a restart checker can find.
    pub changed_visible: u64,
}

/// One trial of a scenario with several victims.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct BlastTrial {
    /// Victims that died.
    pub died: u64,
    /// Victims in the trial.
    pub victims: u64,
    /// Microseconds from the start of the update to the first death.
    pub first_us: Option<u64>,
    /// ... to the median death (of those that died).
    pub median_us: Option<u64>,
    /// ... to the last death.
    pub last_us: Option<u64>,
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
    /// Update method (e.g. `truncate-write`), or the command run (e.g. `cp {new} {target}`).
    pub method: String,
    /// Target kind.
    pub target: Target,
    /// Mapping or binding of the victim, where the target has one.
    pub victim: String,
    /// Why the scenario was not run (e.g. `rsync not found`); no counts then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
    /// Number of trials.
    pub trials: u64,
    /// Victims per trial; counts and rates are per victim, so they add up to trials × victims.
    #[serde(default = "one")]
    pub victims_per_trial: u64,
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
    /// Whether surviving victims are visible to restart checkers.
    #[serde(default)]
    pub restart_detection: Option<RestartDetection>,
    /// Per trial, for scenarios with several victims.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blast: Vec<BlastTrial>,
    /// Distinct messages (at most 5): the last stderr line of a dying victim, e.g. the loader's
    /// complaint, or the first stderr line of a refused command.
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

fn one() -> u64 {
    1
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn victim_description(scenario: &Scenario) -> String {
    match scenario.file.target {
        Target::Lib => "dlopen now".into(),
        Target::LinkedLib => match scenario.binding() {
            Binding::Now => "linked (DT_NEEDED)".into(),
            Binding::Lazy => "linked (DT_NEEDED), lazy binding".into(),
        },
        Target::Interp => "PT_INTERP, dlopen loop".into(),
        Target::Exe => "exec".into(),
        Target::Data => format!("mmap {:?}", scenario.mapping()).to_lowercase(),
    }
}

fn method_name(scenario: &Scenario) -> String {
    match scenario.update() {
        Update::Syscalls(method) => method.to_string(),
        Update::Command(argv) => argv.join(" "),
    }
}

fn blast_trial(trial: &Trial) -> BlastTrial {
    let mut deaths: Vec<u64> = trial.victims.iter().filter_map(|v| v.death_us).collect();
    deaths.sort_unstable();
    BlastTrial {
        died: deaths.len() as u64,
        victims: trial.victims.len() as u64,
        first_us: deaths.first().copied(),
        median_us: (!deaths.is_empty()).then(|| deaths[(deaths.len() - 1) / 2]),
        last_us: deaths.last().copied(),
    }
}

impl ScenarioResult {
    /// Observations behind the counts: trials × victims per trial.
    pub fn observations(&self) -> u64 {
        self.trials * self.victims_per_trial
    }

    /// The entry of a scenario that could not run here, saying why.
    pub fn not_run(scenario: &Scenario, reason: String) -> ScenarioResult {
        let mut result = ScenarioResult::from_trials(scenario, &[], 0, 0);
        result.verdict = Verdict {
            as_expected: false,
            detail: format!("not run: {reason}"),
        };
        result.not_run = Some(reason);
        result
    }

    /// Summarises the trials of `scenario`.
    pub fn from_trials(
        scenario: &Scenario,
        trials: &[Trial],
        seed: u64,
        wall_ms: u64,
    ) -> ScenarioResult {
        let records: Vec<_> = trials.iter().flat_map(|t| t.victims.iter()).collect();
        let n = records.len() as u64;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for record in &records {
            *counts.entry(record.outcome.to_string()).or_default() += 1;
        }
        let rates = counts
            .iter()
            .map(|(label, k)| (label.clone(), Rate::new(*k, n)))
            .collect();
        let mut deaths: Vec<u64> = records.iter().filter_map(|r| r.death_us).collect();
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
        let survivors: Vec<_> = records
            .iter()
            .filter_map(|r| r.restart_visible.map(|v| (v, r.outcome == Outcome::SawNew)))
            .collect();
        let restart_detection = (!survivors.is_empty()).then(|| RestartDetection {
            survivors: survivors.len() as u64,
            visible: survivors.iter().filter(|(v, _)| *v).count() as u64,
            changed: survivors.iter().filter(|(_, c)| *c).count() as u64,
            changed_visible: survivors.iter().filter(|(v, c)| *v && *c).count() as u64,
        });
        let mut victim_messages: Vec<String> = Vec::new();
        for message in trials.iter().flat_map(|t| t.messages.iter()) {
            if victim_messages.len() < 5 && !victim_messages.contains(message) {
                victim_messages.push(message.clone());
            }
        }
        let blast = if scenario.victims() > 1 {
            trials.iter().map(blast_trial).collect()
        } else {
            Vec::new()
        };
        let verdict = judge(&scenario.file.expect, &counts, n, new_process.as_ref());
        ScenarioResult {
            name: scenario.name.clone(),
            description: scenario.file.description.clone(),
            explanation: scenario.file.explanation.clone(),
            method: method_name(scenario),
            target: scenario.file.target,
            victim: victim_description(scenario),
            not_run: None,
            trials: trials.len() as u64,
            victims_per_trial: u64::from(scenario.victims()),
            seed,
            counts,
            rates,
            time_to_death_us: Percentiles::of(&deaths),
            death_times_us: deaths,
            update_us: Percentiles::of(&updates),
            new_process,
            restart_detection,
            blast,
            victim_messages,
            expectation: scenario.file.expect.clone(),
            verdict,
            wall_ms,
            finished_at: unix_now(),
        }
    }
}

/// The results file for `release` in `dir`.
pub fn path_for(dir: &Path, release: &str) -> PathBuf {
    dir.join(format!("{release}.json"))
}

/// The results file for `release` measured on a chosen filesystem (`--fs`): results are keyed
/// by (kernel release, filesystem), so each filesystem has its own file.
pub fn path_for_fs(dir: &Path, release: &str, fs: &str) -> PathBuf {
    dir.join(format!("{release}.{fs}.json"))
}

/// Reads a results file; a file that does not parse is bad input naming the file.
pub fn read(path: &Path) -> Result<ResultsFile> {
    let text = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse(&text, path)?)
}

/// Parses the bytes of a results file read from `path` (named in the error).
pub fn parse(bytes: &[u8], path: &Path) -> Result<ResultsFile, BadInput> {
    let file: ResultsFile = serde_json::from_slice(bytes).map_err(|err| {
        BadInput(format!(
            "{}: not a clobber results file (line {}, column {}: {err}); move it away or fix it, it was left untouched",
            path.display(),
            err.line(),
            err.column()
        ))
    })?;
    if file.schema_version > SCHEMA_VERSION {
        return Err(BadInput(format!(
            "{}: schema_version {} is newer than this clobber understands ({SCHEMA_VERSION}); upgrade clobber",
            path.display(),
            file.schema_version
        )));
    }
    Ok(file)
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

/// Writes `entry` into the results file at `path` (see [`path_for`] and [`path_for_fs`]),
/// replacing an entry of the same name and keeping the others. Atomic: written to a temporary file
/// and renamed. A file of the same kernel release measured on another machine is never merged
/// into: that is bad input.
pub fn merge_into(
    path: &Path,
    environment: &Environment,
    entry: ScenarioResult,
) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = path.to_path_buf();
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
