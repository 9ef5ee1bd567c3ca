//! The human summary of a scenario's result: count, rate and 95% interval per outcome, time to
//! death, what new processes got, and the verdict.

use std::fmt::Write as _;

use crate::results::ScenarioResult;
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
    let _ = writeln!(
        out,
        "{}: {} ({} over {}, victim {})",
        result.name, result.description, result.method, result.target, result.victim
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
    if let Some(p) = &result.time_to_death_us {
        let _ = writeln!(out, "  time to death      {}", percentiles(p));
    }
    if let Some(p) = &result.update_us {
        let _ = writeln!(out, "  update took        {}", percentiles(p));
    }
    if let Some(new) = &result.new_process {
        let _ = writeln!(
            out,
            "  new process        got the new version {}/{}, old version {}, died {}; old process kept the old version {}/{}",
            new.saw_new, new.started, new.saw_old, new.died, new.old_unchanged, new.started
        );
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
