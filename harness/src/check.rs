//! `clobber check`: run the user's own update command (a deploy script, `make install`, a
//! config-management copy) against running victims and say in one line whether it is safe. Safe
//! means both: the processes already running kept the old version, and processes started after
//! the update got the new one.

use crate::outcome::{signal_name, Outcome};
use crate::results::{ScenarioResult, Verdict};
use crate::scenario::{Expectation, Scenario, ScenarioFile, Share, Target};

/// What a check found, from worst to best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Running processes died.
    Crashed,
    /// Running processes survived but saw new or mixed content in their old mappings.
    Mixed,
    /// Running processes stopped making progress.
    Hung,
    /// Processes started after the update could not start, or started on mixed content.
    BrokeNew,
    /// The command failed (refused) and changed nothing: running processes untouched.
    Refused,
    /// Old processes kept the old version, but new ones did not get the new one.
    Ineffective,
    /// Old processes kept the old version and new ones got the new one.
    Safe,
}

impl Finding {
    /// Whether `--fail-unsafe` makes this exit with status 3: everything but [`Finding::Safe`].
    pub fn unsafe_update(self) -> bool {
        self != Finding::Safe
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
            package: None,
            target,
            mapping: None,
            binding: None,
            new_process: true,
            victims: None,
            programs: None,
            with_loader: false,
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

/// How the update commands themselves ended, e.g. " (the command failed in 5/5 trials: exit 1)".
fn command_failures(result: &ScenarioResult) -> String {
    let Some(updates) = &result.updates else {
        return String::new();
    };
    let failed: u64 = updates.failed + updates.refused.values().sum::<u64>();
    if failed == 0 {
        return String::new();
    }
    let mut why: Vec<String> = updates.refused.keys().cloned().collect();
    if updates.failed > 0 {
        why.push("no errno named".into());
    }
    format!(
        "; the command itself failed in {failed}/{} trials ({})",
        result.trials,
        why.join(", ")
    )
}

/// Classifies a check's measurement, with the one-line verdict.
pub fn judge(result: &ScenarioResult) -> (Finding, String) {
    let n = result.trials;
    let count = |keep: fn(&Outcome) -> bool| -> u64 {
        result
            .counts
            .iter()
            .filter(|(o, _)| keep(o))
            .map(|(_, k)| k)
            .sum()
    };
    let failures = command_failures(result);
    let died = count(Outcome::is_death);
    if died > 0 {
        let how: Vec<String> = result
            .counts
            .iter()
            .filter_map(|(outcome, k)| match outcome {
                Outcome::Killed(signal) => Some(format!("{k}× {}", signal_name(*signal))),
                Outcome::Exited(code) => Some(format!("{k}× exit {code}")),
                _ => None,
            })
            .collect();
        return (
            Finding::Crashed,
            format!(
                "UNSAFE: running processes crashed in {died}/{n} trials ({}){failures}",
                how.join(", ")
            ),
        );
    }
    let mixed = count(|o| *o == Outcome::SawNew);
    if mixed > 0 {
        return (
            Finding::Mixed,
            format!("UNSAFE: silently mixed: running processes saw new or mixed content in {mixed}/{n} trials{failures}"),
        );
    }
    let hung = count(|o| *o == Outcome::Hung);
    if hung > 0 {
        return (
            Finding::Hung,
            format!("UNSAFE: running processes hung in {hung}/{n} trials{failures}"),
        );
    }
    let new = result.new_process.clone().unwrap_or_default();
    if new.failed_to_start > 0 || new.mixed > 0 {
        return (
            Finding::BrokeNew,
            format!(
                "UNSAFE: running processes were untouched, but processes started after the update failed to start in {}/{} trials and got mixed content in {}/{}{failures}",
                new.failed_to_start, new.started, new.mixed, new.started
            ),
        );
    }
    let refused = count(|o| matches!(o, Outcome::Writer(_)));
    if refused > 0 {
        let why: Vec<String> = result
            .counts
            .keys()
            .filter_map(|o| match o {
                Outcome::Writer(why) => Some(why.clone()),
                _ => None,
            })
            .collect();
        return (
            Finding::Refused,
            format!(
                "refused: the command failed in {refused}/{n} trials ({}) and running processes were untouched; new processes got the new version in {}/{}",
                why.join(", "),
                new.saw_new,
                new.started
            ),
        );
    }
    if new.started == n && new.saw_new == n && new.old_unchanged == n {
        (
            Finding::Safe,
            format!("safe: old processes kept the old version and new ones got the new in {n}/{n} trials"),
        )
    } else {
        (
            Finding::Ineffective,
            format!(
                "NOT SAFE: the update did not take effect: running processes kept the old version, but new processes got the new one in only {}/{} trials (the old one in {})",
                new.saw_new, new.started, new.saw_old
            ),
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
