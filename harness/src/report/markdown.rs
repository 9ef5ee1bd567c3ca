//! REPORT.md: the report as GitHub-flavoured Markdown tables.

use std::fmt::Write as _;

use crate::report::model::{Report, Table};

/// Text safe inside a table cell: pipes escaped, line breaks as `<br>`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

fn table(out: &mut String, table: &Table) {
    let row = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    out.push_str(&row(&table.head));
    out.push_str(&format!("|{}\n", "---|".repeat(table.head.len())));
    for cells in &table.rows {
        out.push_str(&row(cells));
    }
    out.push('\n');
}

/// What the words of the headline cells mean.
pub const HEADLINE_KEY: &str =
    "safe: the running program kept the old version and a new process got the new one; \
refused: the update failed (writer:ERRNO) and the running program was untouched; \
crashes k/n: the running program died (killed by a signal, or exited) in k of n trials; \
silently mixed: it survived while running bytes of the new version; \
sees new bytes: a reader of a mapped data file saw the new content; \
unchanged: it survived and saw the old content; hangs k/n: it stopped making progress.";

/// Renders `report` as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# clobber report\n");
    let _ = writeln!(
        out,
        "What overwriting files that running programs map did to those programs, measured by \
         `clobber` in {} run(s) from {} results file(s). A run is one kernel release on one machine \
         and filesystem. Every number comes from the results files; rates carry 95% Wilson \
         intervals.\n",
        report.runs.len(),
        report.files
    );
    let _ = writeln!(out, "## Update method × target → outcome\n");
    let _ = writeln!(out, "{HEADLINE_KEY}\n");
    for headline in &report.headlines {
        let _ = writeln!(out, "### {}\n", headline.run);
        table(&mut out, &headline.table);
    }
    let _ = writeln!(out, "## Differences between kernels and filesystems\n");
    if report.runs.len() < 2 {
        let _ = writeln!(out, "Only one run: nothing to compare yet.\n");
    } else if report.differences.is_empty() {
        let _ = writeln!(
            out,
            "Every scenario had the same dominant outcome in every run that measured it.\n"
        );
    }
    for difference in &report.differences {
        let _ = writeln!(
            out,
            "- **{}** (between {}): {}",
            difference.about.name, difference.between, difference.about.description
        );
        for (run, outcome) in &difference.outcomes {
            let _ = writeln!(out, "  - {run}: {}", outcome.replace('\n', "; "));
        }
    }
    if !report.differences.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "## Scenarios\n");
    for section in &report.scenarios {
        let about = section.about;
        let _ = writeln!(out, "### {}\n", about.name);
        let _ = writeln!(out, "{}\n", about.description);
        let _ = writeln!(
            out,
            "Method: {} · target: {} · victim: {}.\n",
            super::model::method_label(&about.method),
            about.target,
            about.victim
        );
        table(&mut out, &section.table);
        for (run, death) in &section.deaths {
            let _ = writeln!(out, "- {run}: {}", death.replace('`', "'"));
        }
        for (run, message) in &section.messages {
            let _ = writeln!(
                out,
                "- {run}, a dying victim said: `{}`",
                message.replace('`', "'")
            );
        }
        if !section.messages.is_empty() || !section.deaths.is_empty() {
            out.push('\n');
        }
        if !about.explanation.is_empty() {
            let _ = writeln!(out, "{}\n", about.explanation.trim());
        }
    }
    let _ = writeln!(out, "## Environments\n");
    table(&mut out, &report.environments);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
