//! The content of the report, built once from the runs and rendered by both the Markdown and the
//! HTML writer: the headline tables, one table per scenario, the differences between runs and the
//! environments. Every cell is text derived from the results files.

use std::collections::BTreeSet;

use crate::outcome::Outcome;
use crate::report::class::{self, Class};
use crate::report::runs::Run;
use crate::results::ScenarioResult;
use crate::scenario::Target;
use crate::summary::micros;

/// A table of text cells; a cell's line breaks are kept by both writers.
pub struct Table {
    /// Column headings.
    pub head: Vec<String>,
    /// Rows, each as long as `head`.
    pub rows: Vec<Vec<String>>,
}

/// One run's headline: update method × target → outcome.
pub struct Headline {
    /// The run's label.
    pub run: String,
    /// Rows: methods; columns: targets.
    pub table: Table,
}

/// One scenario across runs.
pub struct ScenarioSection<'a> {
    /// The most recent entry of the scenario in any run, for its name, description, explanation.
    pub about: &'a ScenarioResult,
    /// Rows: runs; columns: outcome labels, time to death, new process, verdict.
    pub table: Table,
    /// What dying victims printed, as (run label, message).
    pub messages: Vec<(String, String)>,
    /// How victims died and the evidence, as (run label, one line per cause), and why a run has
    /// no kernel lines where it has none.
    pub deaths: Vec<(String, String)>,
}

/// A scenario whose dominant outcome class differs between runs that differ in one thing.
pub struct Difference<'a> {
    /// What the compared runs differ in, e.g. `kernels, on tmpfs` or `filesystems, on 6.1.0-28`.
    pub between: String,
    /// The scenario.
    pub about: &'a ScenarioResult,
    /// Per run that measured it: (run label, headline cell).
    pub outcomes: Vec<(String, String)>,
}

/// The whole report.
pub struct Report<'a> {
    /// The runs, sorted.
    pub runs: &'a [Run],
    /// Number of results files read.
    pub files: usize,
    /// One headline per run.
    pub headlines: Vec<Headline>,
    /// One section per scenario name, sorted by name.
    pub scenarios: Vec<ScenarioSection<'a>>,
    /// Scenarios that behave differently between runs.
    pub differences: Vec<Difference<'a>>,
    /// One row per run.
    pub environments: Table,
}

/// The system-call methods in the order the headline lists them, with the tools that update files
/// the same way.
const METHODS: [(&str, &str); 5] = [
    ("truncate-write", "cp"),
    ("unlink-create", "install"),
    ("temp-rename", "mv, dpkg, rpm"),
    ("inplace-write", "dd conv=notrunc, rsync --inplace"),
    ("truncate", "truncate -s 0"),
];

/// How the headline names a method: the tools behind a system-call method, or the real command.
pub fn method_label(method: &str) -> String {
    match METHODS.iter().find(|(name, _)| *name == method) {
        Some((name, tools)) => format!("{tools} ({name})"),
        None => format!("`{method}`"),
    }
}

fn rate_cell(result: &ScenarioResult, label: &Outcome) -> String {
    match result.rates.get(label) {
        Some(rate) => format!(
            "{}/{} = {:.1}% [{:.1}–{:.1}%]",
            rate.k,
            rate.n,
            rate.rate * 100.0,
            rate.ci95_low * 100.0,
            rate.ci95_high * 100.0
        ),
        None => format!("0/{}", result.trials),
    }
}

