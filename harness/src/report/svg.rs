//! The charts, one pair per target, built with the `svg` crate: 100% stacked bars of outcomes
//! per scenario and run, and the distribution of times to death on a log axis. Each is inlined
//! in report.html and written as a standalone file. The plot starts right of the longest run
//! label, and the legend wraps, so that every label fits. Colours come from [`Class`]; every
//! coordinate is printed with one decimal, so output is deterministic.

use svg::node::element::{Circle, Group, Line, Rectangle, Text, Title};
use svg::Document;

use crate::outcome::Outcome;
use crate::report::class::{self, Class};
use crate::report::pivot::{self, Column, Group as Rows, Pivot};
use crate::report::runs::Run;
use crate::results::ScenarioResult;
use crate::summary::micros;

/// One chart.
pub struct Chart {
    /// Its file name, e.g. `outcomes-lib.svg`.
    pub file: String,
    /// What it shows, for a heading.
    pub title: String,
    /// How to read it.
    pub caption: &'static str,
    /// The SVG document.
    pub svg: String,
}

const WIDTH: f64 = 920.0;
const PLOT_RIGHT: f64 = WIDTH - 24.0;
/// Font size of the run labels left of the bars.
const LABEL: f64 = 11.0;
const ROW: f64 = 22.0;
const BAR: f64 = 15.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

/// A coordinate with one decimal.
fn px(value: f64) -> String {
    format!("{value:.1}")
}

/// Estimated width of `text` at `size` px in a sans-serif font (generous: a label must fit).
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.62
}

/// Left edge of the plot area: right of the longest run label, which is right-aligned before it.
fn plot_left(columns: &[Column]) -> f64 {
    let longest = columns
        .iter()
        .map(|c| text_width(&c.short(), LABEL))
        .fold(0.0, f64::max);
    (12.0 + longest + 10.0).max(120.0)
}

fn text(x: f64, y: f64, size: f64, content: &str) -> Text {
    Text::new(content)
        .set("x", px(x))
        .set("y", px(y))
        .set("font-size", px(size))
}

/// Adds the grid, the x axis under the plot and the axis title.
fn with_x_axis(doc: Document, grid: Group, left: f64, bottom: f64, title: &str) -> Document {
    doc.add(grid)
        .add(line(left, bottom, PLOT_RIGHT, bottom, "#444444"))
        .add(
            text((left + PLOT_RIGHT) / 2.0, bottom + 38.0, 12.0, title)
                .set("text-anchor", "middle"),
        )
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64, colour: &str) -> Line {
    Line::new()
        .set("x1", px(x1))
        .set("y1", px(y1))
        .set("x2", px(x2))
        .set("y2", px(y2))
        .set("stroke", colour)
}

/// Legend entries from `y` down: a swatch drawn by `mark` and a label each, wrapped to the
/// chart's width; returns the legend and the y under it.
fn legend(entries: Vec<(Group, String)>, y: f64) -> (Group, f64) {
    let mut group = Group::new();
    let (mut x, mut y) = (12.0, y);
    for (mark, label) in entries {
        let width = 16.0 + text_width(&label, 12.0);
        if x > 12.0 && x + width > WIDTH - 12.0 {
            (x, y) = (12.0, y + 18.0);
        }
        group = group
            .add(mark.set("transform", format!("translate({},{})", px(x), px(y))))
            .add(text(x + 16.0, y + 10.0, 12.0, &label));
        x += width + 18.0;
    }
    (group, y + 18.0)
}

fn swatch(colour: &str) -> Group {
    Group::new().add(
        Rectangle::new()
            .set("width", 12)
            .set("height", 12)
            .set("rx", 2)
            .set("fill", colour),
    )
}

fn document(title: &str, height: f64, description: &str) -> Document {
    Document::new()
        .set("viewBox", format!("0 0 {} {}", px(WIDTH), px(height)))
        .set("width", px(WIDTH))
        .set("height", px(height))
        .set("font-family", FONT)
        .set("role", "img")
        .add(Title::new(description))
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "#ffffff"),
        )
        .add(text(12.0, 24.0, 16.0, title).set("font-weight", "600"))
}

