//! `clobber report`: reads every results file below a directory, groups them into runs (kernel
//! release × machine × filesystem) and writes REPORT.md and a self-contained report.html with the
//! same tables and SVG charts. The output depends only on the results files: same input, same
//! bytes.

mod class;
mod html;
mod markdown;
mod model;
mod runs;
mod svg;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use model::Report;

/// The file names of the report in its output directory.
const OUTPUTS: [&str; 2] = ["REPORT.md", "report.html"];

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

/// Reads the results below `results` and writes the report into `out`; returns the files written.
pub fn write(results: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let (runs, files) = runs::load(results)?;
    let report = Report::new(&runs, files);
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let contents = [markdown::render(&report), html::render(&report)];
    let mut written = Vec::new();
    for (name, contents) in OUTPUTS.iter().zip(contents) {
        let path = out.join(name);
        write_atomically(&path, &contents)?;
        written.push(path);
    }
    Ok(written)
}
