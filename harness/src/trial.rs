//! The trial model (see the README, "Reading a result"): what one trial measured, as typed values.
//! A trial is: fresh files, ready victims, the update, and an observation of every victim, always
//! taken, even when the update was refused or failed (a command may damage the file and then
//! fail). Outcome labels are derived from these types, never stored in place of them.

use std::process::ExitStatus;

use crate::evidence::Evidence;
use crate::outcome::Outcome;
use crate::scenario::VictimKind;

/// What happened to the update itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateResult {
    /// It went through.
    Applied,
    /// A system call refused it with this errno (e.g. `ETXTBSY`), or a command failed with a
    /// message naming one; `message` is the command's first stderr line (empty for syscalls).
    Refused { errno: String, message: String },
    /// A command failed without naming an errno: its exit code (None when a signal ended it)
    /// and first stderr line.
    Failed { code: Option<i32>, message: String },
}

impl UpdateResult {
    /// The `writer:` label of an update that did not go through.
    pub fn refusal(&self) -> Option<Outcome> {
        match self {
            UpdateResult::Applied => None,
            UpdateResult::Refused { errno, .. } => Some(Outcome::Writer(errno.clone())),
            UpdateResult::Failed {
                code: Some(code), ..
            } => Some(Outcome::Writer(format!("EXIT{code}"))),
            UpdateResult::Failed { code: None, .. } => Some(Outcome::Writer("KILLED".into())),
        }
    }

    /// The command's first stderr line, if it failed with one.
    pub fn message(&self) -> Option<&str> {
        match self {
            UpdateResult::Refused { message, .. } | UpdateResult::Failed { message, .. } => {
                Some(message.as_str()).filter(|m| !m.is_empty())
            }
            UpdateResult::Applied => None,
        }
    }
}

/// How a victim died, with the evidence for it.
#[derive(Clone, Debug)]
pub struct Death {
    /// Microseconds from the start of the update to the moment the harness saw it die.
    pub after_us: u64,
    /// Its wait status.
    pub status: ExitStatus,
    /// The kernel's log line for it, the faulting file and offset, and what was there.
    pub evidence: Evidence,
}

/// What happened to one victim in one trial.
#[derive(Clone, Debug)]
pub struct VictimRecord {
    /// Which program it was.
    pub kind: VictimKind,
    /// How it ended, as observed: never `Writer` (that is the update's, see [`Trial::outcome`]).
    pub fate: Outcome,
    /// For a victim that died: when, and the evidence.
    pub death: Option<Death>,
    /// For survivors: whether a restart checker can see that it runs something the path no
    /// longer holds; None when that could not be read.
    pub restart_visible: Option<bool>,
}

/// What a process started after the update got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewProcess {
    /// It became ready on the new version.
    GotNew,
    /// It became ready on the old version.
    GotOld,
    /// It became ready on content that is neither version entirely.
    Mixed,
    /// It died before it was ready, with this outcome and its first stderr line.
    FailedToStart(Outcome, Option<String>),
}

/// One trial's measurements.
#[derive(Clone, Debug)]
pub struct Trial {
    /// The update.
    pub update: UpdateResult,
    /// Microseconds the update took.
    pub update_us: u64,
    /// One record per victim (one, or many for blast-radius scenarios).
    pub victims: Vec<VictimRecord>,
    /// For scenarios with `new_process`: what a process started after the update got, and
    /// whether the old victim still ran the old version afterwards.
    pub new_process: Option<(NewProcess, bool)>,
    /// First stderr lines of dying victims, or of a failed command.
    pub messages: Vec<String>,
}

/// The label of one victim's fate after `update`: a refused or failed update that left the victim
/// untouched is `writer:…`; whatever else the victim did is its own outcome.
pub fn label(update: &UpdateResult, fate: &Outcome) -> Outcome {
    match (update.refusal(), fate) {
        (Some(refusal), Outcome::Unchanged) => refusal,
        _ => fate.clone(),
    }
}

impl Trial {
    /// The trial's outcome, the unit its scenario's rates count: the label of its one victim, or
    /// for several victims the label most of them share (the more harmful one on a tie).
    pub fn outcome(&self) -> Outcome {
        let mut labels: Vec<Outcome> = self.victim_labels().collect();
        labels.sort();
        let mut best: Option<(usize, Outcome)> = None;
        for group in labels.chunk_by(|a, b| a == b) {
            let better = best.as_ref().is_none_or(|(n, o)| {
                group.len() > *n || (group.len() == *n && group[0].severity() > o.severity())
            });
            if better {
                best = Some((group.len(), group[0].clone()));
            }
        }
        best.map_or(Outcome::Unchanged, |(_, outcome)| outcome)
    }

    /// The label of every victim.
    pub fn victim_labels(&self) -> impl Iterator<Item = Outcome> + '_ {
        self.victims.iter().map(|v| label(&self.update, &v.fate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn victim(fate: Outcome) -> VictimRecord {
        VictimRecord {
            kind: VictimKind::Clobber,
            fate,
            death: None,
            restart_visible: None,
        }
    }

    fn trial(update: UpdateResult, fates: &[Outcome]) -> Trial {
        Trial {
            update,
            update_us: 1,
            victims: fates.iter().cloned().map(victim).collect(),
            new_process: None,
            messages: Vec::new(),
        }
    }

    #[test]
    fn a_failed_update_that_killed_the_victim_is_a_death_not_a_refusal() {
        let failed = UpdateResult::Failed {
            code: Some(1),
            message: String::new(),
        };
        let t = trial(failed.clone(), &[Outcome::Killed(libc::SIGBUS)]);
        assert_eq!(t.outcome(), Outcome::Killed(libc::SIGBUS));
        let t = trial(failed, &[Outcome::Unchanged]);
        assert_eq!(t.outcome(), Outcome::Writer("EXIT1".into()));
        let refused = UpdateResult::Refused {
            errno: "ETXTBSY".into(),
            message: String::new(),
        };
        assert_eq!(
            trial(refused, &[Outcome::Unchanged]).outcome(),
            Outcome::Writer("ETXTBSY".into())
        );
    }

    #[test]
    fn several_victims_count_once_by_what_most_of_them_did() {
        let segv = Outcome::Killed(libc::SIGSEGV);
        let bus = Outcome::Killed(libc::SIGBUS);
        let t = trial(
            UpdateResult::Applied,
            &[segv.clone(), segv.clone(), bus, Outcome::Unchanged],
        );
        assert_eq!(t.outcome(), segv);
        let tie = trial(UpdateResult::Applied, &[Outcome::Unchanged, segv.clone()]);
        assert_eq!(tie.outcome(), segv);
    }
}
