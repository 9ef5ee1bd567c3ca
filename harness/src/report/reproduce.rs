//! The "Reproduce" block: the clobber commands that produced the entries shown, from what the
//! results record (the file each entry came from, its `--fs` suffix, the trials, the
//! virtualization and kernel release, clobber's and the tools' versions), and the report
//! command itself.

use std::collections::{BTreeMap, BTreeSet};

use crate::environment::Environment;
use crate::report::filter::Filter;
use crate::report::runs::Run;
use crate::report::update::shell_line;
use crate::vm::kernel::SERIES;

/// A line of the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// What the next commands ran on, or the versions.
    Comment(String),
    /// A command, word by word.
    Command(Vec<String>),
}

impl Line {
    /// The line as a shell reads it.
    pub fn shell(&self) -> String {
        match self {
            Line::Comment(text) => format!("# {text}"),
            Line::Command(argv) => shell_line(argv),
        }
    }
}

/// The entries of one results file that the report shows.
struct Source<'a> {
    environment: &'a Environment,
    /// The filesystem of `--fs`, from the file's name `<release>.<fs>.json`.
    fs: Option<String>,
    /// The trial count most of its entries that ran have.
    trials: Option<u64>,
}

fn sources<'a>(runs: &'a [Run]) -> Vec<Source<'a>> {
    let mut by_file: BTreeMap<&str, (&Environment, BTreeMap<u64, usize>)> = BTreeMap::new();
    for run in runs {
        for (name, file) in &run.origins {
            let result = &run.scenarios[name];
            let environment = result.environment.as_ref().unwrap_or(&run.environment);
            let (_, trials) = by_file
                .entry(file)
                .or_insert((environment, BTreeMap::new()));
            if result.not_run.is_none() {
                *trials.entry(result.trials).or_default() += 1;
            }
        }
    }
    let mut found: Vec<Source> = by_file
        .into_iter()
        .map(|(file, (environment, trials))| {
            let stem = file.rsplit('/').next().unwrap_or(file);
            let stem = stem.strip_suffix(".json").unwrap_or(stem);
            let fs = stem
                .strip_prefix(environment.kernel_release.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .map(str::to_string);
            let trials = trials
                .into_iter()
                .max_by(|(a, x), (b, y)| x.cmp(y).then(b.cmp(a)))
                .map(|(trials, _)| trials);
            Source {
                environment,
                fs,
                trials,
            }
        })
        .collect();
    found.sort_by(|a, b| {
        crate::report::runs::natural_cmp(
            &a.environment.kernel_release,
            &b.environment.kernel_release,
        )
        .then_with(|| a.fs.cmp(&b.fs))
    });
    found
}

/// The `--kernel` spec of a release clobber fetches itself, e.g. `debian:6.1` for
/// `6.1.0-28-amd64`; else a placeholder for an image of that release.
fn kernel_spec(release: &str) -> String {
    SERIES
        .iter()
        .find(|s| release.ends_with("-amd64") && release.starts_with(&format!("{}.", s.version)))
        .map_or_else(
            || format!("vmlinuz-{release}"),
            |s| format!("debian:{}", s.version),
        )
}

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The block's lines for `runs` as `filter` chose them.
pub fn lines(runs: &[Run], filter: &Filter) -> Vec<Line> {
    let sources = sources(runs);
    let mut lines = Vec::new();
    let versions: BTreeSet<&str> = sources
        .iter()
        .map(|s| s.environment.clobber_version.as_str())
        .collect();
    let tools: BTreeSet<&str> = runs
        .iter()
        .flat_map(|run| run.environment.tools.values().map(String::as_str))
        .collect();
    let versions: Vec<&str> = versions.into_iter().collect();
    lines.push(Line::Comment(format!(
        "measured with clobber {}",
        versions.join(", ")
    )));
    if !tools.is_empty() {
        let tools: Vec<&str> = tools.into_iter().collect();
        lines.push(Line::Comment(format!("tools: {}", tools.join("; "))));
    }
    let scenarios = filter.scenarios.join(",");
    let trials = |source: &Source| -> Vec<String> {
        source
            .trials
            .map(|t| words(&["--trials", &t.to_string()]))
            .unwrap_or_default()
    };
    let fs = |source: &Source| -> Vec<String> {
        source
            .fs
            .as_deref()
            .map(|fs| words(&["--fs", fs]))
            .unwrap_or_default()
    };
    // Runs on the machine itself: one command per results file.
    for source in sources
        .iter()
        .filter(|s| !s.environment.virtualization.starts_with("qemu"))
    {
        let env = source.environment;
        let root = if source.fs.is_some() {
            ", as root (--fs mounts a fresh filesystem)"
        } else {
            ""
        };
        let comment = Line::Comment(format!(
            "on Linux {}, {}, {}, {} × {}{root}",
            env.kernel_release, env.distribution, env.libc, env.cpus, env.cpu
        ));
        // Consecutive commands on the same machine share one comment.
        if !lines
            .iter()
            .rev()
            .find(|l| matches!(l, Line::Comment(_)))
            .is_some_and(|l| *l == comment)
        {
            lines.push(comment);
        }
        let mut command = words(&["clobber"]);
        if filter.scenarios.is_empty() {
            command.push("suite".into());
        } else {
            command.push("scenario".into());
            command.extend(filter.scenarios.iter().cloned());
        }
        command.extend(fs(source));
        command.extend(trials(source));
        lines.push(Line::Command(command));
    }
    // Runs under qemu: one matrix per filesystem and trial count.
    let mut matrices: Vec<(Vec<String>, Vec<&Source>)> = Vec::new();
    for source in sources
        .iter()
        .filter(|s| s.environment.virtualization.starts_with("qemu"))
    {
        let key = [fs(source), trials(source)].concat();
        match matrices.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(source),
            None => matrices.push((key, vec![source])),
        }
    }
    for (options, group) in matrices {
        let releases: Vec<&str> = group
            .iter()
            .map(|s| s.environment.kernel_release.as_str())
            .collect();
        lines.push(Line::Comment(format!(
            "under qemu: Linux {}",
            releases.join(", ")
        )));
        let mut command = words(&["clobber", "matrix"]);
        for release in releases {
            command.extend(["--kernel".to_string(), kernel_spec(release)]);
        }
        command.extend(options);
        if !scenarios.is_empty() {
            command.extend(["--scenarios".to_string(), scenarios.clone()]);
        }
        lines.push(Line::Command(command));
    }
    lines.push(Line::Comment("and this report".into()));
    let mut report = words(&["clobber", "report"]);
    if !scenarios.is_empty() {
        report.extend(["--scenarios".to_string(), scenarios]);
    }
    if !filter.runs.is_empty() {
        report.extend(["--runs".to_string(), filter.runs.join(",")]);
    }
    lines.push(Line::Command(report));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_releases_map_to_their_specs() {
        assert_eq!(kernel_spec("5.10.0-32-amd64"), "debian:5.10");
        assert_eq!(kernel_spec("6.1.0-50-amd64"), "debian:6.1");
        assert_eq!(kernel_spec("6.12.117+deb13-amd64"), "debian:6.12");
        assert_eq!(kernel_spec("7.2.13+deb14-amd64"), "debian:7");
        assert_eq!(kernel_spec("6.18.44-custom"), "vmlinuz-6.18.44-custom");
    }
}
