//! report.html: the page of REPORT.md made visual, self-contained (inline CSS and SVG, no
//! scripts, fonts or images to fetch): the findings, the table as a colour-coded heat map with
//! a legend, the charts, the commands that reproduce the data, and the details. Tables scroll
//! inside their container and charts shrink, so the page itself fits a phone's width.

use std::fmt::Write as _;

use crate::report::class::Kind;
use crate::report::markdown::{about, TABLE_KEY};
use crate::report::model::{Report, ScenarioSection, Table};
use crate::report::pivot::{self, Cell};
use crate::report::text::{self, Inline, Rich};

const STYLE: &str = "
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #fafafa; color: #1a1a1a;
  font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: #ffffff; }
@media (max-width: 600px) { main { padding: 12px 12px 48px; } }
h1 { font-size: 28px; margin-bottom: 4px; }
h2 { margin-top: 40px; border-bottom: 1px solid #dddddd; padding-bottom: 4px; }
h3 { margin-top: 28px; }
p, li { overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; margin: 12px 0 20px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d8d8d8; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.heat td { text-align: center; vertical-align: middle; white-space: nowrap; }
.heat td small { display: block; font-size: 11px; opacity: 0.85; }
.heat td.differs { outline: 3px solid #111111; outline-offset: -3px; font-weight: 700; }
.heat th.name { position: sticky; left: 0; background: #ffffff; font-weight: 600;
  white-space: nowrap; }
.heat td.update { text-align: left; min-width: 12em; }
.heat tr.group th { background: #eeeeee; text-align: left; }
.heat th.run { font-weight: 600; white-space: nowrap; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
ul.legend li { display: flex; align-items: baseline; gap: 6px; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px;
  border: 1px solid #bbbbbb; flex: none; transform: translateY(2px); }
figure { margin: 16px 0 28px; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #555555; margin-top: 6px; }
pre { background: #f5f5f5; padding: 10px 12px; overflow-x: auto; font-size: 13px; }
.key, .about { color: #444444; font-size: 14px; }
code { background: #f2f2f2; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
";

/// Text safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn rich(parts: &Rich) -> String {
    parts
        .iter()
        .map(|part| match part {
            Inline::Text(text) => escape(text),
            Inline::Code(text) => format!("<code>{}</code>", escape(text)),
        })
        .collect()
}

fn table(out: &mut String, table: &Table) {
    let cell = |text: &str| escape(text).replace('\n', "<br>");
    out.push_str("<div class=\"scroll\">\n<table>\n<thead><tr>");
    for head in &table.head {
        let _ = write!(out, "<th>{}</th>", cell(head));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for text in row {
            let _ = write!(out, "<td>{}</td>", cell(text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
}

fn legend(out: &mut String) {
    out.push_str("<ul class=\"legend\">\n");
    for kind in Kind::ALL {
        let _ = writeln!(
            out,
            "<li title=\"{}\"><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            escape(kind.meaning()),
            kind.fill(),
            kind.name()
        );
    }
    out.push_str(
        "<li><span class=\"swatch\" style=\"outline:3px solid #111111;outline-offset:-3px\">\
         </span>differs from most of its row</li>\n</ul>\n",
    );
}

fn heat_map(out: &mut String, report: &Report) {
    let pivot = &report.pivot;
    out.push_str("<div class=\"scroll\">\n<table class=\"heat\">\n<thead><tr>");
    out.push_str("<th class=\"name\">scenario</th><th>update</th>");
    for column in &pivot.columns {
        let _ = write!(
            out,
            "<th class=\"run\" title=\"{}\">{}</th>",
            escape(&column.label),
            column
                .heading()
                .iter()
                .map(|line| escape(line))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    out.push_str("</tr></thead>\n");
    for group in &pivot.groups {
        let _ = writeln!(
            out,
            "<tbody>\n<tr class=\"group\"><th colspan=\"{}\" scope=\"rowgroup\">Over {} \
             (target <code>{}</code>)</th></tr>",
            pivot.columns.len() + 2,
            escape(pivot::target_noun(group.target)),
            group.target
        );
        for row in &group.rows {
            let name = escape(&row.about.name);
            let update = rich(&vec![row.update.shown()]);
            let _ = write!(
                out,
                "<tr><th class=\"name\" scope=\"row\"><a href=\"#{name}\">{name}</a></th>\
                 <td class=\"update\">{update}</td>"
            );
            for (i, (cell, column)) in row.cells.iter().zip(&pivot.columns).enumerate() {
                let kind = cell.kind();
                let (text, title) = match cell {
                    Cell::Measured(measured) => (
                        format!(
                            "{}<small>{}</small>",
                            escape(&measured.text(group.target)),
                            escape(&pivot::interval(&measured.rate))
                        ),
                        format!(
                            "{}: {} of {} trials = {}; all outcomes: {}",
                            kind.name(),
                            measured.rate.k,
                            measured.rate.n,
                            pivot::percent_with_interval(&measured.rate),
                            measured.headline
                        ),
                    ),
                    Cell::NotRun(reason) => (kind.name().to_string(), format!("not run: {reason}")),
                    Cell::Missing => ("—".to_string(), "not measured in this run".to_string()),
                };
                let differs = if row.differs(i) { " differs" } else { "" };
                let _ = write!(
                    out,
                    "<td class=\"cell{differs}\" style=\"background:{};color:{}\" \
                     title=\"{}, {}: {}\">{}{text}</td>",
                    kind.fill(),
                    kind.ink(),
                    name,
                    escape(&column.label),
                    escape(&title),
                    if differs.is_empty() { "" } else { "≠ " }
                );
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n");
    }
    out.push_str("</table>\n</div>\n");
}

fn section(out: &mut String, section: &ScenarioSection) {
    let about = section.about;
    let update = rich(&vec![section.update.shown()]);
    let _ = writeln!(
        out,
        "<h4 id=\"{0}\">{0}</h4>\n<p>{1}</p>\n<p class=\"about\">Update: {update} · target: \
         {2} · victim: {3}.</p>",
        escape(&about.name),
        rich(&text::from_markdown(&about.description)),
        about.target,
        escape(&about.victim)
    );
    table(out, &section.table);
    let deaths = section
        .deaths
        .iter()
        .map(|(run, death)| format!("{}: {}", escape(run), escape(&death.replace('`', "'"))));
    let messages = section.messages.iter().map(|(run, message)| {
        format!(
            "{}, a dying victim said: <code>{}</code>",
            escape(run),
            escape(&message.replace('`', "'"))
        )
    });
    let notes = section
        .notes
        .iter()
        .map(|(run, note)| format!("{}: {}", escape(run), escape(note)));
    for items in [
        deaths.collect::<Vec<_>>(),
        messages.collect(),
        notes.collect(),
    ] {
        if !items.is_empty() {
            let _ = writeln!(out, "<ul>\n<li>{}</li>\n</ul>", items.join("</li>\n<li>"));
        }
    }
    if !about.explanation.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"about\">{}</p>",
            rich(&text::from_markdown(about.explanation.trim()))
        );
    }
}

/// Renders `report` as a self-contained HTML page.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<link rel=\"icon\" href=\"data:,\">\n<title>clobber report</title>\n");
    let _ = write!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>\n");
    out.push_str("<h1>clobber report</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"about\">{} Rates with intervals, times to death, the evidence of every \
         death and the environments are in the <a href=\"#details\">details</a>.</p>",
        escape(&about(report))
    );
    out.push_str("<h2>Findings</h2>\n<ul>\n");
    for finding in &report.findings {
        let _ = writeln!(out, "<li>{}</li>", rich(finding));
    }
    out.push_str("</ul>\n<h2>Outcome per scenario and run</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"key\">{} Hover a cell for its counts and interval.</p>",
        escape(TABLE_KEY)
    );
    legend(&mut out);
    heat_map(&mut out, report);
    out.push_str("<h2>Charts</h2>\n");
    for chart in &report.charts {
        let _ = writeln!(
            out,
            "<figure>\n<h3>{0}</h3>\n{1}\n<figcaption>{2} Also as a file: <a href=\"{3}\">{3}</a>.\
             </figcaption>\n</figure>",
            escape(&chart.title),
            chart.svg,
            escape(chart.caption),
            escape(&chart.file),
        );
    }
    out.push_str("<h2>Reproduce</h2>\n<pre><code>");
    for line in &report.reproduce {
        let _ = writeln!(out, "{}", escape(&line.shell()));
    }
    out.push_str("</code></pre>\n<h2 id=\"details\">Details</h2>\n");
    for group in &report.pivot.groups {
        let _ = writeln!(
            out,
            "<h3>Over {} (target <code>{}</code>)</h3>",
            escape(pivot::target_noun(group.target)),
            group.target
        );
        for next in report
            .scenarios
            .iter()
            .filter(|s| s.about.target == group.target)
        {
            section(&mut out, next);
        }
    }
    out.push_str("<h2>Environments</h2>\n");
    table(&mut out, &report.environments);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}
