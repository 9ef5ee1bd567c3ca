//! How a scenario updated its target, as the report names it: the tools behind a system-call
//! method, or the real command printed exactly as a POSIX shell takes it. Results files keep a
//! command only as its words joined by spaces, which loses the quoting; the built-in catalogue's
//! argument vector is used when its words join to exactly that text.

use std::collections::BTreeMap;

use serde::de::value::{Error, StrDeserializer};
use serde::Deserialize as _;

use crate::method::Method;
use crate::report::text::{code, text, Inline};
use crate::results::ScenarioResult;
use crate::scenario::{self, Update as ScenarioUpdate};

/// The update of one scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// The system calls of a tool, made by the harness.
    Syscalls(Method),
    /// A real command with `{new}` and `{target}` placeholders, word by word.
    Command(Vec<String>),
    /// A command the catalogue does not know, as the results file joined it (quoting lost).
    Joined(String),
}

/// The argument vectors of the built-in catalogue's commands, by scenario name.
pub struct Catalogue(BTreeMap<String, Vec<String>>);

impl Catalogue {
    /// The built-in catalogue's commands (none if it does not parse, which its tests prevent).
    pub fn builtin() -> Catalogue {
        let commands = scenario::load_catalogue(None)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| match s.update() {
                ScenarioUpdate::Command(argv) => Some((s.name, argv)),
                ScenarioUpdate::Syscalls(_) => None,
            })
            .collect();
        Catalogue(commands)
    }

    /// The update of `result`.
    pub fn update(&self, result: &ScenarioResult) -> Update {
        if let Ok(method) = Method::deserialize(StrDeserializer::<Error>::new(&result.method)) {
            return Update::Syscalls(method);
        }
        match self.0.get(&result.name) {
            Some(argv) if argv.join(" ") == result.method => Update::Command(argv.clone()),
            _ => Update::Joined(result.method.clone()),
        }
    }
}

/// Whether `word` reads the same to a POSIX shell unquoted: letters, digits and `_./:@%+,-`;
/// `=` except in the command's name (an assignment there); braces only without `,` or `..`,
/// which would make them a brace expansion.
fn bare(word: &str, first: bool) -> bool {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:@%+,-{}".contains(c);
    let braces = word.contains(['{', '}']);
    !word.is_empty()
        && word.chars().all(|c| plain(c) || (c == '=' && !first))
        && !(braces && (word.contains(',') || word.contains("..")))
}

/// `argv` as one line a POSIX shell splits back into exactly these words.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .enumerate()
        .map(|(i, word)| {
            if bare(word, i == 0) {
                word.clone()
            } else {
                shlex::try_quote(word)
                    .map_or_else(|_| word.escape_default().to_string(), Into::into)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Update {
    /// The tools that update files the way of `method`.
    fn tools(method: Method) -> &'static str {
        match method {
            Method::TruncateWrite => "cp",
            Method::UnlinkCreate => "install",
            Method::TempRename => "mv, dpkg, rpm",
            Method::InplaceWrite => "dd conv=notrunc, rsync --inplace",
            Method::Truncate => "truncate -s 0",
        }
    }

    /// How the report shows it: a system-call method as its tools and name, e.g.
    /// `cp (truncate-write)`; a command as code, as a shell takes it (or as recorded, when the
    /// quoting is lost).
    pub fn shown(&self) -> Inline {
        match self {
            Update::Syscalls(method) => text(format!("{} ({method})", Update::tools(*method))),
            Update::Command(argv) => code(shell_line(argv)),
            Update::Joined(joined) => code(joined.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn commands_print_as_a_shell_takes_them() {
        let redirect = words(&["sh", "-c", "cat \"$1\" > \"$2\"", "sh", "{new}", "{target}"]);
        assert_eq!(
            shell_line(&redirect),
            "sh -c 'cat \"$1\" > \"$2\"' sh {new} {target}"
        );
        let dd = words(&["dd", "if={new}", "of={target}", "conv=notrunc"]);
        assert_eq!(shell_line(&dd), "dd if={new} of={target} conv=notrunc");
        assert_eq!(
            shell_line(&words(&["a=b", "{x,y}", ""])),
            "'a=b' '{x,y}' ''"
        );
        assert_eq!(shell_line(&words(&["echo", "it's"])), "echo \"it's\"");
    }

    #[test]
    fn the_catalogue_restores_the_words_of_a_joined_command() {
        let catalogue = Catalogue::builtin();
        let result = |name: &str, method: &str| -> ScenarioResult {
            serde_json::from_value(serde_json::json!({
                "name": name, "description": "", "method": method, "target": "lib",
                "victim": "", "trials": 0, "seed": 0, "counts": {}, "rates": {},
                "time_to_death_us": null, "death_times_us": [], "update_us": null,
                "new_process": null, "victim_messages": [],
                "expectation": {"outcomes": [], "share": "all"},
                "verdict": {"as_expected": true, "detail": ""}, "wall_ms": 0, "finished_at": 0
            }))
            .unwrap()
        };
        let joined = "sh -c cat \"$1\" > \"$2\" sh {new} {target}";
        let update = catalogue.update(&result("tool-redirect-over-lib", joined));
        assert_eq!(
            update.shown(),
            code("sh -c 'cat \"$1\" > \"$2\"' sh {new} {target}")
        );
        let unknown = catalogue.update(&result("elsewhere", "my tool {new}"));
        assert_eq!(unknown, Update::Joined("my tool {new}".into()));
        let cp = catalogue.update(&result("cp-over-lib", "truncate-write"));
        assert_eq!(cp.shown(), text("cp (truncate-write)"));
    }
}
