//! The report's one table: a row per scenario, grouped by the target the results name, a column
//! per run, each cell the kind of most trials with k/n, and the cells that differ from their
//! row's majority marked.

use std::collections::{BTreeMap, BTreeSet};

use crate::report::class::{self, Kind};
use crate::report::runs::Run;
use crate::report::update::{Catalogue, Update};
use crate::results::ScenarioResult;
use crate::scenario::Target;
use crate::stats::Rate;

/// A run as a column: what it ran on.
pub struct Column {
    /// `uname -r` of the run.
    pub release: String,
    /// Filesystem of the work dir.
    pub filesystem: String,
    /// `no VM`, `qemu-tcg`, …
    pub virtualization: String,
    /// The machine's short id, when the report has runs of more than one machine.
    pub machine: Option<String>,
    /// The run's full label.
    pub label: String,
}

impl Column {
    /// The column's heading, one line per part.
    pub fn heading(&self) -> Vec<String> {
        let mut lines = vec![
            self.release.clone(),
            format!("{}, {}", self.filesystem, self.virtualization),
        ];
        lines.extend(self.machine.iter().map(|m| format!("machine {m}")));
        lines
    }

    /// The column on one line, e.g. `5.10.0-32-amd64 tmpfs`.
    pub fn short(&self) -> String {
        let mut short = format!("{} {}", self.release, self.filesystem);
        if let Some(machine) = &self.machine {
            short.push_str(&format!(" ({machine})"));
        }
        short
    }
}

/// A scenario measured in a run.
pub struct Measured {
    /// The kind of most trials (the more harmful one on a tie).
    pub kind: Kind,
    /// Trials of that kind out of all, with its interval.
    pub rate: Rate,
    /// Trials of the other kinds, harmful first.
    pub others: Vec<(Kind, u64)>,
    /// The words for the whole result, e.g. `crashes 17/20, silently mixed 3/20`.
    pub headline: String,
}

/// One cell of the table.
pub enum Cell {
    /// The scenario ran.
    Measured(Measured),
    /// The scenario could not run there, and why.
    NotRun(String),
    /// The run has no entry of the scenario.
    Missing,
}

impl Cell {
    fn of(result: &ScenarioResult) -> Cell {
        if let Some(reason) = &result.not_run {
            return Cell::NotRun(reason.clone());
        }
        let kinds = class::per_kind(result);
        let Some((&kind, &k)) = kinds
            .iter()
            .max_by(|(a, x), (b, y)| x.cmp(y).then(b.cmp(a)))
        else {
            return Cell::NotRun("no trials".into());
        };
        Cell::Measured(Measured {
            kind,
            rate: Rate::new(k, result.trials.max(1)),
            others: kinds
                .into_iter()
                .filter(|(other, _)| *other != kind)
                .collect(),
            headline: class::headline(result),
        })
    }

    /// The kind the cell shows.
    pub fn kind(&self) -> Kind {
        match self {
            Cell::Measured(measured) => measured.kind,
            Cell::NotRun(_) | Cell::Missing => Kind::NotRun,
        }
    }
}

impl Measured {
    /// The cell's text, e.g. `crash 17/20 + mixed 3`.
    pub fn text(&self, target: Target) -> String {
        let mut text = format!("{} {}/{}", self.kind.word(target), self.rate.k, self.rate.n);
        for (kind, count) in &self.others {
            text.push_str(&format!(" + {} {count}", kind.word(target)));
        }
        text
    }
}

/// A rate as a percentage with its 95% Wilson interval.
pub fn percent_with_interval(rate: &Rate) -> String {
    format!("{}% ({})", percent(rate.rate), interval(rate))
}

/// The 95% Wilson interval of a rate, e.g. `95% CI 83.9–100%`.
pub fn interval(rate: &Rate) -> String {
    format!(
        "95% CI {}–{}%",
        percent(rate.ci95_low),
        percent(rate.ci95_high)
    )
}

/// A share as a percentage with one decimal, whole numbers without it.
fn percent(share: f64) -> String {
    let text = format!("{:.1}", share * 100.0);
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// A scenario across runs.
pub struct Row<'a> {
    /// The scenario's most recent entry in any run (name, description, target).
    pub about: &'a ScenarioResult,
    /// How it updates its target.
    pub update: Update,
    /// One cell per column.
    pub cells: Vec<Cell>,
    /// The kind most measured cells show (the more harmful one on a tie).
    pub majority: Option<Kind>,
}

