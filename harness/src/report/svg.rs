//! The charts of report.html as inline SVG, built with the `svg` crate: 100% stacked bars of
//! outcomes per scenario and run, and the distribution of times to death on a log axis. Colours
//! come from [`Class`]; every coordinate is printed with one decimal, so output is deterministic.

use svg::node::element::{Circle, Group, Line, Rectangle, Text, Title};
use svg::Document;

use crate::outcome::Outcome;
use crate::report::class::{self, Class};
use crate::report::runs::Run;
use crate::results::ScenarioResult;
use crate::summary::micros;

const WIDTH: f64 = 920.0;
/// Left edge of the plot area; run labels are right-aligned before it.
const PLOT_LEFT: f64 = 330.0;
const PLOT_RIGHT: f64 = WIDTH - 24.0;
const ROW: f64 = 22.0;
const BAR: f64 = 15.0;
const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";

/// A coordinate with one decimal.
fn px(value: f64) -> String {
    format!("{value:.1}")
}

/// Estimated width of `text` at `size` px in a sans-serif font.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.56
}

fn text(x: f64, y: f64, size: f64, content: &str) -> Text {
    Text::new(content)
        .set("x", px(x))
        .set("y", px(y))
        .set("font-size", px(size))
}

/// Adds the grid, the x axis under the plot and the axis title.
fn with_x_axis(doc: Document, grid: Group, bottom: f64, title: &str) -> Document {
    doc.add(grid)
        .add(line(PLOT_LEFT, bottom, PLOT_RIGHT, bottom, "#444444"))
        .add(
            text((PLOT_LEFT + PLOT_RIGHT) / 2.0, bottom + 38.0, 12.0, title)
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

/// A row of legend entries at `y`: a swatch drawn by `mark` and a label each.
fn legend(entries: Vec<(Group, String)>, y: f64) -> Group {
    let mut group = Group::new();
    let mut x = PLOT_LEFT;
    for (mark, label) in entries {
        group = group
            .add(mark.set("transform", format!("translate({},{})", px(x), px(y))))
            .add(text(x + 16.0, y + 10.0, 12.0, &label));
        x += 16.0 + text_width(&label, 12.0) + 18.0;
    }
    group
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

/// The names of the scenarios measured in any run, sorted.
fn scenario_names(runs: &[Run]) -> Vec<&str> {
    let mut names: Vec<&str> = runs
        .iter()
        .flat_map(|run| run.scenarios.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// 100% stacked bars: for every scenario, one bar per run, one segment per outcome label in the
/// colour of its class.
pub fn outcome_bars(runs: &[Run]) -> String {
    let names = scenario_names(runs);
    let mut classes: Vec<Class> = runs
        .iter()
        .flat_map(|run| run.scenarios.values())
        .flat_map(|r| r.counts.keys().map(Class::of))
        .collect();
    classes.sort_unstable();
    classes.dedup();
    let top = 64.0;
    let rows = names.len() as f64 * (1.0 + runs.len() as f64);
    let bottom = top + rows * ROW;
    let height = bottom + 52.0;
    let scale = |share: f64| PLOT_LEFT + share * (PLOT_RIGHT - PLOT_LEFT);
    let mut doc = document(
        "Outcome of each trial, per scenario and kernel",
        height,
        "Stacked bars: share of trials per outcome, for every scenario and run",
    )
    .add(legend(
        classes
            .iter()
            .map(|c| (swatch(c.colour()), c.name().to_string()))
            .collect(),
        36.0,
    ));
    let mut grid = Group::new().set("stroke-width", 1);
    for tick in 0..=4 {
        let share = f64::from(tick) / 4.0;
        let x = scale(share);
        grid = grid
            .add(line(x, top, x, bottom, "#e3e3e3"))
            .add(line(x, bottom, x, bottom + 5.0, "#444444"))
            .add(
                text(x, bottom + 18.0, 11.0, &format!("{}%", tick * 25))
                    .set("text-anchor", "middle"),
            );
    }
    doc = with_x_axis(doc, grid, bottom, "share of trials");
    let mut y = top;
    for name in names {
        doc = doc.add(text(12.0, y + 15.0, 13.0, name).set("font-weight", "600"));
        y += ROW;
        for run in runs {
            doc = doc
                .add(text(PLOT_LEFT - 8.0, y + 12.0, 11.0, &run.label).set("text-anchor", "end"));
            let Some(result) = run.scenarios.get(name) else {
                doc = doc.add(
                    text(PLOT_LEFT + 6.0, y + 12.0, 11.0, "not measured")
                        .set("fill", "#777777")
                        .set("font-style", "italic"),
                );
                y += ROW;
                continue;
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

/// Times to death, one dot per trial in which the victim died, on a log axis, with the median
/// and 90th percentile recorded in the results file marked; `None` when no victim died.
pub fn death_times(runs: &[Run]) -> Option<String> {
    let names: Vec<&str> = scenario_names(runs)
        .into_iter()
        .filter(|name| {
            runs.iter().any(|run| {
                run.scenarios
                    .get(*name)
                    .is_some_and(|r| !r.death_times_us.is_empty())
            })
        })
        .collect();
    let samples = names
        .iter()
        .flat_map(|name| runs.iter().filter_map(|run| run.scenarios.get(*name)))
        .flat_map(|r| r.death_times_us.iter().copied());
    let (low, high) = samples.fold(None, |range: Option<(u64, u64)>, us| {
        let us = us.max(1);
        Some(range.map_or((us, us), |(lo, hi)| (lo.min(us), hi.max(us))))
    })?;
    let low_decade = (low as f64).log10().floor() as u32;
    let high_decade = ((high as f64).log10().ceil() as u32).max(low_decade + 1);
    let scale = |us: f64| {
        let t = (us.max(1.0).log10() - f64::from(low_decade)) / f64::from(high_decade - low_decade);
        PLOT_LEFT + t * (PLOT_RIGHT - PLOT_LEFT)
    };
    let mut death_classes: Vec<Class> = names
        .iter()
        .flat_map(|name| runs.iter().filter_map(|run| run.scenarios.get(*name)))
        .filter(|r| !r.death_times_us.is_empty())
        .map(death_class)
        .collect();
    death_classes.sort_unstable();
    death_classes.dedup();
    let top = 64.0;
    let rows = names.len() as f64 * (1.0 + runs.len() as f64);
    let bottom = top + rows * ROW;
    let height = bottom + 52.0;
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
    let mut doc = document(
        "Time from the start of the update to the victim's death",
        height,
        "One dot per trial in which the victim died, on a logarithmic time axis",
    )
    .add(legend(
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
    ));
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
    doc = with_x_axis(doc, grid, bottom, "time to death (log scale)");
    let mut y = top;
    for name in names {
        doc = doc.add(text(12.0, y + 15.0, 13.0, name).set("font-weight", "600"));
        y += ROW;
        for run in runs {
            doc = doc
                .add(text(PLOT_LEFT - 8.0, y + 12.0, 11.0, &run.label).set("text-anchor", "end"));
            let centre = y + ROW / 2.0 - 2.0;
            let note = |content: &str| {
                text(PLOT_LEFT + 6.0, y + 12.0, 11.0, content)
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
