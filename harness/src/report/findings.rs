//! The headline findings, written from the table: per target, one sentence for each kind of
//! outcome that a set of scenarios had in every run, with the trials pooled and their interval;
//! then one sentence per scenario whose runs disagree, saying where each kind happened.

use std::collections::BTreeMap;

use crate::report::class::{Class, Kind};
use crate::report::pivot::{self, Cell, Pivot, Row};
use crate::report::runs::Run;
use crate::report::text::{code, text, Rich};
use crate::scenario::Target;
use crate::scenario::VictimKind;
use crate::stats::Rate;

/// What happened, for a kind of outcome on a target.
fn what(kind: Kind, target: Target) -> &'static str {
    match (kind, target) {
        (Kind::Crashes, _) => "the program died",
        (Kind::Hangs, _) => "the program hung",
        (Kind::Mixed, Target::Data) => "the reader saw the new bytes",
        (Kind::Mixed, _) => "the program silently ran bytes of the new version",
        (Kind::Refused, _) => "the update was refused and the program untouched",
        (Kind::Stale, _) => {
            "the program kept the old version but new processes did not get the new one"
        }
        (Kind::Safe, _) => "the program kept the old version",
        (Kind::NotRun, _) => "the scenario did not run",
    }
}

/// `k/n trials (95% CI …)` of trials pooled over cells.
fn pooled(k: u64, n: u64) -> String {
    let rate = Rate::new(k, n.max(1));
    format!("{k}/{n} trials ({})", pivot::interval(&rate))
}

/// `a`, `a and b`, `a, b and c` of rich items.
fn listed(items: Vec<Rich>) -> Rich {
    let count = items.len();
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(text(if i + 1 == count { " and " } else { ", " }));
        }
        out.extend(item);
    }
    out
}

/// Trials of `kind` and all trials, over the measured cells of `rows` in `columns`.
fn trials(rows: &[&Row], kind: Kind, columns: &[usize]) -> (u64, u64) {
    let mut sums = (0, 0);
    for row in rows {
        for (column, cell) in row.measured() {
            if !columns.contains(&column) {
                continue;
            }
            let k = if cell.kind == kind {
                cell.rate.k
            } else {
                cell.others
                    .iter()
                    .find(|(other, _)| *other == kind)
                    .map_or(0, |(_, k)| *k)
            };
            sums.0 += k;
            sums.1 += cell.rate.n;
        }
    }
    sums
}

/// Where a share of the runs was: `in every one of the 11 runs`, `on 6.1.0-50-amd64 ext4`, or
/// `on 4 runs`.
fn scope(pivot: &Pivot, columns: &[usize], all: bool) -> String {
    match (all, columns.len()) {
        (true, 1) => "in the one run".to_string(),
        (true, runs) => format!("in every one of the {runs} runs"),
        (false, 1..=3) => {
            let names: Vec<String> = columns.iter().map(|c| pivot.columns[*c].short()).collect();
            format!("on {}", names.join(", "))
        }
        (false, runs) => format!("on {runs} runs"),
    }
}

/// One sentence for scenarios of a target with the same kind in each run: the kind most runs
/// had with its pooled trials, then the runs that had another.
fn sentence(pivot: &Pivot, target: Target, rows: &[&Row]) -> Rich {
    let mut by_kind: BTreeMap<Kind, Vec<usize>> = BTreeMap::new();
    for (column, cell) in rows[0].measured() {
        by_kind.entry(cell.kind).or_default().push(column);
    }
    let measured: usize = by_kind.values().map(Vec::len).sum();
    let mut kinds: Vec<(Kind, Vec<usize>)> = by_kind.into_iter().collect();
    // The majority first (the more harmful kind on a tie), then the others, harmful first.
    kinds.sort_by(|(a, x), (b, y)| y.len().cmp(&x.len()).then(a.cmp(b)));
    let names = rows
        .iter()
        .map(|r| vec![code(r.about.name.clone())])
        .collect();
    let mut out = vec![text(format!("Over {}, ", pivot::target_noun(target)))];
    out.extend(listed(names));
    out.push(text(": "));
    let everywhere = measured == pivot.columns.len();
    let parts: Vec<String> = kinds
        .iter()
        .enumerate()
        .map(|(i, (kind, columns))| {
            let (k, n) = trials(rows, *kind, columns);
            let all = everywhere && kinds.len() == 1;
            let place = if i == 0 && kinds.len() > 1 && columns.len() > 3 {
                format!("on {} of the {} runs", columns.len(), pivot.columns.len())
            } else {
                scope(pivot, columns, all)
            };
            format!("{} in {} {place}", what(*kind, target), pooled(k, n))
        })
        .collect();
    match parts.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            out.push(text(format!("{}; but {}.", first, rest.join("; and "))));
        }
        _ => out.push(text(format!("{}.", parts.join("")))),
    }
    out
}

