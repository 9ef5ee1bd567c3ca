//! Results files: the JSON schema (one file per kernel release), turning trials into a scenario's
//! entry with counts, rates, timings and the verdict against its expectation, and the atomic merge
//! that replaces one scenario's entry and keeps the others.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::fcntl::{open, Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::error::BadInput;
use crate::outcome::{matches, Outcome};
use crate::release::Releases;
use crate::scenario::{Binding, Expectation, Scenario, Share, Target, Update, VictimKind};
use crate::stats::{Percentiles, Rate};
use crate::trial::{NewProcess, Trial, UpdateResult};

/// Version of this file format. 2: counts are per trial (blast-radius victims are counted
/// separately), every entry carries its environment, the update's own result, what new
/// processes got (mixed and failed to start apart) and the evidence of every death.
/// Version 1 files are still read.
pub const SCHEMA_VERSION: u32 = 2;

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
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct NewProcessCounts {
    /// Trials in which a new process was started after the update.
    pub started: u64,
    /// New processes that got the new version.
    pub saw_new: u64,
    /// New processes that got the old version.
    pub saw_old: u64,
    /// New processes that got content that is neither version entirely. Default (version 1
    /// files, which counted these as old): 0.
    #[serde(default)]
    pub mixed: u64,
    /// New processes that died before they were ready (called `died` in version 1 files).
    #[serde(alias = "died")]
    pub failed_to_start: u64,
    /// Trials in which the old process still ran the old version after the new one started.
    pub old_unchanged: u64,
    /// What new processes that failed to start said first (distinct lines, at most 3), e.g. the
    /// loader's complaint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
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

/// What the updates themselves did.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct UpdateCounts {
    /// Trials in which the update went through.
    pub applied: u64,
    /// Trials in which it was refused, per errno.
    pub refused: BTreeMap<String, u64>,
    /// Trials in which the command failed without naming an errno.
    pub failed: u64,
}

/// The deaths that share an outcome and a cause, with the evidence for them.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct DeathCause {
    /// How the victims died.
    pub outcome: Outcome,
    /// Where they faulted, e.g. `libvictim.so+0x1062a`; None without a kernel line that says.
    pub fault: Option<String>,
    /// What the old and the new version have there.
    pub explanation: Option<String>,
    /// Victims that died so.
    pub count: u64,
    /// Of those, the ones whose death the kernel logged a line about.
    pub with_kernel_line: u64,
    /// One such line, as the kernel wrote it.
    pub kernel_line: Option<String>,
}

impl DeathCause {
    /// One line for people: how many died how, where, and what the evidence says; a death that
    /// nothing explains (no kernel line, no file) is called unexplained, never folded into a
    /// neighbouring cause.
    pub fn describe(&self) -> String {
        let place = match (&self.fault, &self.explanation, &self.outcome) {
            (Some(fault), Some(why), _) => format!("died executing {fault}: {why}"),
            (Some(fault), None, _) => format!("faulted at {fault}"),
            (None, _, _) if self.with_kernel_line > 0 => "the kernel logged it, naming no file".into(),
            (None, _, Outcome::Killed(libc::SIGBUS)) => {
                "no kernel line: x86 logs none for SIGBUS, the signal of a mapped page past the file's end at that moment".into()
            }
            (None, _, Outcome::Killed(libc::SIGSEGV | libc::SIGILL)) => {
                "no kernel line: the kernel rate-limits them (10 per 5 s)".into()
            }
            (None, _, Outcome::Exited(_)) => "exited by itself: see what it said".into(),
            (None, _, _) => "UNEXPLAINED: no kernel line names a cause".into(),
        };
        format!(
            "{} × {}: {place} ({} of {} with a kernel line)",
            self.count, self.outcome, self.with_kernel_line, self.count
        )
    }
}