/// 100% stacked bars: for every scenario of `rows`, one bar per run, one segment per outcome
/// label in the colour of its class.
fn outcome_bars(rows: &Rows, runs: &[Run], columns: &[Column]) -> String {
    let left = plot_left(columns);
    let mut classes: Vec<Class> = rows
        .rows
        .iter()
        .flat_map(|row| {
            runs.iter()
                .filter_map(|run| run.scenarios.get(&row.about.name))
        })
        .flat_map(|r| r.counts.keys().map(Class::of))
        .collect();
    classes.sort_unstable();
    classes.dedup();
    let (legend, under) = legend(
        classes
            .iter()
            .map(|c| (swatch(c.colour()), c.name().to_string()))
            .collect(),
        36.0,
    );
    let top = under + 8.0;
    let bottom = top + rows.rows.len() as f64 * (1.0 + runs.len() as f64) * ROW;
    let scale = |share: f64| left + share * (PLOT_RIGHT - left);
    let mut doc = document(
        &format!("Outcomes over {}", pivot::target_noun(rows.target)),
        bottom + 52.0,
        "Stacked bars: share of trials per outcome, for every scenario and run",
    )
    .add(legend);
    let mut grid = Group::new().set("stroke-width", 1);
    for tick in 0..=4 {
        let x = scale(f64::from(tick) / 4.0);
        grid = grid
            .add(line(x, top, x, bottom, "#e3e3e3"))
            .add(line(x, bottom, x, bottom + 5.0, "#444444"))
            .add(
                text(x, bottom + 18.0, 11.0, &format!("{}%", tick * 25))
                    .set("text-anchor", "middle"),
            );
    }
    doc = with_x_axis(doc, grid, left, bottom, "share of trials");
    let mut y = top;
    for row in &rows.rows {
        let name = row.about.name.as_str();
        doc = doc.add(text(12.0, y + 15.0, 13.0, name).set("font-weight", "600"));
        y += ROW;
        for (run, column) in runs.iter().zip(columns) {
            doc = doc
                .add(text(left - 8.0, y + 12.0, LABEL, &column.short()).set("text-anchor", "end"));
            let note = |content: &str| {
                text(left + 6.0, y + 12.0, LABEL, content)
                    .set("fill", "#777777")
                    .set("font-style", "italic")
            };
            let result = match run.scenarios.get(name) {
                None => {
                    doc = doc.add(note("not measured"));
                    y += ROW;
                    continue;
                }
                Some(result) if result.not_run.is_some() || result.trials == 0 => {
                    doc = doc.add(note("not run"));
                    y += ROW;
                    continue;
                }
                Some(result) => result,
            };
            let mut labels: Vec<(&Outcome, &u64)> = result.counts.iter().collect();
            labels.sort_by_key(|(label, _)| Class::of(label));
            let total = result.trials.max(1) as f64;
            let mut done = 0u64;
            let mut bar = Group::new();
            for (label, count) in labels {
                let (x0, x1) = (
                    scale(done as f64 / total),
                    scale((done + count) as f64 / total),
                );
                done += count;
                let class = Class::of(label);
                bar = bar.add(
                    Rectangle::new()
                        .set("x", px(x0))
                        .set("y", px(y + (ROW - BAR) / 2.0 - 2.0))
                        .set("width", px(x1 - x0))
                        .set("height", px(BAR))
                        .set("fill", class.colour())
                        .set("stroke", "#ffffff")
                        .set("stroke-width", 1)
                        .add(Title::new(format!(
                            "{}, {name}: {label} {count}/{}",
                            run.label, result.trials
                        ))),
                );
                let short = class::short_label(label);
                let inside = format!("{short} {count}/{}", result.trials);
                let shown = [inside, short, count.to_string()]
                    .into_iter()
                    .find(|t| text_width(t, 10.5) + 8.0 <= x1 - x0);
                if let Some(shown) = shown {
                    bar = bar.add(
                        text((x0 + x1) / 2.0, y + 12.0, 10.5, &shown)
                            .set("text-anchor", "middle")
                            .set("fill", "#ffffff")
                            .set("font-weight", "600"),
                    );
                }
            }
            doc = doc.add(bar);
            y += ROW;
        }
    }
    doc.to_string()
}