/// The findings of `pivot`: per target, one sentence per set of scenarios that had the same
/// kind of outcome in each run, the most harmful first.
pub fn findings(pivot: &Pivot) -> Vec<Rich> {
    let mut sentences = Vec::new();
    for group in &pivot.groups {
        let mut patterns: Vec<(Vec<Option<Kind>>, Vec<&Row>)> = Vec::new();
        for row in group.rows.iter().filter(|row| row.majority.is_some()) {
            let pattern: Vec<Option<Kind>> = row
                .cells
                .iter()
                .map(|cell| match cell {
                    Cell::Measured(measured) => Some(measured.kind),
                    Cell::NotRun(_) | Cell::Missing => None,
                })
                .collect();
            match patterns.iter_mut().find(|(p, _)| *p == pattern) {
                Some((_, rows)) => rows.push(row),
                None => patterns.push((pattern, vec![row])),
            }
        }
        patterns.sort_by_key(|(_, rows)| rows[0].majority);
        sentences.extend(
            patterns
                .iter()
                .map(|(_, rows)| sentence(pivot, group.target, rows)),
        );
    }
    sentences
}

/// Victims per program kind and outcome class.
type ByProgram = BTreeMap<VictimKind, BTreeMap<Class, u64>>;

/// One sentence per scenario whose victims are programs of several kinds (the C library's): what
/// each kind did, pooled over the runs, e.g. that sleepers hung where the others died.
pub fn by_program(runs: &[Run]) -> Vec<Rich> {
    let mut pooled: BTreeMap<&str, (usize, ByProgram)> = BTreeMap::new();
    for run in runs {
        for (name, result) in &run.scenarios {
            if result.kind_counts.is_empty() {
                continue;
            }
            let (seen, kinds) = pooled.entry(name).or_default();
            *seen += 1;
            for (program, counts) in &result.kind_counts {
                for (outcome, k) in counts {
                    *kinds
                        .entry(*program)
                        .or_default()
                        .entry(Class::of(outcome))
                        .or_default() += k;
                }
            }
        }
    }
    pooled
        .into_iter()
        .map(|(name, (seen, kinds))| {
            let parts: Vec<String> = kinds
                .iter()
                .map(|(program, counts)| {
                    let of: u64 = counts.values().sum();
                    let mut counts: Vec<(&Class, &u64)> = counts.iter().collect();
                    counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                    let what: Vec<String> = counts
                        .iter()
                        .map(|(class, k)| format!("{} {k}/{of}", class.name()))
                        .collect();
                    format!("{program} {}", what.join(", "))
                })
                .collect();
            let runs = format!("{seen} run{}", if seen == 1 { "" } else { "s" });
            vec![
                text("By program, "),
                code(name),
                text(format!(" ({runs}, victims pooled): {}.", parts.join("; "))),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::Inline;

    fn plain(rich: &Rich) -> String {
        rich.iter()
            .map(|inline| match inline {
                Inline::Text(t) | Inline::Code(t) => t.as_str(),
            })
            .collect()
    }

    #[test]
    fn lists_read_as_english() {
        let items = |n: usize| (0..n).map(|i| vec![code(i.to_string())]).collect();
        assert_eq!(plain(&listed(items(1))), "0");
        assert_eq!(plain(&listed(items(2))), "0 and 1");
        assert_eq!(plain(&listed(items(3))), "0, 1 and 2");
        assert_eq!(
            pooled(20, 20),
            "20/20 trials (95% CI 83.9–100%)".to_string()
        );
    }
}