/// One trial of a scenario with several victims.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct BlastTrial {
    /// Victims that died.
    pub died: u64,
    /// Victims in the trial.
    pub victims: u64,
    /// Victims per outcome. Default (version 1 files): empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<Outcome, u64>,
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
    /// Number of trials: independent updates, the n of every rate.
    pub trials: u64,
    /// Victims per trial. With several, a trial's outcome is the one most of its victims had;
    /// `victim_counts` and `blast` keep the per-victim detail.
    #[serde(default = "one")]
    pub victims_per_trial: u64,
    /// Seed of the random update delay.
    pub seed: u64,
    /// Where this entry was measured. Default (version 1 files): the file's environment, filled
    /// in when read.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Trials per outcome.
    pub counts: BTreeMap<Outcome, u64>,
    /// Rate and 95% Wilson interval per outcome, over trials.
    pub rates: BTreeMap<Outcome, Rate>,
    /// Victims per outcome, for scenarios with several victims per trial (not independent: no
    /// intervals).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub victim_counts: BTreeMap<Outcome, u64>,
    /// What the updates themselves did. Default (version 1 files): None.
    #[serde(default)]
    pub updates: Option<UpdateCounts>,
    /// Microseconds from the start of the update to a victim's death, over victims that died.
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
    /// The deaths grouped by outcome and cause, with their evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deaths: Vec<DeathCause>,
    /// Why the kernel's log lines are missing from the evidence (e.g. not readable by this
    /// user); None when they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_log: Option<String>,
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
    /// For scenarios on a real library: its two releases, package versions, file hashes and what
    /// the victims reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<Releases>,
    /// Victims per program and outcome, for scenarios whose victims are real programs too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kind_counts: BTreeMap<VictimKind, BTreeMap<Outcome, u64>>,
    /// Wall-clock milliseconds of the whole scenario.
    pub wall_ms: u64,
    /// Wall-clock microseconds per trial (the whole scenario over its trials), so that a slow
    /// machine shows up. Default (older files): 0.
    #[serde(default)]
    pub us_per_trial: u64,
    /// Processes a trial starts (victims, the new process, a command and its guard). Default
    /// (older files): 0.
    #[serde(default)]
    pub spawns_per_trial: u64,
    /// Unix time (seconds) at which the scenario finished.
    pub finished_at: u64,
}

fn one() -> u64 {
    1
}

fn judge(
    expectation: &Expectation,
    counts: &BTreeMap<Outcome, u64>,
    trials: u64,
    new: Option<&NewProcessCounts>,
) -> Verdict {
    let matching: u64 = counts
        .iter()
        .filter(|(outcome, _)| expectation.outcomes.iter().any(|p| matches(p, outcome)))
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
        let new = new.cloned().unwrap_or_default();
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
        Target::Libc => {
            let programs: Vec<String> = scenario.programs().iter().map(|p| p.to_string()).collect();
            format!("private ld.so and libc: {}", programs.join(", "))
        }
        Target::Zlib => "linked (DT_NEEDED), rpath $ORIGIN".into(),
        Target::Sqlite => "linked (DT_NEEDED), rpath $ORIGIN, on trixie's glibc 2.41".into(),
        Target::PythonLib => "python3 imports the package, ctypes dlopen()s it".into(),
        Target::NodeAddon => "node require()s the package, which dlopen()s the addon".into(),
    }
}

fn method_name(scenario: &Scenario) -> String {
    match scenario.update() {
        Update::Syscalls(method) => method.to_string(),
        Update::Command(argv) => argv.join(" "),
    }
}

fn blast_trial(trial: &Trial) -> BlastTrial {
    let mut deaths: Vec<u64> = trial
        .victims
        .iter()
        .filter_map(|v| v.death.as_ref().map(|d| d.after_us))
        .collect();
    deaths.sort_unstable();
    let mut outcomes = BTreeMap::new();
    for label in trial.victim_labels() {
        *outcomes.entry(label).or_default() += 1;
    }
    BlastTrial {
        died: deaths.len() as u64,
        victims: trial.victims.len() as u64,
        outcomes,
        first_us: deaths.first().copied(),
        median_us: (!deaths.is_empty()).then(|| deaths[(deaths.len() - 1) / 2]),
        last_us: deaths.last().copied(),
    }
}

fn update_counts(trials: &[Trial]) -> UpdateCounts {
    let mut counts = UpdateCounts::default();
    for trial in trials {
        match &trial.update {
            UpdateResult::Applied => counts.applied += 1,
            UpdateResult::Refused { errno, .. } => {
                *counts.refused.entry(errno.clone()).or_default() += 1
            }
            UpdateResult::Failed { .. } => counts.failed += 1,
        }
    }
    counts
}

fn new_process_counts(trials: &[Trial]) -> NewProcessCounts {
    let mut counts = NewProcessCounts::default();
    for (got, old_unchanged) in trials.iter().filter_map(|t| t.new_process.as_ref()) {
        counts.started += 1;
        match got {
            NewProcess::GotNew => counts.saw_new += 1,
            NewProcess::GotOld => counts.saw_old += 1,
            NewProcess::Mixed => counts.mixed += 1,
            NewProcess::FailedToStart(_, said) => {
                counts.failed_to_start += 1;
                if let Some(line) = said.as_ref().filter(|l| !counts.failures.contains(l)) {
                    if counts.failures.len() < 3 {
                        counts.failures.push(line.clone());
                    }
                }
            }
        }
        counts.old_unchanged += u64::from(*old_unchanged);
    }
    counts
}

