//! Outcome classes: the families of outcome labels (refused, killed, exited, hung, saw-new,
//! unchanged) with one colour each for every chart, and the words of the headline table derived
//! from a scenario's counts ("safe", "refused", "crashes k/n", "silently mixed").

use std::collections::BTreeMap;

use crate::outcome::Outcome;
use crate::results::ScenarioResult;
use crate::scenario::Target;

/// A family of outcome labels, in the order charts stack them: harmful first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// `killed:<SIGNAL>`: the victim died by a signal.
    Killed,
    /// `exited:<code>`: the victim exited by itself, e.g. after a loader error.
    Exited,
    /// `hung`: the victim stopped making progress.
    Hung,
    /// `saw-new`: the victim survived and saw (some of) the new bytes.
    SawNew,
    /// `writer:<ERRNO>`: the update was refused.
    Refused,
    /// `unchanged`: the victim survived with the old version.
    Unchanged,
}

impl Class {
    /// The class of an outcome.
    pub fn of(outcome: &Outcome) -> Class {
        match outcome {
            Outcome::Killed(_) => Class::Killed,
            Outcome::Exited(_) => Class::Exited,
            Outcome::Hung => Class::Hung,
            Outcome::SawNew => Class::SawNew,
            Outcome::Writer(_) => Class::Refused,
            Outcome::Unchanged => Class::Unchanged,
        }
    }

    /// The legend's name of the class.
    pub fn name(self) -> &'static str {
        match self {
            Class::Killed => "killed by a signal",
            Class::Exited => "exited (e.g. loader error)",
            Class::Hung => "hung",
            Class::SawNew => "saw new bytes",
            Class::Refused => "update refused",
            Class::Unchanged => "unchanged",
        }
    }

    /// The colour of the class in every chart (Okabe–Ito, readable with colour blindness).
    pub fn colour(self) -> &'static str {
        match self {
            Class::Killed => "#d55e00",
            Class::Exited => "#e69f00",
            Class::Hung => "#555555",
            Class::SawNew => "#cc79a7",
            Class::Refused => "#0072b2",
            Class::Unchanged => "#009e73",
        }
    }
}

/// The short text of an outcome inside a bar segment: the signal or errno, or the label itself.
pub fn short_label(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Exited(code) => format!("exit {code}"),
        Outcome::Killed(signal) => crate::outcome::signal_name(*signal),
        Outcome::Writer(why) => why.clone(),
        other => other.to_string(),
    }
}

/// Trials per class.
fn per_class(result: &ScenarioResult) -> BTreeMap<Class, u64> {
    let mut classes = BTreeMap::new();
    for (outcome, count) in &result.counts {
        *classes.entry(Class::of(outcome)).or_default() += count;
    }
    classes
}

/// The class with the most trials (the more harmful one on a tie).
pub fn dominant(result: &ScenarioResult) -> Option<Class> {
    per_class(result)
        .into_iter()
        .max_by(|(a, x), (b, y)| x.cmp(y).then(b.cmp(a)))
        .map(|(class, _)| class)
}

/// The headline cell for a scenario's result: what an update by its method did to its target.
pub fn headline(result: &ScenarioResult) -> String {
    if let Some(reason) = &result.not_run {
        return format!("not run ({reason})");
    }
    let n = result.trials;
    let classes = per_class(result);
    let count = |class| classes.get(&class).copied().unwrap_or(0);
    let part = |word: &str, k: u64| {
        if k == n {
            word.to_string()
        } else {
            format!("{word} {k}/{n}")
        }
    };
    let mut parts = Vec::new();
    let crashes = count(Class::Killed) + count(Class::Exited);
    if crashes > 0 {
        parts.push(format!("crashes {crashes}/{n}"));
    }
    if count(Class::Hung) > 0 {
        parts.push(format!("hangs {}/{n}", count(Class::Hung)));
    }
    if count(Class::SawNew) > 0 {
        let word = match result.target {
            Target::Data => "sees new bytes",
            Target::Lib | Target::LinkedLib | Target::Interp | Target::Exe => "silently mixed",
        };
        parts.push(part(word, count(Class::SawNew)));
    }
    if count(Class::Refused) > 0 {
        parts.push(part("refused", count(Class::Refused)));
    }
    if count(Class::Unchanged) > 0 {
        let word = match &result.new_process {
            Some(new) if new.started > 0 && new.saw_new == new.started => "safe".to_string(),
            Some(new) => format!(
                "old kept, new process got the new version {}/{}",
                new.saw_new, new.started
            ),
            None => "unchanged".to_string(),
        };
        parts.push(part(&word, count(Class::Unchanged)));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(target: &str, counts: &str, new_process: &str) -> ScenarioResult {
        let n: u64 = serde_json::from_str::<BTreeMap<String, u64>>(counts)
            .unwrap()
            .values()
            .sum();
        serde_json::from_str(&format!(
            r#"{{"name": "s", "description": "d", "method": "truncate-write", "target": "{target}",
               "victim": "v", "trials": {n}, "seed": 1, "counts": {counts}, "rates": {{}},
               "time_to_death_us": null, "death_times_us": [], "update_us": null,
               "new_process": {new_process}, "victim_messages": [],
               "expectation": {{"outcomes": ["unchanged"], "share": "all"}},
               "verdict": {{"as_expected": true, "detail": ""}}, "wall_ms": 1, "finished_at": 1}}"#
        ))
        .unwrap()
    }

    #[test]
    fn headline_words_follow_the_counts() {
        let refused = result("exe", r#"{"writer:ETXTBSY": 30}"#, "null");
        assert_eq!(headline(&refused), "refused");
        assert_eq!(dominant(&refused), Some(Class::Refused));
        let crashes = result("lib", r#"{"killed:SIGSEGV": 25, "saw-new": 5}"#, "null");
        assert_eq!(headline(&crashes), "crashes 25/30, silently mixed 5/30");
        assert_eq!(dominant(&crashes), Some(Class::Killed));
        let all_dead = result("data", r#"{"killed:SIGBUS": 9, "exited:127": 1}"#, "null");
        assert_eq!(headline(&all_dead), "crashes 10/10");
        let new = r#"{"started": 4, "saw_new": 4, "saw_old": 0, "died": 0, "old_unchanged": 4}"#;
        assert_eq!(headline(&result("lib", r#"{"unchanged": 4}"#, new)), "safe");
        let data = result("data", r#"{"saw-new": 3, "unchanged": 3}"#, "null");
        assert_eq!(headline(&data), "sees new bytes 3/6, unchanged 3/6");
        assert_eq!(dominant(&data), Some(Class::SawNew));
        assert_eq!(Class::of(&Outcome::Writer("EPERM".into())), Class::Refused);
        assert_eq!(short_label(&Outcome::Exited(127)), "exit 127");
        assert_eq!(short_label(&Outcome::Killed(libc::SIGBUS)), "SIGBUS");
    }
}