fn headline(run: &Run) -> Table {
    let results: Vec<&ScenarioResult> = run.scenarios.values().collect();
    let targets: BTreeSet<String> = results.iter().map(|r| r.target.to_string()).collect();
    let targets: Vec<Target> = [
        Target::Exe,
        Target::Lib,
        Target::LinkedLib,
        Target::Interp,
        Target::Data,
    ]
    .into_iter()
    .filter(|t| targets.contains(&t.to_string()))
    .collect();
    let mut methods: Vec<&str> = METHODS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| results.iter().any(|r| r.method == *name))
        .collect();
    let commands: BTreeSet<&str> = results
        .iter()
        .map(|r| r.method.as_str())
        .filter(|m| !METHODS.iter().any(|(name, _)| name == m))
        .collect();
    methods.extend(commands);
    let mut head = vec!["update method".to_string()];
    head.extend(targets.iter().map(|t| t.to_string()));
    let rows = methods
        .iter()
        .map(|method| {
            let mut row = vec![method_label(method)];
            for target in &targets {
                let cell: Vec<&ScenarioResult> = results
                    .iter()
                    .copied()
                    .filter(|r| r.method == *method && r.target == *target)
                    .collect();
                // A scenario this run could not run (e.g. a lower-layer one off overlay) is
                // named only when nothing else in the cell ran.
                let ran: Vec<&ScenarioResult> = cell
                    .iter()
                    .copied()
                    .filter(|r| r.not_run.is_none())
                    .collect();
                let cell = if ran.is_empty() { cell } else { ran };
                row.push(match cell.as_slice() {
                    [] => "—".to_string(),
                    [one] => class::headline(one),
                    many => many
                        .iter()
                        .map(|r| format!("{}: {}", r.name, class::headline(r)))
                        .collect::<Vec<_>>()
                        .join("\n"),
                });
            }
            row
        })
        .collect();
    Table { head, rows }
}

fn scenario_section<'a>(runs: &'a [Run], name: &str) -> ScenarioSection<'a> {
    let entries: Vec<(&Run, &ScenarioResult)> = runs
        .iter()
        .filter_map(|run| run.scenarios.get(name).map(|r| (run, r)))
        .collect();
    let about = entries
        .iter()
        .map(|(_, r)| *r)
        .max_by_key(|r| r.finished_at)
        .expect("a scenario section has at least one entry");
    let labels: BTreeSet<&Outcome> = entries.iter().flat_map(|(_, r)| r.counts.keys()).collect();
    let mut labels: Vec<&Outcome> = labels.into_iter().collect();
    labels.sort_by_key(|label| Class::of(label));
    let deaths = entries.iter().any(|(_, r)| r.time_to_death_us.is_some());
    let new_process = entries.iter().any(|(_, r)| r.new_process.is_some());
    let mut head = vec!["run".to_string(), "trials".to_string()];
    head.extend(labels.iter().map(|l| l.to_string()));
    if deaths {
        head.extend(["death p50", "death p90", "death max"].map(String::from));
    }
    if new_process {
        head.push("new process got".to_string());
    }
    head.push("as expected".to_string());
    let mut rows = Vec::new();
    let mut messages = Vec::new();
    let mut death_lines = Vec::new();
    for run in runs {
        let Some(result) = run.scenarios.get(name) else {
            let mut row = vec![run.label.clone(), "not measured".to_string()];
            row.resize(head.len(), String::new());
            rows.push(row);
            continue;
        };
        let mut row = vec![run.label.clone(), result.trials.to_string()];
        row.extend(labels.iter().map(|label| rate_cell(result, label)));
        if deaths {
            match &result.time_to_death_us {
                Some(p) => row.extend([micros(p.p50), micros(p.p90), micros(p.max)]),
                None => row.extend(["—", "—", "—"].map(String::from)),
            }
        }
        if new_process {
            row.push(match &result.new_process {
                Some(new) => format!(
                    "new {}/{}, old {}, mixed {}, failed to start {}",
                    new.saw_new, new.started, new.saw_old, new.mixed, new.failed_to_start
                ),
                None => "—".to_string(),
            });
        }
        row.push(
            if result.verdict.as_expected {
                "yes"
            } else {
                "NO"
            }
            .to_string(),
        );
        rows.push(row);
        death_lines.extend(
            result
                .deaths
                .iter()
                .map(|cause| (run.label.clone(), cause.describe())),
        );
        if let (Some(why), false) = (&result.kernel_log, result.deaths.is_empty()) {
            death_lines.push((run.label.clone(), format!("kernel log not read: {why}")));
        }
        messages.extend(
            result
                .victim_messages
                .iter()
                .map(|m| (run.label.clone(), m.clone())),
        );
    }
    ScenarioSection {
        about,
        table: Table { head, rows },
        messages,
        deaths: death_lines,
    }
}

