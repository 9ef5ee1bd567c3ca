//! The human summary of a scenario's result: count, rate and 95% interval per outcome, time to
//! death, what new processes got, and the verdict.

use std::fmt::Write as _;

use crate::results::ScenarioResult;
use crate::scenario::VictimKind;
use crate::stats::Percentiles;

/// A duration in microseconds for people: `850 µs`, `12.4 ms`.
pub fn micros(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  max {}  (n={})",
        micros(p.p50),
        micros(p.p90),
        micros(p.max),
        p.n
    )
}

/// Renders `result` as a few indented lines for the terminal.
pub fn render(result: &ScenarioResult) -> String {
    let mut out = String::new();
    if let Some(reason) = &result.not_run {
        let _ = writeln!(out, "{}: not run: {reason}", result.name);
        return out;
    }
    let _ = writeln!(
        out,
        "{}: {} ({} over {}, victim {}{})",
        result.name,
        result.description,
        result.method,
        result.target,
        result.victim,
        if result.victims_per_trial > 1 {
            format!(", {} victims per trial", result.victims_per_trial)
        } else {
            String::new()
        }
    );
    let mut labels: Vec<_> = result.rates.iter().collect();
    labels.sort_by(|a, b| b.1.k.cmp(&a.1.k).then(a.0.cmp(b.0)));
    for (label, rate) in labels {
        let _ = writeln!(
            out,
            "  {label:<18} {:>5}/{:<5} {:>6.1}%   95% CI [{:.1}%, {:.1}%]",
            rate.k,
            rate.n,
            rate.rate * 100.0,
            rate.ci95_low * 100.0,
            rate.ci95_high * 100.0
        );
    }
    if !result.victim_counts.is_empty() {
        let per_victim: Vec<String> = result
            .victim_counts
            .iter()
            .map(|(outcome, k)| format!("{outcome} {k}"))
            .collect();
        let _ = writeln!(
            out,
            "  per victim         {} (of {} victims; not independent, no intervals)",
            per_victim.join(", "),
            result.trials * result.victims_per_trial
        );
    }
    for (kind, outcomes) in result.by_program() {
        let who = match kind {
            VictimKind::Clobber => "clobber's victims",
            VictimKind::Shell => "shell loops",
            VictimKind::Sleeper => "sleepers",
            VictimKind::Reader => "readers",
        };
        let _ = writeln!(out, "  {who:<18} {outcomes}");
    }
    if let Some(releases) = &result.releases {
        let _ = writeln!(out, "  releases           {releases}");
    }
    for cause in &result.deaths {
        let _ = writeln!(out, "  deaths             {}", cause.describe());
        if let Some(line) = &cause.kernel_line {
            let _ = writeln!(out, "    kernel said      {line}");
        }
    }
    if let (Some(why), false) = (&result.kernel_log, result.deaths.is_empty()) {
        let _ = writeln!(out, "  kernel log         not read: {why}");
    }
    if let Some(p) = &result.time_to_death_us {
        let _ = writeln!(out, "  time to death      {}", percentiles(p));
    }
    if let Some(p) = &result.update_us {
        let _ = writeln!(out, "  update took        {}", percentiles(p));
    }
    if result.trials > 0 {
        let _ = writeln!(
            out,
            "  cost               {} per trial, {} process(es) started per trial",
            micros(result.us_per_trial),
            result.spawns_per_trial
        );
    }
    if let Some(new) = &result.new_process {
        let _ = writeln!(
            out,
            "  new process        got the new version {}/{}, old version {}, mixed {}, failed to start {}; old process kept the old version {}/{}",
            new.saw_new, new.started, new.saw_old, new.mixed, new.failed_to_start, new.old_unchanged, new.started
        );
        for line in &new.failures {
            let _ = writeln!(out, "    it said          {line}");
        }
    }
    if let Some(d) = &result.restart_detection {
        let _ = writeln!(
            out,
            "  restart checkers   see {}/{} survivors (maps \"(deleted)\" or a replaced inode); of {} on changed content, {} visible",
            d.visible, d.survivors, d.changed, d.changed_visible
        );
    }
    if !result.blast.is_empty() {
        let died: u64 = result.blast.iter().map(|b| b.died).sum();
        let of: u64 = result.blast.iter().map(|b| b.victims).sum();
        let _ = writeln!(out, "  blast radius       {died}/{of} victims died");
        // Per trial, when there were deaths to time.
        let shown = if died > 0 { 5 } else { 0 };
        for (index, b) in result.blast.iter().enumerate().take(shown) {
            let at = |v: Option<u64>| v.map(micros).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "    trial {:<3}        {}/{} died; first {}, median {}, last {}",
                index + 1,
                b.died,
                b.victims,
                at(b.first_us),
                at(b.median_us),
                at(b.last_us)
            );
        }
    }
    for message in &result.victim_messages {
        let _ = writeln!(out, "  victim said        {message}");
    }
    let _ = writeln!(
        out,
        "  expectation        {}: {}",
        if result.verdict.as_expected {
            "as expected"
        } else {
            "NOT as expected"
        },
        result.verdict.detail
    );
    out
}

/// Scenarios whose surviving victims run changed code that no restart checker can see.
pub fn invisible_changes(results: &[ScenarioResult]) -> Option<String> {
    let names: Vec<String> = results
        .iter()
        .filter_map(|r| {
            let d = r.restart_detection.as_ref()?;
            (d.changed > d.changed_visible).then(|| {
                format!(
                    "{} ({}: {}/{} survivors on changed content, invisible)",
                    r.name,
                    r.method,
                    d.changed - d.changed_visible,
                    d.survivors
                )
            })
        })
        .collect();
    (!names.is_empty()).then(|| {
        format!(
            "left processes running changed code that restart checkers (needrestart, lsof +L1) cannot see:\n  {}",
            names.join("\n  ")
        )
    })
}
