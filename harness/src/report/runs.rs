//! Finding and reading results files, recursively so that the artifacts of several CI runners in
//! subfolders work, and grouping them into runs: one run per (kernel release, machine, filesystem
//! of the work dir). Two machines with the same kernel release stay two runs.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::environment::Environment;
use crate::error::BadInput;
use crate::results::{self, ResultsFile, ScenarioResult};

/// Everything measured on one kernel release, on one machine, on one filesystem.
pub struct Run {
    /// The environment of the run's most recent entry (with the tools of all of them).
    pub environment: Environment,
    /// How the report names the run, e.g. `6.1.0-28-amd64 (qemu-tcg, ext4, machine ab12cd34)`.
    pub label: String,
    /// Whether it ran on a fresh filesystem made for it (`--fs`), not the machine's own.
    pub mounted: bool,
    /// The latest entry of each scenario, by name.
    pub scenarios: BTreeMap<String, ScenarioResult>,
    /// The results file each entry of `scenarios` was read from, by scenario name.
    pub origins: BTreeMap<String, String>,
    /// The results files the run was read from, relative to the results directory.
    pub sources: Vec<String>,
}

/// Every `*.json` below `dir`, sorted; hidden directories and symlinked directories are skipped.
fn find_json(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !entry.file_name().to_string_lossy().starts_with('.') {
                find_json(&path, found)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "json") && !kind.is_symlink() {
            found.push(path);
        }
    }
    found.sort();
    Ok(())
}

/// Compares version-like strings with their digit runs as numbers, so that 5.10 sorts after 5.9.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in s.char_indices().skip(1) {
            let prev = s[..i]
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_digit());
            if prev != c.is_ascii_digit() {
                out.push(&s[start..i]);
                start = i;
            }
        }
        out.push(&s[start..]);
        out.into_iter()
            .map(|chunk| (chunk.starts_with(|c: char| c.is_ascii_digit()), chunk))
            .collect()
    }
    for (x, y) in chunks(a).into_iter().zip(chunks(b)) {
        let order = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    chunks(a).len().cmp(&chunks(b).len()).then_with(|| a.cmp(b))
}

/// The report's name for a run of `environment`; `mounted` runs were on a fresh filesystem made
/// for them (`--fs`), not on the machine's own.
pub fn label(environment: &Environment, mounted: bool) -> String {
    let virtualization = match environment.virtualization.as_str() {
        "none" => "no VM",
        other => other,
    };
    let machine = match environment.machine_id.as_str() {
        "" => "unknown",
        id => id,
    };
    let fresh = if mounted { " --fs" } else { "" };
    format!(
        "{} ({virtualization}, {}{fresh}, machine {machine})",
        environment.kernel_release, environment.filesystem
    )
}

/// Whether the results file at `source` (relative path) holds a `--fs` run: it is named
/// `<release>.<filesystem>.json`, where the machine's own filesystem gives `<release>.json`.
fn mounted(source: &str, environment: &Environment) -> bool {
    Path::new(source).file_name().is_some_and(|name| {
        name.to_string_lossy()
            == format!(
                "{}.{}.json",
                environment.kernel_release, environment.filesystem
            )
    })
}

fn latest(file: &ResultsFile) -> u64 {
    file.scenarios
        .iter()
        .map(|s| s.finished_at)
        .max()
        .unwrap_or(0)
}

/// Reads every results file below `dir` and groups them into runs, sorted by kernel release
/// (naturally), machine and filesystem; also returns the number of files read. A file that does
/// not parse is bad input naming it. Only `*.json` files are read, never the report's outputs.
pub fn load(dir: &Path) -> Result<(Vec<Run>, usize)> {
    if !dir.is_dir() {
        return Err(BadInput(format!(
            "{}: no such results directory; run `clobber suite` first or pass --results DIR",
            dir.display()
        ))
        .into());
    }
    let mut paths = Vec::new();
    find_json(dir, &mut paths)?;
    if paths.is_empty() {
        return Err(BadInput(format!(
            "{}: no results files (*.json) in it; run `clobber suite` first or pass --results DIR",
            dir.display()
        ))
        .into());
    }
    let count = paths.len();
    let mut files = Vec::new();
    for path in paths {
        let file = results::read(&path)?;
        let relative = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        files.push((relative, file));
    }
    // Oldest first, so that later entries of the same scenario replace earlier ones.
    files.sort_by(|(a_path, a), (b_path, b)| latest(a).cmp(&latest(b)).then(a_path.cmp(b_path)));
    // Each entry belongs to the run of the environment it was measured in (files of schema 1
    // give their entries the file's environment when read).
    let mut runs: BTreeMap<(String, String, String, bool), Run> = BTreeMap::new();
    for (source, file) in files {
        for scenario in file.scenarios {
            let env = scenario
                .environment
                .clone()
                .unwrap_or_else(|| file.environment.clone());
            let fresh = mounted(&source, &env);
            let key = (
                env.kernel_release.clone(),
                env.machine_id.clone(),
                env.filesystem.clone(),
                fresh,
            );
            let run = runs.entry(key).or_insert_with(|| Run {
                environment: env.clone(),
                label: label(&env, fresh),
                mounted: fresh,
                scenarios: BTreeMap::new(),
                origins: BTreeMap::new(),
                sources: Vec::new(),
            });
            if !run.sources.contains(&source) {
                run.sources.push(source.clone());
                run.sources.sort();
            }
            let newer = run
                .scenarios
                .get(&scenario.name)
                .is_none_or(|old| old.finished_at <= scenario.finished_at);
            if newer {
                // The run shows the environment of its latest entry, tools merged.
                let mut tools = std::mem::take(&mut run.environment.tools);
                tools.extend(env.tools.clone());
                run.environment = env;
                run.environment.tools = tools;
                run.origins.insert(scenario.name.clone(), source.clone());
                run.scenarios.insert(scenario.name.clone(), scenario);
            }
        }
    }
    let mut runs: Vec<Run> = runs.into_values().collect();
    runs.sort_by(|a, b| {
        let (x, y) = (&a.environment, &b.environment);
        natural_cmp(&x.kernel_release, &y.kernel_release)
            .then_with(|| x.machine_id.cmp(&y.machine_id))
            .then_with(|| x.filesystem.cmp(&y.filesystem))
            .then_with(|| a.label.cmp(&b.label))
    });
    Ok((runs, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_sort_by_number() {
        let mut releases = vec![
            "6.1.0-28-amd64",
            "5.10.0",
            "5.9.16",
            "6.11.2",
            "6.1.0-9-amd64",
        ];
        releases.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            releases,
            [
                "5.9.16",
                "5.10.0",
                "6.1.0-9-amd64",
                "6.1.0-28-amd64",
                "6.11.2"
            ]
        );
    }
}
