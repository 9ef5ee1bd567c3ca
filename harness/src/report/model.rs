//! The content of the report, built once from the runs and rendered by both the Markdown and the
//! HTML writer: the findings, the table of scenarios × runs, the charts, the commands that
//! reproduce the data, and the details: one table per scenario and the environments. Every cell
//! is text derived from the results files.

use std::collections::BTreeSet;

use crate::outcome::Outcome;
use crate::report::class::Class;
use crate::report::filter::Filter;
use crate::report::findings;
use crate::report::pivot::{Pivot, Row};
use crate::report::reproduce::{self, Line};
use crate::report::runs::Run;
use crate::report::svg::{self, Chart};
use crate::report::text::Rich;
use crate::report::update::{Catalogue, Update};
use crate::results::ScenarioResult;
use crate::summary::micros;

/// A table of text cells; a cell's line breaks are kept by both writers.
pub struct Table {
    /// Column headings.
    pub head: Vec<String>,
    /// Rows, each as long as `head`.
    pub rows: Vec<Vec<String>>,
}

/// One scenario across runs.
pub struct ScenarioSection<'a> {
    /// The most recent entry of the scenario in any run, for its name, description, explanation.
    pub about: &'a ScenarioResult,
    /// How it updates its target.
    pub update: Update,
    /// Rows: the runs that measured the scenario; columns: outcome labels, time to death, new process, verdict.
    pub table: Table,
    /// What dying victims printed, as (run label, message).
    pub messages: Vec<(String, String)>,
    /// How victims died and the evidence, as (run label, one line per cause), and why a run has
    /// no kernel lines where it has none.
    pub deaths: Vec<(String, String)>,
    /// What else a run measured, as (run label, line): counts per program kind, the library
    /// releases, what new processes that could not start said.
    pub notes: Vec<(String, String)>,
}

/// The whole report.
pub struct Report<'a> {
    /// The runs, sorted.
    pub runs: &'a [Run],
    /// Number of results files read.
    pub files: usize,
    /// The table: a row per scenario, a column per run.
    pub pivot: Pivot<'a>,
    /// The headline findings.
    pub findings: Vec<Rich>,
    /// One section per scenario, in the table's order.
    pub scenarios: Vec<ScenarioSection<'a>>,
    /// One row per run.
    pub environments: Table,
    /// The commands that produced the data.
    pub reproduce: Vec<Line>,
    /// The charts, each also written as a file.
    pub charts: Vec<Chart>,
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

fn scenario_section<'a>(runs: &'a [Run], row: &Row<'a>) -> ScenarioSection<'a> {
    let about = row.about;
    let name = about.name.as_str();
    let entries: Vec<(&Run, &ScenarioResult)> = runs
        .iter()
        .filter_map(|run| run.scenarios.get(name).map(|r| (run, r)))
        .collect();
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
    head.push("cost per trial".to_string());
    head.push("as expected".to_string());
    let mut rows = Vec::new();
    let mut messages = Vec::new();
    let mut death_lines = Vec::new();
    let mut notes = Vec::new();
    for run in runs {
        // Runs without the scenario are in the main table already; here they would be noise.
        let Some(result) = run.scenarios.get(name) else {
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
        row.push(match (result.us_per_trial, result.spawns_per_trial) {
            (0, _) => "—".to_string(),
            (us, 1) => format!("{}, 1 process", micros(us)),
            (us, spawns) => format!("{}, {spawns} processes", micros(us)),
        });
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
        notes.extend(
            run_notes(result)
                .into_iter()
                .map(|n| (run.label.clone(), n)),
        );
    }
    ScenarioSection {
        about,
        update: row.update.clone(),
        table: Table { head, rows },
        messages,
        deaths: death_lines,
        notes,
    }
}

/// The lines of [`ScenarioSection::notes`] for one run's entry.
fn run_notes(result: &ScenarioResult) -> Vec<String> {
    let mut notes = Vec::new();
    if !result.kind_counts.is_empty() {
        let parts: Vec<String> = result
            .by_program()
            .map(|(kind, outcomes)| format!("{kind} {outcomes}"))
            .collect();
        notes.push(format!("by program: {}", parts.join("; ")));
    }
    if let Some(releases) = &result.releases {
        notes.push(format!("releases: {releases}"));
    }
    if let Some(new) = &result.new_process {
        notes.extend(
            new.failures
                .iter()
                .map(|line| format!("a new process could not start: {line}")),
        );
    }
    notes
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
        "tools",
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
                env.tools.values().cloned().collect::<Vec<_>>().join("\n"),
                run.sources.join("\n"),
            ]
        })
        .collect();
    Table { head, rows }
}

impl<'a> Report<'a> {
    /// Builds the report of `runs`, read from `files` results files and chosen by `filter`.
    pub fn new(runs: &'a [Run], files: usize, filter: &Filter) -> Report<'a> {
        let pivot = Pivot::new(runs, &Catalogue::builtin());
        let scenarios = pivot
            .groups
            .iter()
            .flat_map(|group| &group.rows)
            .map(|row| scenario_section(runs, row))
            .collect();
        Report {
            runs,
            files,
            findings: [findings::findings(&pivot), findings::by_program(runs)].concat(),
            charts: svg::charts(&pivot, runs),
            pivot,
            scenarios,
            environments: environments(runs),
            reproduce: reproduce::lines(runs, filter),
        }
    }
}
