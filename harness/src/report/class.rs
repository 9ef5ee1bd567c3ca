//! Outcome classes: the families of outcome labels (refused, killed, exited, hung, saw-new,
//! unchanged) with one colour each for every chart, the kinds a reader tells apart in the heat
//! map (safe, refused, crashes, silently mixed, hangs, not run), and the words derived from a
//! scenario's counts ("safe", "refused", "crashes k/n", "silently mixed").

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

/// What a cell of the heat map says: the kind of most of a scenario's trials, harmful first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The program died (killed by a signal, or exited).
    Crashes,
    /// The program stopped making progress.
    Hangs,
    /// The program survived while running (or reading) bytes of the new version.
    Mixed,
    /// The update failed and the program was untouched.
    Refused,
    /// The program kept the old version, but a new process did not get the new one either.
    Stale,
    /// The program kept the old version (and a new process got the new one, where checked).
    Safe,
    /// The scenario could not run there.
    NotRun,
}

impl Kind {
    /// Every kind, in the legend's order.
    pub const ALL: [Kind; 7] = [
        Kind::Safe,
        Kind::Refused,
        Kind::Crashes,
        Kind::Mixed,
        Kind::Hangs,
        Kind::Stale,
        Kind::NotRun,
    ];

    /// The kind of an outcome class.
    pub fn of(class: Class) -> Kind {
        match class {
            Class::Killed | Class::Exited => Kind::Crashes,
            Class::Hung => Kind::Hangs,
            Class::SawNew => Kind::Mixed,
            Class::Refused => Kind::Refused,
            Class::Unchanged => Kind::Safe,
        }
    }

    /// The legend's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Crashes => "crashes",
            Kind::Hangs => "hangs",
            Kind::Mixed => "silently mixed",
            Kind::Refused => "refused",
            Kind::Stale => "stale",
            Kind::Safe => "safe",
            Kind::NotRun => "not run",
        }
    }

    /// The word of a cell of this kind for a scenario on `target`.
    pub fn word(self, target: Target) -> &'static str {
        match (self, target) {
            (Kind::Crashes, _) => "crash",
            (Kind::Hangs, _) => "hang",
            (Kind::Mixed, Target::Data) => "sees new",
            (Kind::Mixed, _) => "mixed",
            (Kind::Refused, _) => "refused",
            (Kind::Stale, _) => "stale",
            (Kind::Safe, _) => "safe",
            (Kind::NotRun, _) => "not run",
        }
    }

    /// What the kind means, for the legend.
    pub fn meaning(self) -> &'static str {
        match self {
            Kind::Safe => {
                "the running program kept the old version (and a new process got the new one, \
                 where the scenario checks)"
            }
            Kind::Refused => "the update failed and the running program was untouched",
            Kind::Stale => {
                "the running program kept the old version, but a process started after the \
                 update did not get the new one"
            }
            Kind::Crashes => "the running program died (killed by a signal, or exited)",
            Kind::Mixed => {
                "the program survived running (or reading) bytes of the new version, silently"
            }
            Kind::Hangs => "the running program stopped making progress",
            Kind::NotRun => "not measured in that run, or the scenario could not run there",
        }
    }

    /// The background of a heat-map cell (Okabe–Ito hues, text stays readable on each).
    pub fn fill(self) -> &'static str {
        match self {
            Kind::Crashes => "#d55e00",
            Kind::Hangs => "#555555",
            Kind::Mixed => "#cc79a7",
            Kind::Refused => "#56b4e9",
            Kind::Stale => "#f0e442",
            Kind::Safe => "#009e73",
            Kind::NotRun => "#e8e8e8",
        }
    }

    /// The text colour on [`Kind::fill`].
    pub fn ink(self) -> &'static str {
        match self {
            Kind::Crashes | Kind::Hangs | Kind::Safe => "#ffffff",
            Kind::Mixed | Kind::Refused | Kind::Stale => "#111111",
            Kind::NotRun => "#555555",
        }
    }
}

/// Trials per kind, harmful first. Of the trials in which the program kept the old version,
/// as many as new processes did not get the new version are stale.
pub fn per_kind(result: &ScenarioResult) -> BTreeMap<Kind, u64> {
    let mut kinds = BTreeMap::new();
    for (class, count) in per_class(result) {
        *kinds.entry(Kind::of(class)).or_default() += count;
    }
    if let (Some(new), Some(safe)) = (&result.new_process, kinds.get(&Kind::Safe).copied()) {
        let stale = new.started.saturating_sub(new.saw_new).min(safe);
        if stale > 0 {
            kinds.insert(Kind::Stale, stale);
            kinds.insert(Kind::Safe, safe - stale);
            kinds.retain(|_, count| *count > 0);
        }
    }
    kinds
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
            Target::Lib
            | Target::LinkedLib
            | Target::Interp
            | Target::Exe
            | Target::Libc
            | Target::Zlib
            | Target::Sqlite
            | Target::PythonLib
            | Target::NodeAddon => "silently mixed",
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
        assert_eq!(per_kind(&refused)[&Kind::Refused], 30);
        let crashes = result("lib", r#"{"killed:SIGSEGV": 25, "saw-new": 5}"#, "null");
        assert_eq!(headline(&crashes), "crashes 25/30, silently mixed 5/30");
        assert_eq!(per_kind(&crashes)[&Kind::Crashes], 25);
        let all_dead = result("data", r#"{"killed:SIGBUS": 9, "exited:127": 1}"#, "null");
        assert_eq!(headline(&all_dead), "crashes 10/10");
        let new = r#"{"started": 4, "saw_new": 4, "saw_old": 0, "died": 0, "old_unchanged": 4}"#;
        assert_eq!(headline(&result("lib", r#"{"unchanged": 4}"#, new)), "safe");
        let stale = r#"{"started": 4, "saw_new": 1, "saw_old": 3, "died": 0, "old_unchanged": 4}"#;
        let stale = per_kind(&result("lib", r#"{"unchanged": 4}"#, stale));
        assert_eq!((stale[&Kind::Stale], stale[&Kind::Safe]), (3, 1));
        let data = result("data", r#"{"saw-new": 3, "unchanged": 3}"#, "null");
        assert_eq!(headline(&data), "sees new bytes 3/6, unchanged 3/6");
        assert_eq!(Kind::Mixed.word(Target::Data), "sees new");
        assert_eq!(Class::of(&Outcome::Writer("EPERM".into())), Class::Refused);
        assert_eq!(short_label(&Outcome::Exited(127)), "exit 127");
        assert_eq!(short_label(&Outcome::Killed(libc::SIGBUS)), "SIGBUS");
    }
}
