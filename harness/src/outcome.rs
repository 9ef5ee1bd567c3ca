//! Outcome labels, one per trial (DESIGN.md): `writer:<ERRNO>`, `killed:<SIGNAL>`, `exited:<code>`,
//! `saw-new`, `unchanged`, `hung`, and the matching of labels against expectation patterns.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::sys::signal::Signal;

/// How one trial ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The update itself was refused: the errno's name (e.g. `ETXTBSY`), or `EXIT<code>` for a
    /// command that failed without naming one.
    Writer(String),
    /// The victim died by this signal number.
    Killed(i32),
    /// The victim exited by itself with this code.
    Exited(i32),
    /// The victim survived and observed the new (or mixed) content.
    SawNew,
    /// The victim survived and still saw the old content.
    Unchanged,
    /// The victim stopped making progress.
    Hung,
}

impl Outcome {
    /// The outcome for a victim that ended with `status`.
    pub fn from_exit(status: ExitStatus) -> Outcome {
        match (status.signal(), status.code()) {
            (Some(signal), _) => Outcome::Killed(signal),
            (None, Some(code)) => Outcome::Exited(code),
            (None, None) => Outcome::Exited(-1),
        }
    }

    /// Whether the victim died (by a signal or by exiting).
    pub fn is_death(&self) -> bool {
        matches!(self, Outcome::Killed(_) | Outcome::Exited(_))
    }
}

/// The conventional name of a signal number, e.g. `SIGBUS`.
pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("SIG{signal}"))
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Writer(why) => write!(f, "writer:{why}"),
            Outcome::Killed(signal) => write!(f, "killed:{}", signal_name(*signal)),
            Outcome::Exited(code) => write!(f, "exited:{code}"),
            Outcome::SawNew => f.write_str("saw-new"),
            Outcome::Unchanged => f.write_str("unchanged"),
            Outcome::Hung => f.write_str("hung"),
        }
    }
}

/// Whether `label` matches `pattern`, where a trailing `*` in the pattern matches any suffix.
pub fn matches(pattern: &str, label: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => label.starts_with(prefix),
        None => pattern == label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_design() {
        assert_eq!(
            Outcome::Writer("ETXTBSY".into()).to_string(),
            "writer:ETXTBSY"
        );
        assert_eq!(Outcome::Killed(libc::SIGBUS).to_string(), "killed:SIGBUS");
        assert_eq!(Outcome::Exited(127).to_string(), "exited:127");
        assert_eq!(Outcome::SawNew.to_string(), "saw-new");
    }

    #[test]
    fn patterns_match_prefixes() {
        assert!(matches("killed:*", "killed:SIGSEGV"));
        assert!(!matches("killed:*", "exited:1"));
        assert!(matches("unchanged", "unchanged"));
    }
}
