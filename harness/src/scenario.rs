//! Scenario files: the TOML model of one experiment (scenarios/NAME.toml), loading from the
//! embedded catalogue or a directory, and validation that names the file, line and field of every
//! error.

use std::fmt;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::embedded;
use crate::error::BadInput;
use crate::guard;
use crate::method::Method;
use crate::package::Format;
use crate::release::Library;

/// The most trials one scenario may ask for (a million trials take hours even at the floor).
pub const MAX_TRIALS: u32 = 1_000_000;

/// What the victim maps and the update replaces.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The victim library, opened with dlopen() by a running process.
    Lib,
    /// The victim library, linked at load time (DT_NEEDED) by a running executable.
    LinkedLib,
    /// A private copy of the dynamic loader, the ELF interpreter (PT_INTERP) of a running process.
    Interp,
    /// The running victim executable itself.
    Exe,
    /// A data file the victim maps with mmap().
    Data,
    /// A private copy of a real C library release (`libc.so.6`, glibc), which the victims' private
    /// copy of the same release's dynamic loader loads.
    Libc,
    /// A private copy of a real zlib release (`libz.so.1`), linked by a running program.
    Zlib,
    /// A private copy of a real SQLite release (`libsqlite3.so.0`), linked by a running program.
    Sqlite,
    /// The victim library in a Python package (`package = "wheel"`), loaded with ctypes by a
    /// running `python3` that imported the package and calls into it.
    PythonLib,
    /// A native Node.js addon (`victim.node`, the victim library's code behind Node-API) in an
    /// npm package (`package = "npm"`), loaded by a running `node` that calls into it.
    NodeAddon,
}

impl Target {
    /// The real library whose releases this target is, if it is one.
    pub fn library(self) -> Option<Library> {
        match self {
            Target::Libc => Some(Library::Libc),
            Target::Zlib => Some(Library::Zlib),
            Target::Sqlite => Some(Library::Sqlite),
            _ => None,
        }
    }
}

/// Which program a victim is. Every target has clobber's own victim program; victims of the C
/// library can also be real programs of the system, run under the private loader and library.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "kebab-case")]
pub enum VictimKind {
    /// clobber's own victim program, which reports what it sees on its status page.
    #[default]
    Clobber,
    /// `dash -c` running a busy loop of shell arithmetic that prints a line every 1000 rounds.
    Shell,
    /// `sleep 1`: asleep in nanosleep during the update, it wakes after it.
    Sleeper,
    /// `cat`: blocked reading a pipe during the update, it is sent a line after it.
    Reader,
}

impl fmt::Display for VictimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VictimKind::Clobber => "clobber",
            VictimKind::Shell => "shell",
            VictimKind::Sleeper => "sleeper",
            VictimKind::Reader => "reader",
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Lib => "lib",
            Target::LinkedLib => "linked-lib",
            Target::Interp => "interp",
            Target::Exe => "exe",
            Target::Data => "data",
            Target::Libc => "libc",
            Target::Zlib => "zlib",
            Target::Sqlite => "sqlite",
            Target::PythonLib => "python-lib",
            Target::NodeAddon => "node-addon",
        })
    }
}

/// How a data-file victim maps its file.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Mapping {
    /// `MAP_SHARED` (the default).
    #[default]
    Shared,
    /// `MAP_PRIVATE`.
    Private,
    /// `MAP_PRIVATE | MAP_DENYWRITE`.
    Denywrite,
}

/// When the dynamic loader binds a linked-lib victim's calls into the library.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Binding {
    /// Every call at start-up (`-z now`, Rust's default; the default).
    #[default]
    Now,
    /// Each function at its first call, through an unbound PLT slot (`-z lazy`, partial RELRO);
    /// the victim calls one function for the first time only after the update.
    Lazy,
}

/// Which overlayfs layer an update writes to (runs with `--fs overlay`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// Through the merged directory the victims run from (the default).
    #[default]
    Merged,
    /// Straight into the lower layer's file, under the running overlay.
    Lower,
}

/// How many trials must end in one of the expected outcomes.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Share {
    /// Every trial.
    All,
    /// More than half of the trials.
    Most,
    /// At least one trial.
    Some,
}

