//! Outcome labels, one per trial (see the README): `writer:<ERRNO>`, `killed:<SIGNAL>`,
//! `exited:<code>`, `saw-new`, `unchanged`, `hung`. [`Outcome`] is the typed value that counts,
//! verdicts, `check` and the report read; it is written as its label only at the edges (JSON
//! keys, text) and read back from it.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::str::FromStr;

use nix::sys::signal::Signal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How one trial (or one victim in it) ended.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The update itself was refused or failed, and the victims were observed untouched: the
    /// errno's name (e.g. `ETXTBSY`), or `EXIT<code>` for a command that failed without naming
    /// one, `KILLED` for one that died by a signal.
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

    /// How harmful the outcome is, for breaking ties: deaths first, then hangs, silently mixed
    /// content, refusals, and unchanged last.
    pub fn severity(&self) -> u8 {
        match self {
            Outcome::Killed(_) => 5,
            Outcome::Exited(_) => 4,
            Outcome::Hung => 3,
            Outcome::SawNew => 2,
            Outcome::Writer(_) => 1,
            Outcome::Unchanged => 0,
        }
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

impl FromStr for Outcome {
    type Err = String;

    fn from_str(label: &str) -> Result<Outcome, String> {
        let bad = || format!("`{label}` is not an outcome label");
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        match label.split_once(':') {
            Some(("writer", why)) if word(why) => Ok(Outcome::Writer(why.to_string())),
            Some(("killed", name)) => name
                .parse::<Signal>()
                .map(|s| Outcome::Killed(s as i32))
                .or_else(|_| {
                    name.strip_prefix("SIG")
                        .and_then(|n| n.parse().ok())
                        .map(Outcome::Killed)
                        .ok_or_else(bad)
                }),
            Some(("exited", code)) => code.parse().map(Outcome::Exited).map_err(|_| bad()),
            Some(_) => Err(bad()),
            None => match label {
                "saw-new" => Ok(Outcome::SawNew),
                "unchanged" => Ok(Outcome::Unchanged),
                "hung" => Ok(Outcome::Hung),
                _ => Err(bad()),
            },
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Outcome, D::Error> {
        let label = String::deserialize(deserializer)?;
        label.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `label` matches `pattern`, where a trailing `*` in the pattern matches any suffix.
pub fn matches(pattern: &str, outcome: &Outcome) -> bool {
    let label = outcome.to_string();
    match pattern.strip_suffix('*') {
        Some(prefix) => label.starts_with(prefix),
        None => pattern == label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_design_and_read_back() {
        let cases = [
            (Outcome::Writer("ETXTBSY".into()), "writer:ETXTBSY"),
            (Outcome::Killed(libc::SIGBUS), "killed:SIGBUS"),
            (Outcome::Exited(127), "exited:127"),
            (Outcome::SawNew, "saw-new"),
            (Outcome::Unchanged, "unchanged"),
            (Outcome::Hung, "hung"),
        ];
        for (outcome, label) in cases {
            assert_eq!(outcome.to_string(), label);
            assert_eq!(label.parse::<Outcome>().unwrap(), outcome);
        }
        assert!("crashed".parse::<Outcome>().is_err());
        assert!("killed:SIGNOPE".parse::<Outcome>().is_err());
    }

    #[test]
    fn patterns_match_prefixes() {
        assert!(matches("killed:*", &Outcome::Killed(libc::SIGSEGV)));
        assert!(!matches("killed:*", &Outcome::Exited(1)));
        assert!(matches("unchanged", &Outcome::Unchanged));
    }
}