/// The deaths of `trials` grouped by outcome, faulting place and explanation, most frequent
/// first.
fn death_causes(trials: &[Trial]) -> Vec<DeathCause> {
    let mut causes: Vec<DeathCause> = Vec::new();
    for trial in trials {
        for victim in &trial.victims {
            let Some(death) = &victim.death else {
                continue;
            };
            let evidence = &death.evidence;
            let index = causes.iter().position(|c| {
                c.outcome == victim.fate
                    && c.fault == evidence.fault
                    && c.explanation == evidence.explanation
            });
            let cause = match index {
                Some(index) => &mut causes[index],
                None => {
                    causes.push(DeathCause {
                        outcome: victim.fate.clone(),
                        fault: evidence.fault.clone(),
                        explanation: evidence.explanation.clone(),
                        count: 0,
                        with_kernel_line: 0,
                        kernel_line: None,
                    });
                    causes.last_mut().expect("just pushed")
                }
            };
            cause.count += 1;
            if let Some(line) = &evidence.kernel_line {
                cause.with_kernel_line += 1;
                cause.kernel_line.get_or_insert_with(|| line.clone());
            }
        }
    }
    causes.sort_by(|a, b| b.count.cmp(&a.count).then(a.outcome.cmp(&b.outcome)));
    causes
}

