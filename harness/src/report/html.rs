//! report.html: one self-contained page (inline CSS and SVG, no scripts, fonts, images or links
//! to fetch) with the tables of REPORT.md and the charts of [`super::svg`].

use std::fmt::Write as _;

use crate::report::markdown::HEADLINE_KEY;
use crate::report::model::{method_label, Report, Table};
use crate::report::svg;

const STYLE: &str = "
body { margin: 0; background: #fafafa; color: #1a1a1a;
  font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: #ffffff; }
h1 { font-size: 28px; margin-bottom: 4px; }
h2 { margin-top: 40px; border-bottom: 1px solid #dddddd; padding-bottom: 4px; }
h3 { margin-top: 28px; }
table { border-collapse: collapse; margin: 12px 0 20px; font-size: 13px; }
th, td { border: 1px solid #d8d8d8; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tbody tr:nth-child(even) { background: #fbfbfb; }
figure { margin: 16px 0 28px; overflow-x: auto; }
figcaption { font-size: 13px; color: #555555; margin-top: 6px; }
.key, .about { color: #444444; font-size: 14px; }
code { background: #f2f2f2; padding: 1px 4px; border-radius: 3px; }
";

/// Text safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn table(out: &mut String, table: &Table) {
    let cell = |text: &str| escape(text).replace('\n', "<br>");
    out.push_str("<table>\n<thead><tr>");
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
    out.push_str("</tbody>\n</table>\n");
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
        "<p class=\"about\">What overwriting files that running programs map did to those \
         programs, measured by <code>clobber</code> in {} run(s) from {} results file(s). A run is \
         one kernel release on one machine and filesystem. Every number comes from the results \
         files; rates carry 95% Wilson intervals.</p>",
        report.runs.len(),
        report.files
    );
    out.push_str("<h2>Update method × target → outcome</h2>\n");
    let _ = writeln!(out, "<p class=\"key\">{}</p>", escape(HEADLINE_KEY));
    for headline in &report.headlines {
        let _ = writeln!(out, "<h3>{}</h3>", escape(&headline.run));
        table(&mut out, &headline.table);
    }
    out.push_str("<h2>Differences between kernels and filesystems</h2>\n");
    if report.runs.len() < 2 {
        out.push_str("<p>Only one run: nothing to compare yet.</p>\n");
    } else if report.differences.is_empty() {
        out.push_str(
            "<p>Every scenario had the same dominant outcome in every run that measured it.</p>\n",
        );
    } else {
        out.push_str("<ul>\n");
        for difference in &report.differences {
            let _ = write!(
                out,
                "<li><strong>{}</strong> (between {}): {}\n<ul>\n",
                escape(&difference.about.name),
                escape(&difference.between),
                escape(&difference.about.description)
            );
            for (run, outcome) in &difference.outcomes {
                let _ = writeln!(
                    out,
                    "<li>{}: {}</li>",
                    escape(run),
                    escape(outcome).replace('\n', "; ")
                );
            }
            out.push_str("</ul>\n</li>\n");
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h2>Outcomes</h2>\n<figure>\n");
    out.push_str(&svg::outcome_bars(report.runs));
    out.push_str(
        "\n<figcaption>Share of trials ending in each outcome; hover a segment for its count. \
         Colours are the same in every chart.</figcaption>\n</figure>\n",
    );
    out.push_str("<h2>Time to death</h2>\n");
    match svg::death_times(report.runs) {
        Some(chart) => {
            out.push_str("<figure>\n");
            out.push_str(&chart);
            out.push_str(
                "\n<figcaption>Microseconds from the start of the update to the victim's death, \
                 one dot per trial in which it died (coloured by the more common way of dying in \
                 that run); the marks are the median and 90th percentile recorded in the results \
                 file.</figcaption>\n</figure>\n",
            );
        }
        None => out.push_str("<p>No victim died in any run.</p>\n"),
    }
    out.push_str("<h2>Scenarios</h2>\n");
    for section in &report.scenarios {
        let about = section.about;
        let _ = writeln!(
            out,
            "<h3 id=\"{0}\">{0}</h3>\n<p>{1}</p>\n<p class=\"about\">Method: {2} · target: {3} · \
             victim: {4}.</p>",
            escape(&about.name),
            escape(&about.description),
            escape(&method_label(&about.method)),
            about.target,
            escape(&about.victim)
        );
        table(&mut out, &section.table);
        if !section.deaths.is_empty() {
            out.push_str("<ul>\n");
            for (run, death) in &section.deaths {
                let _ = writeln!(out, "<li>{}: {}</li>", escape(run), escape(death));
            }
            out.push_str("</ul>\n");
        }
        if !section.messages.is_empty() {
            out.push_str("<ul>\n");
            for (run, message) in &section.messages {
                let _ = writeln!(
                    out,
                    "<li>{}, a dying victim said: <code>{}</code></li>",
                    escape(run),
                    escape(message)
                );
            }
            out.push_str("</ul>\n");
        }
        if !about.explanation.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"about\">{}</p>",
                escape(about.explanation.trim())
            );
        }
    }
    out.push_str("<h2>Environments</h2>\n");
    table(&mut out, &report.environments);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}
