//! Focused reports: `--scenarios A,B` keeps the named scenarios, `--runs PATTERN` the runs whose
//! label contains one of the patterns (e.g. `tmpfs`, `5.10`, `qemu`). A name or pattern that
//! matches nothing is bad input, named.

use crate::error::BadInput;
use crate::report::runs::Run;

/// What a report keeps; empty lists keep everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Scenario names, exactly.
    pub scenarios: Vec<String>,
    /// Substrings of run labels.
    pub runs: Vec<String>,
}

impl Filter {
    /// The runs and their scenarios the filter keeps; runs left without scenarios are dropped.
    pub fn apply(&self, runs: Vec<Run>) -> Result<Vec<Run>, BadInput> {
        for name in &self.scenarios {
            if !runs.iter().any(|run| run.scenarios.contains_key(name)) {
                return Err(BadInput(format!(
                    "--scenarios: no results of scenario {name:?} in the results files"
                )));
            }
        }
        for pattern in &self.runs {
            if !runs.iter().any(|run| run.label.contains(pattern.as_str())) {
                let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
                return Err(BadInput(format!(
                    "--runs: {pattern:?} is in no run's label; the runs are: {}",
                    labels.join("; ")
                )));
            }
        }
        let kept: Vec<Run> = runs
            .into_iter()
            .filter(|run| {
                self.runs.is_empty() || self.runs.iter().any(|p| run.label.contains(p.as_str()))
            })
            .map(|mut run| {
                if !self.scenarios.is_empty() {
                    run.scenarios
                        .retain(|name, _| self.scenarios.contains(name));
                    run.origins.retain(|name, _| self.scenarios.contains(name));
                }
                run
            })
            .filter(|run| !run.scenarios.is_empty())
            .collect();
        if kept.is_empty() {
            return Err(BadInput(
                "--scenarios and --runs together keep nothing: no run measured those scenarios"
                    .into(),
            ));
        }
        Ok(kept)
    }
}