impl ScenarioResult {
    /// Per program kind, its victims' outcomes as `label k/n` (e.g. `killed:SIGBUS 88/100`).
    pub fn by_program(&self) -> impl Iterator<Item = (VictimKind, String)> + '_ {
        self.kind_counts.iter().map(|(kind, counts)| {
            let of: u64 = counts.values().sum();
            let outcomes: Vec<String> = counts
                .iter()
                .map(|(outcome, k)| format!("{outcome} {k}/{of}"))
                .collect();
            (*kind, outcomes.join(", "))
        })
    }

    /// The entry of a scenario that could not run here, saying why.
    pub fn not_run(
        scenario: &Scenario,
        environment: &Environment,
        reason: String,
    ) -> ScenarioResult {
        let mut result = ScenarioResult::from_trials(scenario, environment, &[], 0, 0);
        result.verdict = Verdict {
            as_expected: false,
            detail: format!("not run: {reason}"),
        };
        result.not_run = Some(reason);
        result
    }

    /// Summarises the trials of `scenario`, measured in `environment`.
    pub fn from_trials(
        scenario: &Scenario,
        environment: &Environment,
        trials: &[Trial],
        seed: u64,
        wall_ms: u64,
    ) -> ScenarioResult {
        let n = trials.len() as u64;
        let mut counts: BTreeMap<Outcome, u64> = BTreeMap::new();
        for trial in trials {
            *counts.entry(trial.outcome()).or_default() += 1;
        }
        let rates = counts
            .iter()
            .map(|(outcome, k)| (outcome.clone(), Rate::new(*k, n)))
            .collect();
        let several = scenario.victims() > 1;
        let mut victim_counts: BTreeMap<Outcome, u64> = BTreeMap::new();
        if several {
            for label in trials.iter().flat_map(Trial::victim_labels) {
                *victim_counts.entry(label).or_default() += 1;
            }
        }
        let records: Vec<_> = trials.iter().flat_map(|t| t.victims.iter()).collect();
        let mut deaths: Vec<u64> = records
            .iter()
            .filter_map(|r| r.death.as_ref().map(|d| d.after_us))
            .collect();
        deaths.sort_unstable();
        let updates: Vec<u64> = trials.iter().map(|t| t.update_us).collect();
        let new_process = scenario
            .file
            .new_process
            .then(|| new_process_counts(trials));
        let survivors: Vec<_> = records
            .iter()
            .filter_map(|r| r.restart_visible.map(|v| (v, r.fate == Outcome::SawNew)))
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
        let blast = if several {
            trials.iter().map(blast_trial).collect()
        } else {
            Vec::new()
        };
        let mut kind_counts: BTreeMap<VictimKind, BTreeMap<Outcome, u64>> = BTreeMap::new();
        if scenario.file.programs.is_some() {
            for trial in trials {
                for (record, label) in trial.victims.iter().zip(trial.victim_labels()) {
                    *kind_counts
                        .entry(record.kind)
                        .or_default()
                        .entry(label)
                        .or_default() += 1;
                }
            }
        }
        let verdict = judge(&scenario.file.expect, &counts, n, new_process.as_ref());
        ScenarioResult {
            name: scenario.name.clone(),
            description: scenario.file.description.clone(),
            explanation: scenario.file.explanation.clone(),
            method: method_name(scenario),
            target: scenario.file.target,
            victim: victim_description(scenario),
            not_run: None,
            trials: n,
            victims_per_trial: u64::from(scenario.victims()),
            seed,
            environment: Some(environment.clone()),
            counts,
            rates,
            victim_counts,
            updates: (!trials.is_empty()).then(|| update_counts(trials)),
            time_to_death_us: Percentiles::of(&deaths),
            death_times_us: deaths,
            update_us: Percentiles::of(&updates),
            new_process,
            restart_detection,
            deaths: death_causes(trials),
            kernel_log: None,
            blast,
            victim_messages,
            expectation: scenario.file.expect.clone(),
            verdict,
            releases: None,
            kind_counts,
            wall_ms,
            us_per_trial: (wall_ms * 1000).checked_div(n).unwrap_or(0),
            spawns_per_trial: u64::from(scenario.spawns_per_trial()),
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
    let text = crate::input::read_regular(path).map_err(|err| {
        BadInput(format!(
            "{}: cannot read it as a results file: {err}; it was left untouched",
            path.display()
        ))
    })?;
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
    Ok(upgrade(file))
}

/// Brings a file of an older schema version to this one's model: version 1 entries were measured
/// in the file's environment, and counted every victim of a blast-radius trial as a trial of its
/// own, so their per-victim counts move to `victim_counts` and their rates, which claimed an n
/// that was not there, are dropped.
fn upgrade(mut file: ResultsFile) -> ResultsFile {
    if file.schema_version < 2 {
        for entry in &mut file.scenarios {
            entry
                .environment
                .get_or_insert_with(|| file.environment.clone());
            if entry.victims_per_trial > 1 {
                entry.victim_counts = std::mem::take(&mut entry.counts);
                entry.rates.clear();
            }
        }
    }
    file
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

/// Name of the lock file in a results directory, held across every read-merge-write.
const LOCK_NAME: &str = ".clobber.lock";
/// Prefix of the temporary files a merge writes before renaming them into place.
const TEMP_PREFIX: &str = ".clobber-tmp-";

/// The results directory's lock, held until dropped.
pub struct DirLock {
    _lock: Flock<File>,
}

/// Takes the lock of results directory `dir` (created if needed), waiting for another clobber
/// that holds it. Fails as bad input, before anything runs, when `dir` is not a directory or
/// this user cannot write there.
pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    let unusable = |why: String| BadInput(format!("results directory {}: {why}", dir.display()));
    if let Err(err) = fs::create_dir_all(dir) {
        return Err(unusable(err.to_string()).into());
    }
    if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Err(unusable("not a directory".into()).into());
    }
    let path = dir.join(LOCK_NAME);
    let fd = open(
        &path,
        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .map_err(|errno| unusable(format!("cannot create {LOCK_NAME}: {}", errno.desc())))?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    let file = unsafe { File::from_raw_fd(fd) };
    if nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_err() {
        return Err(unusable("this user cannot write there".into()).into());
    }
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| anyhow::anyhow!("locking {}: {}", path.display(), errno.desc()))?;
    Ok(DirLock { _lock: lock })
}

/// Removes temporary files that a merge killed before its rename left in `dir`; the caller holds
/// the directory's lock, so no merge is writing one.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && entry.file_type().is_ok_and(|t| t.is_file());
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `entry` into the results file at `path` (see [`path_for`] and [`path_for_fs`]),
/// replacing an entry of the same name and keeping the others. Two clobbers merging into one
/// directory lose nothing: the directory's lock is held across read, merge and write. Atomic:
/// written to a temporary file, fsynced, renamed, and the directory fsynced, so a reader never
/// sees half a file. A file of the same kernel release measured on another machine is never
/// merged into: that is bad input.
pub fn merge_into(
    path: &Path,
    environment: &Environment,
    entry: ScenarioResult,
) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let _lock = lock_dir(dir)?;
    remove_stale_temporaries(dir);
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
    // The file's environment is that of its latest run; each entry keeps its own.
    file.environment = environment.clone();
    file.scenarios.retain(|s| s.name != entry.name);
    file.scenarios.push(entry);
    file.scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    serde_json::to_writer_pretty(&mut temp, &file)?;
    temp.write_all(b"\n")?;
    temp.as_file().sync_all()?;
    temp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    temp.persist(&path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync of {}", dir.display()))?;
    Ok(path)
}