/// What the scenario expects a kernel to do. Compared with the measurement, never substituted.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Outcome labels (`writer:ERRNO`, `killed:SIGNAL`, `exited:CODE`, `saw-new`, `unchanged`,
    /// `hung`); a trailing `*` matches any suffix, e.g. `killed:*`.
    pub outcomes: Vec<String>,
    /// How many trials must end in one of `outcomes`.
    pub share: Share,
    /// For scenarios with `new_process`: whether a process started after the update must get the
    /// new version. Default: not checked.
    #[serde(default)]
    pub new_process_sees_new: Option<bool>,
}

/// One scenario file, as written in scenarios/.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// One line for `clobber list` and report headings.
    pub description: String,
    /// What happens and why, including how the two versions of the target differ.
    pub explanation: String,
    /// How the target file is updated while the victim runs: the system calls of one tool.
    /// Exactly one of `method` and `command` is given.
    #[serde(default)]
    pub method: Option<Method>,
    /// Or a real command that updates it, run as a user runs it, found on PATH; `{new}` and
    /// `{target}` are replaced by the paths of the new version and of the victims' file.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Further programs the command needs on PATH (its first word is always needed).
    #[serde(default)]
    pub requires: Vec<String>,
    /// A package manager is the updater: both versions of the target are built as packages of
    /// this format, version 1 is installed into a private root before every trial with
    /// `command` (its `{new}` naming version 1's package), and `command` then upgrades it to
    /// version 2; `{root}` names the private root. Needs `command`. Default: none.
    #[serde(default)]
    pub package: Option<Format>,
    /// What the victim maps.
    pub target: Target,
    /// Data targets only: how the victim maps the file. Default `shared`.
    #[serde(default)]
    pub mapping: Option<Mapping>,
    /// Linked-lib targets only: `now` or `lazy` binding of the victim's calls into the library.
    /// Default `now`.
    #[serde(default)]
    pub binding: Option<Binding>,
    /// Start a new process after the update and record which version it gets. Default false.
    #[serde(default)]
    pub new_process: bool,
    /// Victims per trial, all mapping the same file (blast radius). Default 1, or one of each
    /// of `programs`.
    #[serde(default)]
    pub victims: Option<u32>,
    /// Libc targets only: the programs the victims are, taken in turn (`clobber`, `shell`,
    /// `sleeper`, `reader`; sleepers start last). Default `["clobber"]`.
    #[serde(default)]
    pub programs: Option<Vec<VictimKind>>,
    /// Libc targets only: the update replaces the release's dynamic loader too, before the C
    /// library, as its package does. Default false: only `libc.so.6` is replaced.
    #[serde(default)]
    pub with_loader: bool,
    /// Overlay runs: write the update through the merged directory (`merged`, the default) or
    /// into the lower layer (`lower`); a `lower` scenario runs only with `--fs overlay`.
    #[serde(default)]
    pub layer: Option<Layer>,
    /// Trials when the command line gives no `--trials`. Default: the command's default.
    #[serde(default)]
    pub trials: Option<u32>,
    /// What a current kernel is expected to do.
    pub expect: Expectation,
}

/// A loaded, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file stem, e.g. `cp-over-lib`.
    pub name: String,
    /// Its contents.
    pub file: ScenarioFile,
}

/// How a scenario updates its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// The system calls of one tool, made by the harness.
    Syscalls(Method),
    /// A real command, with `{new}` and `{target}` placeholders.
    Command(Vec<String>),
}

impl fmt::Display for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Update::Syscalls(method) => write!(f, "{method}"),
            Update::Command(argv) => write!(f, "`{}`", argv.join(" ")),
        }
    }
}

impl Scenario {
    /// How the target is updated (validation ensured exactly one of method and command).
    pub fn update(&self) -> Update {
        match (&self.file.method, &self.file.command) {
            (Some(method), _) => Update::Syscalls(*method),
            (None, command) => Update::Command(command.clone().unwrap_or_default()),
        }
    }

    /// The overlay layer the update writes to.
    pub fn layer(&self) -> Layer {
        self.file.layer.unwrap_or_default()
    }

    /// Victims per trial.
    pub fn victims(&self) -> u32 {
        self.file
            .victims
            .unwrap_or_else(|| self.programs().len() as u32)
    }

    /// Whether it measures a blast radius: more victims than one of each of its programs (the
    /// C library's scenarios run one of each of four programs, and are no blast).
    pub fn is_blast(&self) -> bool {
        self.victims() as usize > self.programs().len()
    }