/// Tick labels of a log axis in microseconds: 1 µs, 10 µs, …, 1 s, 10 s.
fn decade_label(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{} s", us / 1_000_000)
    } else if us >= 1_000 {
        format!("{} ms", us / 1_000)
    } else {
        format!("{us} µs")
    }
}

/// How most victims of `result` that died, died: killed by a signal or exited.
fn death_class(result: &ScenarioResult) -> Class {
    let count = |class| -> u64 {
        result
            .counts
            .iter()
            .filter(|(label, _)| Class::of(label) == class)
            .map(|(_, count)| count)
            .sum()
    };
    if count(Class::Killed) >= count(Class::Exited) {
        Class::Killed
    } else {
        Class::Exited
    }
}

/// Times to death over the scenarios of `rows` in which a victim died, one dot per trial, on a
/// log axis, with the median and 90th percentile recorded in the results file marked; `None`
/// when no victim died.
fn death_times(rows: &Rows, runs: &[Run], columns: &[Column]) -> Option<String> {
    let left = plot_left(columns);
    let names: Vec<&str> = rows
        .rows
        .iter()
        .map(|row| row.about.name.as_str())
        .filter(|name| {
            runs.iter().any(|run| {
                run.scenarios
                    .get(*name)
                    .is_some_and(|r| !r.death_times_us.is_empty())
            })
        })
        .collect();
    let results = || {
        names
            .iter()
            .flat_map(|name| runs.iter().filter_map(|run| run.scenarios.get(*name)))
    };
    let (low, high) = results()
        .flat_map(|r| r.death_times_us.iter().copied())
        .fold(None, |range: Option<(u64, u64)>, us| {
            let us = us.max(1);
            Some(range.map_or((us, us), |(lo, hi)| (lo.min(us), hi.max(us))))
        })?;
    let low_decade = (low as f64).log10().floor() as u32;
    let high_decade = ((high as f64).log10().ceil() as u32).max(low_decade + 1);
    let scale = |us: f64| {
        let t = (us.max(1.0).log10() - f64::from(low_decade)) / f64::from(high_decade - low_decade);
        left + t * (PLOT_RIGHT - left)
    };
    let mut death_classes: Vec<Class> = results()
        .filter(|r| !r.death_times_us.is_empty())
        .map(death_class)
        .collect();
    death_classes.sort_unstable();
    death_classes.dedup();
    let dot = |colour: &str| {
        Group::new().add(
            Circle::new()
                .set("cx", 6)
                .set("cy", 6)
                .set("r", 3.5)
                .set("fill", colour)
                .set("fill-opacity", 0.6),
        )
    };
    let tick = |dash: Option<&str>| {
        let mark = line(6.0, 0.0, 6.0, 12.0, "#111111").set("stroke-width", 2);
        Group::new().add(match dash {
            Some(dash) => mark.set("stroke-dasharray", dash),
            None => mark,
        })
    };
    let (legend, under) = legend(
        death_classes
            .into_iter()
            .map(|class| {
                let how = if class == Class::Killed {
                    "killed"
                } else {
                    "exited"
                };
                (dot(class.colour()), format!("one death ({how})"))
            })
            .chain([
                (tick(None), "median".to_string()),
                (tick(Some("3 2")), "90th percentile".to_string()),
            ])
            .collect(),
        36.0,
    );
    let top = under + 8.0;
    let bottom = top + names.len() as f64 * (1.0 + runs.len() as f64) * ROW;
    let mut doc = document(
        &format!("Time to death over {}", pivot::target_noun(rows.target)),
        bottom + 52.0,
        "One dot per trial in which the victim died, on a logarithmic time axis",
    )
    .add(legend);
    let mut grid = Group::new().set("stroke-width", 1);
    for decade in low_decade..=high_decade {
        let us = 10u64.pow(decade);
        let x = scale(us as f64);
        grid = grid
            .add(line(x, top, x, bottom, "#d5d5d5"))
            .add(line(x, bottom, x, bottom + 5.0, "#444444"))
            .add(text(x, bottom + 18.0, 11.0, &decade_label(us)).set("text-anchor", "middle"));
        if decade < high_decade {
            for minor in 2..10 {
                let x = scale((minor * us) as f64);
                grid = grid.add(line(x, top, x, bottom, "#f0f0f0"));
            }
        }
    }
    doc = with_x_axis(
        doc,
        grid,
        left,
        bottom,
        "time from the start of the update (log scale)",
    );
    let mut y = top;
    for name in names {
        doc = doc.add(text(12.0, y + 15.0, 13.0, name).set("font-weight", "600"));
        y += ROW;
        for (run, column) in runs.iter().zip(columns) {
            doc = doc
                .add(text(left - 8.0, y + 12.0, LABEL, &column.short()).set("text-anchor", "end"));
            let centre = y + ROW / 2.0 - 2.0;
            let note = |content: &str| {
                text(left + 6.0, y + 12.0, LABEL, content)
                    .set("fill", "#777777")
                    .set("font-style", "italic")
            };
            match run.scenarios.get(name) {
                None => doc = doc.add(note("not measured")),
                Some(result) if result.death_times_us.is_empty() => {
                    doc = doc.add(note(&format!("no deaths in {} trials", result.trials)));
                }
                Some(result) => {
                    let colour = death_class(result).colour();
                    let mut dots = Group::new().set("fill", colour).set("fill-opacity", 0.55);
                    for (i, us) in result.death_times_us.iter().enumerate() {
                        // Deterministic vertical jitter so that equal times stay visible.
                        let jitter = ((i * 7) % 11) as f64 - 5.0;
                        dots = dots.add(
                            Circle::new()
                                .set("cx", px(scale(*us as f64)))
                                .set("cy", px(centre + jitter))
                                .set("r", 3),
                        );
                    }
                    doc = doc.add(dots);
                    if let Some(p) = &result.time_to_death_us {
                        for (value, dash, what) in
                            [(p.p50, None, "median"), (p.p90, Some("3 2"), "p90")]
                        {
                            let x = scale(value as f64);
                            let mark = line(x, centre - 8.0, x, centre + 8.0, "#111111")
                                .set("stroke-width", 2)
                                .add(Title::new(format!(
                                    "{}, {name}: {what} {}",
                                    run.label,
                                    micros(value)
                                )));
                            doc = doc.add(match dash {
                                Some(dash) => mark.set("stroke-dasharray", dash),
                                None => mark,
                            });
                        }
                    }
                }
            }
            y += ROW;
        }
    }
    Some(doc.to_string())
}

/// The charts of `pivot`: per target, the outcomes and, where victims died, the times to death.
pub fn charts(pivot: &Pivot, runs: &[Run]) -> Vec<Chart> {
    let mut charts = Vec::new();
    for group in &pivot.groups {
        charts.push(Chart {
            file: format!("outcomes-{}.svg", group.target),
            title: format!("Outcomes over {}", pivot::target_noun(group.target)),
            caption: "Share of trials ending in each outcome, per scenario and run; hover a \
                      segment for its count. Colours are the same in every chart.",
            svg: outcome_bars(group, runs, &pivot.columns),
        });
        if let Some(svg) = death_times(group, runs, &pivot.columns) {
            charts.push(Chart {
                file: format!("time-to-death-{}.svg", group.target),
                title: format!("Time to death over {}", pivot::target_noun(group.target)),
                caption: "Microseconds from the start of the update to the victim's death, one \
                          dot per trial in which it died (coloured by the more common way of \
                          dying in that run); the marks are the median and 90th percentile \
                          recorded in the results file.",
                svg,
            });
        }
    }
    charts
}
