//! The human rendering of `clobber bench`: one column per place (the host, then each guest kernel
//! with its release and TCG or KVM), one row per figure: the C floor, clobber's floor, each trial
//! kind's milliseconds per trial and its cost per spawn over both floors, the outcome mix; then
//! the memory of the host's long run.

use super::{counts_text, Rate, Report};

/// The table of `reports`, side by side.
pub fn render(reports: &[Report]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = vec![
        (
            "kernel".into(),
            cells(reports, |r| r.place.kernel_release.clone()),
        ),
        (
            "virtualization".into(),
            cells(reports, |r| r.place.virtualization.clone()),
        ),
        (
            "C floor (fork, exec, dlopen, call, waitpid) ms".into(),
            cells(reports, |r| optional_ms(r.c_floor_ms)),
        ),
        (
            "clobber floor (spawn until ready, kill, reap) ms".into(),
            cells(reports, |r| format!("{:.2}", r.floor_ms)),
        ),
        (
            "command (spawn cat /dev/null, wait) ms".into(),
            cells(reports, |r| optional_ms(r.command_ms)),
        ),
        (
            "the same as tool scenarios run it ms".into(),
            cells(reports, |r| optional_ms(r.guarded_command_ms)),
        ),
    ];
    let names: Vec<&str> = reports
        .first()
        .map(|r| r.rates.iter().map(|rate| rate.scenario.as_str()).collect())
        .unwrap_or_default();
    for name in names {
        let figure = |f: fn(&Rate) -> String| {
            cells(reports, |report| {
                report
                    .rates
                    .iter()
                    .find(|r| r.scenario == name)
                    .map_or_else(|| "-".into(), f)
            })
        };
        rows.push((
            format!("{name} ms/trial"),
            figure(|r| format!("{:.2} ({} trials)", r.ms_per_trial, r.trials)),
        ));
        rows.push((
            "  per spawn over the C floor".into(),
            figure(|r| {
                r.over_c_floor_per_spawn.map_or_else(
                    || "-".into(),
                    |x| match r.spawns_per_trial {
                        1 => format!("{x:.2}× (1 spawn)"),
                        n => format!("{x:.2}× ({n} spawns)"),
                    },
                )
            }),
        ));
        rows.push((
            "  per spawn over clobber's floor".into(),
            figure(|r| format!("{:.2}×", r.over_floor_per_spawn)),
        ));
        rows.push(("  outcomes".into(), figure(|r| counts_text(&r.outcomes))));
        rows.push((
            "  as recorded in the results".into(),
            figure(|r| {
                r.recorded.as_ref().map_or_else(
                    || "-".into(),
                    |rec| format!("{} ({} trials)", counts_text(&rec.outcomes), rec.trials),
                )
            }),
        ));
        rows.push((
            "  now and recorded (95% intervals)".into(),
            figure(|r| match &r.recorded {
                None => "-".into(),
                Some(rec) if rec.differ.is_empty() => "agree".into(),
                Some(rec) => format!("DIFFER in {}", rec.differ.join(", ")),
            }),
        ));
    }
    let header: Vec<String> = reports.iter().map(|r| r.place.name.clone()).collect();
    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..reports.len())
        .map(|i| {
            rows.iter()
                .map(|(_, c)| c[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |label: &str, cells: &[String]| {
        out.push_str(&format!("{label:<label_width$}"));
        for (cell, width) in cells.iter().zip(&widths) {
            out.push_str(&format!("  {cell:<width$}"));
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line("", &header);
    for (label, cells) in &rows {
        line(label, cells);
    }
    for report in reports {
        if let Some(why) = &report.c_floor_missing {
            out.push_str(&format!(
                "{}: C floor not measured: {why}\n",
                report.place.name
            ));
        }
        out.push_str(&format!("{}: {}\n", report.place.name, report.placement));
        if let Some(memory) = &report.memory {
            let rss: Vec<String> = memory
                .rss_kib
                .iter()
                .map(|(trials, kib)| format!("{trials}:{:.1}", *kib as f64 / 1024.0))
                .collect();
            out.push_str(&format!(
                "{}: memory over {} trials of {}: VmRSS MiB by trials done {}; peak {:.1} MiB\n",
                report.place.name,
                memory.rss_kib.last().map_or(0, |s| s.0),
                memory.scenario,
                rss.join(" "),
                memory.peak_kib as f64 / 1024.0
            ));
        }
    }
    out
}

/// Milliseconds, or `-` when not measured.
fn optional_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| format!("{ms:.2}"))
}

/// One cell per report.
fn cells(reports: &[Report], cell: impl Fn(&Report) -> String) -> Vec<String> {
    reports.iter().map(cell).collect()
}