    /// The programs victims are, taken in turn.
    pub fn programs(&self) -> Vec<VictimKind> {
        self.file
            .programs
            .clone()
            .unwrap_or_else(|| vec![VictimKind::Clobber])
    }

    /// Processes a trial starts: its victims, a new process after the update where the scenario
    /// has one, and the command of a command update with its guard where it needs one.
    pub fn spawns_per_trial(&self) -> u32 {
        let per_command = if guard::needed() { 2 } else { 1 };
        let command = match (self.update(), self.file.package) {
            // The install of version 1 before the upgrade, and the upgrade.
            (Update::Command(_), Some(_)) => 2 * per_command,
            (Update::Command(_), None) => per_command,
            (Update::Syscalls(_), _) => 0,
        };
        self.victims() + u32::from(self.file.new_process) + command
    }

    /// Programs that must be on PATH for this scenario to run.
    pub fn required_tools(&self) -> Vec<String> {
        // A command run from the private root (a venv's pip) is not looked up on PATH.
        let mut tools: Vec<String> = self
            .file
            .command
            .iter()
            .filter_map(|argv| argv.first().cloned())
            .filter(|first| !first.starts_with('{'))
            .collect();
        tools.extend(self.file.requires.iter().cloned());
        let needs = self.file.package.map(Format::needs).unwrap_or_default();
        tools.extend(needs.iter().map(|b| b.to_string()));
        tools
    }

    /// The mapping used by a data victim.
    pub fn mapping(&self) -> Mapping {
        self.file.mapping.unwrap_or_default()
    }

    /// The binding of a linked-lib victim's calls into the library.
    pub fn binding(&self) -> Binding {
        self.file.binding.unwrap_or_default()
    }
}

/// The line (1-based) where `field` is assigned in `text`, for error messages.
fn line_of(text: &str, field: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.strip_prefix(field)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|index| index + 1)
}

fn bad(source: &str, text: &str, field: &str, message: String) -> BadInput {
    match line_of(text, field) {
        Some(line) => BadInput(format!("{source}:{line}: field `{field}`: {message}")),
        None => BadInput(format!("{source}: field `{field}`: {message}")),
    }
}

