//! `clobber check`: run the user's own update command (a deploy script, `make install`, a
//! config-management copy) against running victims and say in one line whether it is safe.

use std::collections::BTreeMap;

use crate::results::{ScenarioResult, Verdict};
use crate::scenario::{Expectation, Scenario, ScenarioFile, Share, Target};

/// What a check found, from worst to best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Victims died.
    Crashed,
    /// Victims survived but saw new or mixed content in their old mappings.
    Mixed,
    /// Victims stopped making progress.
    Hung,
    /// The command failed: the update was refused.
    Refused,
    /// Old processes kept the old version, but new ones did not get the new one.
    Ineffective,
    /// Old processes kept the old version and new ones got the new one.
    Safe,
}

impl Finding {
    /// Whether `--fail-unsafe` makes this exit with status 3.
    pub fn unsafe_update(self) -> bool {
        matches!(self, Finding::Crashed | Finding::Mixed | Finding::Hung)
    }
}

/// The ad-hoc scenario that runs `argv` against victims of `target`.
pub fn scenario(target: Target, argv: Vec<String>) -> Scenario {
    Scenario {
        name: format!("check-{target}"),
        file: ScenarioFile {
            description: format!("check: {}", argv.join(" ")),
            explanation:
                "A user's own update command, run against running victims by `clobber check`."
                    .into(),
            method: None,
            command: Some(argv),
            requires: Vec::new(),
            target,
            mapping: None,
            binding: None,
            new_process: true,
            victims: None,
            layer: None,
            trials: None,
            expect: Expectation {
                outcomes: vec!["unchanged".into()],
                share: Share::All,
                new_process_sees_new: Some(true),
            },
        },
    }
}

fn sum(counts: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    counts
        .iter()
        .filter(|(label, _)| label.starts_with(prefix))
        .map(|(_, n)| n)
        .sum()
}

/// Classifies a check's measurement, with the one-line verdict.
pub fn judge(result: &ScenarioResult) -> (Finding, String) {
    let counts = &result.counts;
    let n: u64 = counts.values().sum();
    let died = sum(counts, "killed:") + sum(counts, "exited:");
    if died > 0 {
        let how: Vec<String> = counts
            .iter()
            .filter(|(l, _)| l.starts_with("killed:") || l.starts_with("exited:"))
            .map(|(l, k)| format!("{k}× {}", l.split_once(':').map_or(l.as_str(), |p| p.1)))
            .collect();
        return (
            Finding::Crashed,
            format!(
                "UNSAFE: victims crashed in {died}/{n} trials ({})",
                how.join(", ")
            ),
        );
    }
    let mixed = sum(counts, "saw-new");
    if mixed > 0 {
        return (
            Finding::Mixed,
            format!("UNSAFE: silently mixed: old processes saw new or mixed content in {mixed}/{n} trials"),
        );
    }
    let hung = sum(counts, "hung");
    if hung > 0 {
        return (
            Finding::Hung,
            format!("UNSAFE: victims hung in {hung}/{n} trials"),
        );
    }
    let refused = sum(counts, "writer:");
    if refused > 0 {
        let why: Vec<&str> = counts
            .keys()
            .filter_map(|l| l.strip_prefix("writer:"))
            .collect();
        return (
            Finding::Refused,
            format!("refused: the command failed in {refused}/{n} trials ({}); running processes untouched", why.join(", ")),
        );
    }
    let new = result.new_process.as_ref();
    let started = new.map_or(0, |c| c.started);
    let saw_new = new.map_or(0, |c| c.saw_new);
    if started > 0 && saw_new == started {
        (
            Finding::Safe,
            format!("safe: old processes kept the old code and new ones got the new in {saw_new}/{n} trials"),
        )
    } else {
        (
            Finding::Ineffective,
            format!("old processes kept the old code, but new processes got the new version in only {saw_new}/{started} trials"),
        )
    }
}

/// Replaces the scenario verdict of a check's result with the check's own.
pub fn apply_verdict(result: &mut ScenarioResult) -> Finding {
    let (finding, line) = judge(result);
    result.verdict = Verdict {
        as_expected: !finding.unsafe_update(),
        detail: line,
    };
    finding
}