/// Scenarios whose dominant outcome differs between kernels on one filesystem, then between
/// filesystems on one kernel release; scenarios a run did not run are left out.
fn differences<'a>(sections: &[ScenarioSection<'a>], runs: &'a [Run]) -> Vec<Difference<'a>> {
    let filesystems: BTreeSet<&str> = runs
        .iter()
        .map(|r| r.environment.filesystem.as_str())
        .collect();
    let releases: BTreeSet<&str> = runs
        .iter()
        .map(|r| r.environment.kernel_release.as_str())
        .collect();
    let mut groups: Vec<(String, Vec<&Run>)> = Vec::new();
    for fs in filesystems {
        let group: Vec<&Run> = runs
            .iter()
            .filter(|r| r.environment.filesystem == fs)
            .collect();
        groups.push((format!("kernels, on {fs}"), group));
    }
    for release in releases {
        let group: Vec<&Run> = runs
            .iter()
            .filter(|r| r.environment.kernel_release == release)
            .collect();
        groups.push((format!("filesystems, on {release}"), group));
    }
    let mut found = Vec::new();
    for (between, group) in groups.into_iter().filter(|(_, g)| g.len() > 1) {
        for section in sections {
            let measured: Vec<(&Run, &ScenarioResult)> = group
                .iter()
                .filter_map(|run| run.scenarios.get(&section.about.name).map(|r| (*run, r)))
                .filter(|(_, r)| r.not_run.is_none())
                .collect();
            let dominant: BTreeSet<Option<Class>> =
                measured.iter().map(|(_, r)| class::dominant(r)).collect();
            if dominant.len() > 1 {
                found.push(Difference {
                    between: between.clone(),
                    about: section.about,
                    outcomes: measured
                        .iter()
                        .map(|(run, r)| (run.label.clone(), class::headline(r)))
                        .collect(),
                });
            }
        }
    }
    found
}

fn environments(runs: &[Run]) -> Table {
    let head = [
        "run",
        "kernel build",
        "arch",
        "work dir",
        "libc",
        "CPU",
        "memory",
        "distribution",
        "writer and victims",
        "commands confined",
        "clobber",
        "results files",
    ]
    .map(String::from)
    .to_vec();
    let rows = runs
        .iter()
        .map(|run| {
            let env = &run.environment;
            vec![
                run.label.clone(),
                env.kernel_version.clone(),
                env.arch.clone(),
                env.filesystem.clone(),
                env.libc.clone(),
                format!("{} × {}", env.cpus, env.cpu),
                format!("{} MiB", env.memory_mib),
                env.distribution.clone(),
                env.placement.clone(),
                env.confinement.clone(),
                env.clobber_version.clone(),
                run.sources.join("\n"),
            ]
        })
        .collect();
    Table { head, rows }
}

impl<'a> Report<'a> {
    /// Builds the report of `runs`, read from `files` results files.
    pub fn new(runs: &'a [Run], files: usize) -> Report<'a> {
        let names: BTreeSet<&str> = runs
            .iter()
            .flat_map(|run| run.scenarios.keys().map(String::as_str))
            .collect();
        let scenarios: Vec<ScenarioSection> = names
            .into_iter()
            .map(|name| scenario_section(runs, name))
            .collect();
        Report {
            runs,
            files,
            headlines: runs
                .iter()
                .map(|run| Headline {
                    run: run.label.clone(),
                    table: headline(run),
                })
                .collect(),
            differences: differences(&scenarios, runs),
            scenarios,
            environments: environments(runs),
        }
    }
}