/// Whether `label` is a well-formed outcome label or pattern.
pub fn valid_label(label: &str) -> bool {
    let word = |s: &str| {
        s == "*"
            || (!s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    };
    match label.split_once(':') {
        Some(("writer" | "killed" | "exited", rest)) => word(rest),
        Some(_) => false,
        None => matches!(label, "saw-new" | "unchanged" | "hung" | "*"),
    }
}

/// Parses and validates one scenario file's text.
pub fn parse(name: &str, source: &str, text: &str) -> Result<Scenario, BadInput> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_name {
        return Err(BadInput(format!(
            "{source}: scenario name `{name}` (the file name) must be lowercase letters, digits and '-'"
        )));
    }
    let file: ScenarioFile = toml::from_str(text).map_err(|err| {
        let message = err.message().to_string();
        // A missing field has no line of its own: naming the field on the line the parser
        // points at would blame another field.
        if message.starts_with("missing field") {
            return BadInput(format!("{source}: {message}"));
        }
        let Some(span) = err.span() else {
            return BadInput(format!("{source}: {message}"));
        };
        let start = span.start.min(text.len());
        let line = text[..start].matches('\n').count() + 1;
        let field = text
            .lines()
            .nth(line - 1)
            .and_then(|l| l.split_once('='))
            .map(|(key, _)| key.trim())
            .filter(|key| !key.is_empty() && !key.starts_with('['));
        match field {
            Some(field) => BadInput(format!("{source}:{line}: field `{field}`: {message}")),
            None => BadInput(format!("{source}:{line}: {message}")),
        }
    })?;
    if file.description.trim().is_empty() || file.description.contains('\n') {
        return Err(bad(
            source,
            text,
            "description",
            "must be one non-empty line".into(),
        ));
    }
    match (&file.method, &file.command) {
        (Some(_), Some(_)) => {
            return Err(bad(
                source,
                text,
                "command",
                "give either `method` or `command`, not both".into(),
            ))
        }
        (None, None) => {
            return Err(BadInput(format!(
                "{source}: missing field `method` (or `command`)"
            )))
        }
        (None, Some(argv)) => {
            if argv.is_empty() || argv[0].trim().is_empty() {
                return Err(bad(source, text, "command", "is empty".into()));
            }
            // `{root}` stands for a directory, below which paths go on; /dev/null is a sink.
            let outside = argv.iter().skip(1).find(|arg| {
                let rest = arg
                    .replace("{new}", "")
                    .replace("{target}", "")
                    .replace("{root}", "root");
                rest.split(|c: char| c.is_whitespace() || c == '=' || c == '"' || c == '\'')
                    .any(|word| {
                        (word.starts_with('/') && word != "/dev/null")
                            || word.split('/').any(|part| part == "..")
                    })
            });
            if let Some(arg) = outside {
                return Err(bad(
                    source,
                    text,
                    "command",
                    format!("`{arg}` names a path outside the work dir; a scenario may only write {{new}} and {{target}}"),
                ));
            }
            if file.package.is_some() {
                if !argv.iter().any(|arg| arg.contains("{root}")) {
                    return Err(bad(
                        source,
                        text,
                        "command",
                        "never names `{root}`, so it cannot install into the private root".into(),
                    ));
                }
            } else if !argv.iter().any(|arg| arg.contains("{target}")) {
                return Err(bad(
                    source,
                    text,
                    "command",
                    "never names `{target}`, so it cannot update the victims' file".into(),
                ));
            }
        }
        (Some(_), None) => {}
    }
    if let Some(format) = file.package {
        if file.command.is_none() {
            return Err(bad(
                source,
                text,
                "package",
                "needs a `command`, the package manager that upgrades it".into(),
            ));
        }
        if !format.targets().contains(&file.target) {
            return Err(bad(
                source,
                text,
                "package",
                format!(
                    "a {format} package does not carry a `{}` target",
                    file.target
                ),
            ));
        }
    }
    let installed_by = match file.target {
        Target::PythonLib => Some(Format::Wheel),
        Target::NodeAddon => Some(Format::Npm),
        _ => None,
    };
    if let Some(format) = installed_by.filter(|f| file.package != Some(*f)) {
        return Err(bad(
            source,
            text,
            "target",
            format!(
                "a `{}` target lives in a package: it needs `package = \"{format}\"`",
                file.target
            ),
        ));
    }
    if let Some(victims) = file.victims {
        if !(1..=256).contains(&victims) {
            return Err(bad(
                source,
                text,
                "victims",
                format!("{victims} is not between 1 and 256"),
            ));
        }
        if victims > 1 && file.new_process && file.programs.is_none() {
            return Err(bad(
                source,
                text,
                "new_process",
                "is for scenarios with one victim".into(),
            ));
        }
    }
    if let Some(trials) = file.trials.filter(|t| !(1..=MAX_TRIALS).contains(t)) {
        return Err(bad(
            source,
            text,
            "trials",
            format!("{trials} is not between 1 and {MAX_TRIALS}"),
        ));
    }
    if file.mapping.is_some() && file.target != Target::Data {
        return Err(bad(
            source,
            text,
            "mapping",
            format!(
                "only data targets have a mapping, this target is `{}`",
                file.target
            ),
        ));
    }
    if file.binding.is_some() && file.target != Target::LinkedLib {
        return Err(bad(
            source,
            text,
            "binding",
            format!(
                "only linked-lib targets have a binding (the dlopen victim calls through dlsym() \
                 pointers, which RTLD_LAZY does not defer), this target is `{}`",
                file.target
            ),
        ));
    }
    if file.programs.is_some() && file.target != Target::Libc {
        return Err(bad(
            source,
            text,
            "programs",
            format!(
                "only libc targets run other programs as victims, this target is `{}`",
                file.target
            ),
        ));
    }
    if file.programs.as_ref().is_some_and(Vec::is_empty) {
        return Err(bad(source, text, "programs", "lists no program".into()));
    }
    if file.with_loader && (file.target != Target::Libc || file.method.is_none()) {
        return Err(bad(
            source,
            text,
            "with_loader",
            "is for libc targets updated by a `method`".into(),
        ));
    }
    if file.method == Some(Method::Truncate) && file.new_process {
        return Err(bad(
            source,
            text,
            "new_process",
            "a truncated target has no new version for a new process to get".into(),
        ));
    }
    if file.expect.outcomes.is_empty() {
        return Err(bad(source, text, "outcomes", "lists no outcome".into()));
    }
    if let Some(label) = file.expect.outcomes.iter().find(|l| !valid_label(l)) {
        return Err(bad(
            source,
            text,
            "outcomes",
            format!("`{label}` is not an outcome label (writer:ERRNO, killed:SIGNAL, exited:CODE, saw-new, unchanged, hung; `*` matches any suffix)"),
        ));
    }
    if file.expect.new_process_sees_new.is_some() && !file.new_process {
        return Err(bad(
            source,
            text,
            "new_process_sees_new",
            "needs `new_process = true`".into(),
        ));
    }
    Ok(Scenario {
        name: name.to_string(),
        file,
    })
}

