//! REPORT.md and DETAILS.md: the findings, the table of scenarios × runs and the commands that
//! reproduce them on the main page; the per-scenario tables, evidence and environments in the
//! details file it links to.

use std::fmt::Write as _;

use crate::report::class::Kind;
use crate::report::model::{Report, ScenarioSection, Table};
use crate::report::pivot::{self, Cell};
use crate::report::text::{Inline, Rich};

/// The details file's name, linked from the main page.
pub const DETAILS: &str = "DETAILS.md";

/// Text safe inside a table cell: pipes escaped, line breaks as `<br>`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}

/// A code span that holds `text` whatever backticks it has.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

fn rich(parts: &Rich) -> String {
    parts
        .iter()
        .map(|part| match part {
            Inline::Text(text) => text.clone(),
            Inline::Code(text) => code(text),
        })
        .collect()
}

fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

fn table(out: &mut String, table: &Table) {
    let cells = |cells: &[String]| cells.iter().map(|c| cell(c)).collect::<Vec<_>>();
    out.push_str(&row(&cells(&table.head)));
    out.push_str(&format!("|{}\n", "---|".repeat(table.head.len())));
    for cells_of_row in &table.rows {
        out.push_str(&row(&cells(cells_of_row)));
    }
    out.push('\n');
}

/// The opening paragraph of both pages.
pub fn about(report: &Report) -> String {
    let scenarios: usize = report.pivot.groups.iter().map(|g| g.rows.len()).sum();
    format!(
        "What overwriting files that running programs map did to those programs: {scenarios} \
         scenarios measured by clobber in {} run(s), a run being one kernel release on one \
         machine and filesystem, read from {} results file(s). Every number comes from those \
         files; intervals are 95% Wilson intervals.",
        report.runs.len(),
        report.files
    )
}

/// What the table's cells say, for the paragraph above it.
pub const TABLE_KEY: &str = "One row per scenario, grouped by what it overwrites; one column per \
run. A cell names the outcome of most trials with k/n (trials of that outcome out of all); \
\"+ mixed 3\" adds the other outcomes' trials.";

fn pivot_table(out: &mut String, report: &Report) {
    let pivot = &report.pivot;
    let mut head = vec!["scenario".to_string(), "update".to_string()];
    head.extend(pivot.columns.iter().map(|c| c.heading().join("<br>")));
    out.push_str(&row(&head));
    out.push_str(&format!("|{}\n", "---|".repeat(head.len())));
    for group in &pivot.groups {
        let mut cells = vec![
            format!("**{}**", pivot::target_noun(group.target)),
            format!("target {}", code(&group.target.to_string())),
        ];
        cells.resize(head.len(), String::new());
        out.push_str(&row(&cells));
        for scenario in &group.rows {
            let name = &scenario.about.name;
            let update = rich(&vec![scenario.update.shown()]);
            let mut cells = vec![format!("[{name}]({DETAILS}#{name})"), update];
            for (i, slot) in scenario.cells.iter().enumerate() {
                cells.push(match slot {
                    Cell::Measured(measured) if scenario.differs(i) => {
                        format!("**≠ {}**", measured.text(group.target))
                    }
                    Cell::Measured(measured) => measured.text(group.target),
                    Cell::NotRun(_) => Kind::NotRun.name().to_string(),
                    Cell::Missing => "—".to_string(),
                });
            }
            out.push_str(&row(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>()));
        }
    }
    out.push('\n');
}

/// Renders the main page of `report`.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# clobber report\n");
    let _ = writeln!(
        out,
        "{} Rates with intervals, times to death, the evidence of every death and the \
         environments are in [{DETAILS}]({DETAILS}).\n",
        about(report)
    );
    let _ = writeln!(out, "## Findings\n");
    for finding in &report.findings {
        let _ = writeln!(out, "- {}", rich(finding));
    }
    let _ = writeln!(out, "\n## Outcome per scenario and run\n");
    let _ = writeln!(
        out,
        "{TABLE_KEY} **≠** marks a cell whose outcome differs from most of its row.\n"
    );
    for kind in Kind::ALL {
        let _ = writeln!(out, "- **{}**: {}", kind.name(), kind.meaning());
    }
    out.push('\n');
    pivot_table(&mut out, report);
    let _ = writeln!(out, "## Reproduce\n");
    let _ = writeln!(out, "```sh");
    for line in &report.reproduce {
        let _ = writeln!(out, "{}", line.shell());
    }
    let _ = writeln!(out, "```");
    out
}

fn section(out: &mut String, section: &ScenarioSection) {
    let about = section.about;
    let _ = writeln!(out, "### {}\n", about.name);
    let _ = writeln!(out, "{}\n", about.description);
    let update = rich(&vec![section.update.shown()]);
    let _ = writeln!(
        out,
        "Update: {update} · target: {} · victim: {}.\n",
        about.target, about.victim
    );
    table(out, &section.table);
    for (run, death) in &section.deaths {
        let _ = writeln!(out, "- {run}: {}", death.replace('`', "'"));
    }
    for (run, message) in &section.messages {
        let _ = writeln!(
            out,
            "- {run}, a dying victim said: {}",
            code(&message.replace('`', "'"))
        );
    }
    for (run, note) in &section.notes {
        let _ = writeln!(out, "- {run}: {}", note.replace('`', "'"));
    }
    if !section.messages.is_empty() || !section.deaths.is_empty() || !section.notes.is_empty() {
        out.push('\n');
    }
    if !about.explanation.is_empty() {
        let _ = writeln!(out, "{}\n", about.explanation.trim());
    }
}

/// Renders the details file of `report`.
pub fn render_details(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# clobber report: details\n");
    let _ = writeln!(
        out,
        "The tables behind [REPORT.md](REPORT.md): per scenario, every outcome per run with its \
         rate and 95% Wilson interval, times to death, what new processes got, the evidence of \
         the deaths; then the environments.\n"
    );
    for group in &report.pivot.groups {
        let _ = writeln!(
            out,
            "## Over {} (target {})\n",
            pivot::target_noun(group.target),
            code(&group.target.to_string())
        );
        for next in report
            .scenarios
            .iter()
            .filter(|s| s.about.target == group.target)
        {
            section(&mut out, next);
        }
    }
    let _ = writeln!(out, "## Environments\n");
    table(&mut out, &report.environments);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
