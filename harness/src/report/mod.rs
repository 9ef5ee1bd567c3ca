//! `clobber report`: reads every results file below a directory, groups them into runs (kernel
//! release × machine × filesystem), optionally keeps only some scenarios and runs, and writes
//! REPORT.md (findings, one table of scenarios × runs, how to reproduce), DETAILS.md (the
//! per-scenario tables and environments), a self-contained report.html with the same content as
//! a heat map and charts, and each chart as a standalone SVG. The output depends only on the
//! results files and the filter: same input, same bytes.

mod class;
mod filter;
mod findings;
mod html;
mod markdown;
mod model;
mod pivot;
mod reproduce;
mod runs;
mod svg;
mod text;
mod update;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use filter::Filter;
use model::Report;

/// Whether `name` is a chart file this command writes (`outcomes-*.svg`, `time-to-death-*.svg`).
fn is_chart(name: &str) -> bool {
    name.ends_with(".svg") && (name.starts_with("outcomes-") || name.starts_with("time-to-death-"))
}

/// Writes `contents` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    temp.write_all(contents.as_bytes())?;
    temp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    temp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Reads the results below `results`, keeps what `filter` chooses and writes the report into
/// `out`, replacing the charts of an earlier report there; returns the files written.
pub fn write(results: &Path, out: &Path, filter: &Filter) -> Result<Vec<PathBuf>> {
    let (runs, files) = runs::load(results)?;
    let runs = filter.apply(runs)?;
    let report = Report::new(&runs, files, filter);
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut contents = vec![
        ("REPORT.md".to_string(), markdown::render(&report)),
        (
            markdown::DETAILS.to_string(),
            markdown::render_details(&report),
        ),
        ("report.html".to_string(), html::render(&report)),
    ];
    contents.extend(
        report
            .charts
            .iter()
            .map(|chart| (chart.file.clone(), format!("{}\n", chart.svg))),
    );
    for entry in fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_chart(&name) && !contents.iter().any(|(file, _)| *file == name) {
            let stale = out.join(&name);
            fs::remove_file(&stale).with_context(|| format!("removing {}", stale.display()))?;
        }
    }
    let mut written = Vec::new();
    for (name, contents) in contents {
        let path = out.join(name);
        write_atomically(&path, &contents)?;
        written.push(path);
    }
    Ok(written)
}