/// Loads the catalogue: every `*.toml` in `dir`, or the built-in catalogue when `dir` is None.
/// Sorted by name.
pub fn load_catalogue(dir: Option<&Path>) -> Result<Vec<Scenario>, BadInput> {
    let mut scenarios = Vec::new();
    match dir {
        None => {
            for (file_name, text) in embedded::CATALOGUE {
                let name = file_name.trim_end_matches(".toml");
                let source = format!("scenarios/{file_name} (built in)");
                scenarios.push(parse(name, &source, text)?);
            }
        }
        Some(dir) => {
            let entries = fs::read_dir(dir).map_err(|err| {
                BadInput(format!(
                    "cannot read scenarios dir {}: {err}",
                    dir.display()
                ))
            })?;
            for entry in entries {
                let path = entry
                    .map_err(|err| BadInput(format!("{}: {err}", dir.display())))?
                    .path();
                if path.extension().is_none_or(|ext| ext != "toml") {
                    continue;
                }
                let source = path.display().to_string();
                let text = crate::input::read_regular(&path)
                    .and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|_| {
                            std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8")
                        })
                    })
                    .map_err(|err| BadInput(format!("{source}: {err}")))?;
                let name = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .unwrap_or_default();
                scenarios.push(parse(name, &source, &text)?);
            }
        }
    }
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scenarios)
}