impl Row<'_> {
    /// Whether the cell in `column` was measured and shows another kind than the majority.
    pub fn differs(&self, column: usize) -> bool {
        match &self.cells[column] {
            Cell::Measured(measured) => self.majority != Some(measured.kind),
            Cell::NotRun(_) | Cell::Missing => false,
        }
    }

    /// The measured cells with their columns' indices.
    pub fn measured(&self) -> impl Iterator<Item = (usize, &Measured)> {
        self.cells.iter().enumerate().filter_map(|(i, c)| match c {
            Cell::Measured(measured) => Some((i, measured)),
            Cell::NotRun(_) | Cell::Missing => None,
        })
    }
}

/// The scenarios of one target.
pub struct Group<'a> {
    /// What they update.
    pub target: Target,
    /// One row per scenario, by name.
    pub rows: Vec<Row<'a>>,
}

/// The whole table.
pub struct Pivot<'a> {
    /// One column per run.
    pub columns: Vec<Column>,
    /// One group per target that any scenario has.
    pub groups: Vec<Group<'a>>,
}

/// The order in which groups are shown: executables, libraries, the interpreter, data.
fn target_rank(target: Target) -> u8 {
    match target {
        Target::Exe => 0,
        Target::Lib => 1,
        Target::LinkedLib => 2,
        Target::Interp => 3,
        Target::Data => 4,
        Target::Libc => 5,
        Target::Zlib => 6,
        Target::Sqlite => 7,
        Target::PythonLib => 8,
        Target::NodeAddon => 9,
    }
}

/// How the findings name the files of a target.
pub fn target_noun(target: Target) -> &'static str {
    match target {
        Target::Exe => "a running executable",
        Target::Lib => "a dlopen()ed library",
        Target::LinkedLib => "a linked library",
        Target::Interp => "the ELF interpreter (ld.so) of a running program",
        Target::Data => "a data file a running program maps",
        Target::Libc => "the C library (glibc 2.36 → 2.41) under running programs",
        Target::Zlib => "zlib (1.2.13 → 1.3.1) under a running program",
        Target::Sqlite => "SQLite (3.40 → 3.46) under a running program",
        Target::PythonLib => "a library a running Python program loaded with ctypes",
        Target::NodeAddon => "a native addon a running Node.js program loaded",
    }
}

impl<'a> Pivot<'a> {
    /// The table of `runs`.
    pub fn new(runs: &'a [Run], catalogue: &Catalogue) -> Pivot<'a> {
        let machines: BTreeSet<&str> = runs
            .iter()
            .map(|r| r.environment.machine_id.as_str())
            .collect();
        let columns = runs
            .iter()
            .map(|run| {
                let env = &run.environment;
                Column {
                    release: env.kernel_release.clone(),
                    filesystem: if run.mounted {
                        format!("{} --fs", env.filesystem)
                    } else {
                        env.filesystem.clone()
                    },
                    virtualization: match env.virtualization.as_str() {
                        "none" => "no VM".to_string(),
                        other => other.to_string(),
                    },
                    machine: (machines.len() > 1).then(|| match env.machine_id.as_str() {
                        "" => "unknown".to_string(),
                        id => id.to_string(),
                    }),
                    label: run.label.clone(),
                }
            })
            .collect();
        let mut latest: BTreeMap<&str, &ScenarioResult> = BTreeMap::new();
        for result in runs.iter().flat_map(|run| run.scenarios.values()) {
            let entry = latest.entry(result.name.as_str()).or_insert(result);
            if entry.finished_at < result.finished_at {
                *entry = result;
            }
        }
        let mut groups: Vec<Group> = Vec::new();
        for about in latest.into_values() {
            let cells: Vec<Cell> = runs
                .iter()
                .map(|run| {
                    run.scenarios
                        .get(&about.name)
                        .map_or(Cell::Missing, Cell::of)
                })
                .collect();
            let mut votes: BTreeMap<Kind, usize> = BTreeMap::new();
            for cell in &cells {
                if let Cell::Measured(measured) = cell {
                    *votes.entry(measured.kind).or_default() += 1;
                }
            }
            let majority = votes
                .into_iter()
                .max_by(|(a, x), (b, y)| x.cmp(y).then(b.cmp(a)))
                .map(|(kind, _)| kind);
            let row = Row {
                about,
                update: catalogue.update(about),
                cells,
                majority,
            };
            match groups.iter_mut().find(|g| g.target == about.target) {
                Some(group) => group.rows.push(row),
                None => groups.push(Group {
                    target: about.target,
                    rows: vec![row],
                }),
            }
        }
        groups.sort_by_key(|g| target_rank(g.target));
        Pivot { columns, groups }
    }
}