/// Picks the named scenarios from the catalogue, in the order given.
pub fn select(catalogue: &[Scenario], names: &[String]) -> Result<Vec<Scenario>, BadInput> {
    names
        .iter()
        .map(|name| {
            catalogue
                .iter()
                .find(|s| &s.name == name)
                .cloned()
                .ok_or_else(|| {
                    BadInput(format!(
                        "no scenario named `{name}`; `clobber list` shows the catalogue"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "cp over a library"
explanation = "x"
method = "truncate-write"
target = "lib"
[expect]
outcomes = ["killed:*"]
share = "most"
"#;

    #[test]
    fn parses_a_good_file() {
        let s = parse("cp-over-lib", "x.toml", GOOD).unwrap();
        assert_eq!(s.update(), Update::Syscalls(Method::TruncateWrite));
        assert_eq!(s.binding(), Binding::Now);
    }

    #[test]
    fn unknown_method_names_line_and_variant() {
        let text = GOOD.replace("truncate-write", "scp");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.starts_with("a.toml:4: field `method`:"), "{err}");
        assert!(err.contains("scp"), "{err}");
    }

    #[test]
    fn missing_field_is_named() {
        let text = GOOD.replace("target = \"lib\"\n", "");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.contains("missing field `target`"), "{err}");
        assert!(!err.contains("field `description`"), "{err}");
    }

    #[test]
    fn mapping_on_a_lib_is_rejected_with_its_line() {
        let text = GOOD.replace("[expect]", "mapping = \"private\"\n[expect]");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.starts_with("a.toml:6: field `mapping`"), "{err}");
    }

    #[test]
    fn programs_and_the_loader_belong_to_libc_targets_only() {
        let text = GOOD.replace("[expect]", "programs = [\"shell\"]\n[expect]");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.starts_with("a.toml:6: field `programs`"), "{err}");
        let libc = text.replace("target = \"lib\"", "target = \"libc\"");
        let s = parse("a", "a.toml", &libc).unwrap();
        assert_eq!(s.programs(), [VictimKind::Shell]);
        assert_eq!(s.victims(), 1);
        assert_eq!(s.file.target.library(), Some(Library::Libc));
        let err = parse("a", "a.toml", &libc.replace("shell", "daemon"))
            .unwrap_err()
            .0;
        assert!(err.contains("a.toml:6") && err.contains("daemon"), "{err}");
        let text = GOOD.replace("[expect]", "with_loader = true\n[expect]");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.starts_with("a.toml:6: field `with_loader`"), "{err}");
    }

    #[test]
    fn binding_belongs_to_linked_libs_only() {
        let text = GOOD.replace("[expect]", "binding = \"lazy\"\n[expect]");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.starts_with("a.toml:6: field `binding`"), "{err}");
        assert!(
            err.contains("only linked-lib targets") && err.contains("`lib`"),
            "{err}"
        );
        let text = text.replace("target = \"lib\"", "target = \"linked-lib\"");
        let s = parse("a", "a.toml", &text).unwrap();
        assert_eq!(s.binding(), Binding::Lazy);
    }

    #[test]
    fn a_command_must_name_its_target() {
        let text = GOOD.replace(
            "method = \"truncate-write\"",
            "command = [\"cp\", \"{new}\", \"x\"]",
        );
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.starts_with("a.toml:4: field `command`"), "{err}");
        let text = GOOD.replace("target = \"lib\"", "target = \"lib\"\ncommand = [\"cp\"]");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn a_command_may_not_name_paths_outside_the_work_dir() {
        for arg in ["/etc/passwd", "../x", "of=/lib/x", "a/../../b"] {
            let text = GOOD.replace(
                "method = \"truncate-write\"",
                &format!("command = [\"cp\", \"{{target}}\", \"{arg}\"]"),
            );
            let err = parse("a", "a.toml", &text).unwrap_err().0;
            assert!(err.contains("outside the work dir"), "{arg}: {err}");
        }
        let text = GOOD.replace(
            "method = \"truncate-write\"",
            "command = [\"/bin/dd\", \"if={new}\", \"of={target}\"]",
        );
        assert!(parse("a", "a.toml", &text).is_ok());
    }

    #[test]
    fn a_package_needs_a_command_naming_the_root_and_a_target_it_carries() {
        let dpkg = "command = [\"dpkg\", \"--root={root}\", \"--admindir={root}/var/lib/dpkg\", \"--log=/dev/null\", \"-i\", \"{new}\"]\npackage = \"deb\"";
        let text = GOOD.replace("method = \"truncate-write\"", dpkg);
        let s = parse("a", "a.toml", &text).unwrap();
        assert_eq!(s.file.package, Some(Format::Deb));
        assert_eq!(s.required_tools(), ["dpkg", "dpkg-deb"]);
        let err = parse(
            "a",
            "a.toml",
            &GOOD.replace("[expect]", "package = \"deb\"\n[expect]"),
        )
        .unwrap_err()
        .0;
        assert!(
            err.contains("field `package`") && err.contains("needs a `command`"),
            "{err}"
        );
        let text = GOOD.replace(
            "method = \"truncate-write\"",
            "command = [\"dpkg\", \"-i\", \"{new}\", \"{target}\"]\npackage = \"deb\"",
        );
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.contains("never names `{root}`"), "{err}");
        let text = GOOD
            .replace("method = \"truncate-write\"", dpkg)
            .replace("target = \"lib\"", "target = \"data\"");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.contains("does not carry a `data` target"), "{err}");
        let text = GOOD.replace(
            "method = \"truncate-write\"",
            &dpkg.replace("--log=/dev/null", "--log=/var/log/dpkg.log"),
        );
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.contains("outside the work dir"), "{err}");
        let text = GOOD.replace("target = \"lib\"", "target = \"python-lib\"");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.contains("needs `package = \"wheel\"`"), "{err}");
        let err = parse("a", "a.toml", &GOOD.replace("\"lib\"", "\"node-addon\""))
            .unwrap_err()
            .0;
        assert!(err.contains("needs `package = \"npm\"`"), "{err}");
        let pip = "command = [\"{root}/bin/pip\", \"install\", \"{new}\"]\npackage = \"wheel\"";
        let text = text.replace("method = \"truncate-write\"", pip);
        let s = parse("a", "a.toml", &text).unwrap();
        assert_eq!(s.required_tools(), ["python3"]);
    }

    #[test]
    fn bad_outcome_label_is_rejected() {
        let text = GOOD.replace("killed:*", "crashed");
        let err = parse("a", "a.toml", &text).unwrap_err().0;
        assert!(err.contains("`crashed` is not an outcome label"), "{err}");
    }

    #[test]
    fn built_in_catalogue_is_valid() {
        let catalogue = load_catalogue(None).unwrap();
        assert!(catalogue.iter().any(|s| s.name == "cp-over-lib"));
    }
}
