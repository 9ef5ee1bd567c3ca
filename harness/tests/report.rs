//! Tests of `clobber report`: a report of a real suite run shows the real outcomes, the same
//! results give the same bytes, the committed report regenerates byte-identically from the
//! committed results, runs of one kernel on two machines stay apart, focused reports keep what
//! they name, bad input exits 2 naming the file, every chart file parses as XML, and
//! report.html lays out in a real headless browser (Debian's chromium) at phone and desktop
//! width with no console error, no backtick, no clipped chart label and no sideways scrolling.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{assert_ok, Dir};

impl Dir {
    /// Runs `clobber report --results RESULTS --out OUT` and returns its output.
    fn report(&self, results: &Path, out: &Path) -> Output {
        self.focused_report(results, out, &[])
    }

    /// Runs `clobber report --results RESULTS --out OUT EXTRA...` and returns its output.
    fn focused_report(&self, results: &Path, out: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "report",
            "--results",
            results.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.clobber(&args).output().expect("run clobber report")
    }

    /// Runs `clobber suite --trials N` into this test's results dir.
    fn suite(&self, trials: u32) {
        let (results, work) = (self.results(), self.work());
        let output = self
            .clobber(&[
                "suite",
                "--trials",
                &trials.to_string(),
                "--results",
                results.to_str().unwrap(),
                "--workdir",
                work.to_str().unwrap(),
            ])
            .output()
            .expect("run clobber suite");
        assert_ok(&output);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The committed results directory of the repository.
fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../results")
}

/// The row of scenario `name` in REPORT.md's table, as its cells.
fn scenario_row<'a>(markdown: &'a str, name: &str) -> Vec<&'a str> {
    row(markdown, &format!("[{name}](DETAILS.md#{name})"))
}

/// The markdown table row whose first cell is `first`, as its cells.
fn row<'a>(markdown: &'a str, first: &str) -> Vec<&'a str> {
    let prefix = format!("| {first} |");
    let line = markdown
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{markdown}"));
    line.trim_matches('|').split(" | ").map(str::trim).collect()
}

/// Lays out results as two CI runners' artifacts: this machine's file in runner-a/, and the same
/// kernel release measured on "another machine" (the same file with another machine_id) in
/// runner-b/. Returns the two run labels' machine parts.
fn two_machines(dir: &Dir) -> (PathBuf, String, String) {
    let (path, mut file) = dir.results_file();
    let name = path.file_name().unwrap().to_owned();
    let artifacts = dir.path().join("artifacts");
    let ours = file["environment"]["machine_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (runner, machine) in [("runner-a", ours.as_str()), ("runner-b", "0ther0ne")] {
        std::fs::create_dir_all(artifacts.join(runner)).unwrap();
        file["environment"]["machine_id"] = Value::from(machine);
        for entry in file["scenarios"].as_array_mut().unwrap() {
            entry["environment"]["machine_id"] = Value::from(machine);
        }
        std::fs::write(
            artifacts.join(runner).join(&name),
            serde_json::to_string_pretty(&file).unwrap(),
        )
        .unwrap();
    }
    (artifacts, ours, "0ther0ne".to_string())
}

#[test]
fn report_of_a_real_suite_shows_the_measured_outcomes() {
    let dir = Dir::new();
    dir.suite(5);
    let out = dir.path().join("out");
    let output = dir.report(&dir.results(), &out);
    assert_ok(&output);
    let markdown = read(&out.join("REPORT.md"));
    let details = read(&out.join("DETAILS.md"));
    let (_, file) = dir.results_file();
    let env = &file["environment"];
    let machine = env["machine_id"].as_str().unwrap();
    assert_eq!(machine.len(), 8, "{env}");
    let release = env["kernel_release"].as_str().unwrap();
    let heading = format!(
        "| scenario | update | {release}<br>{}, {} |",
        env["filesystem"].as_str().unwrap(),
        match env["virtualization"].as_str().unwrap() {
            "none" => "no VM",
            other => other,
        },
    );
    assert!(markdown.contains(&heading), "{heading}\n{markdown}");
    // One row per scenario: the update and the kind of most trials with k/n.
    assert_eq!(
        scenario_row(&markdown, "cp-over-exe")[1..],
        ["cp (truncate-write)", "refused 5/5"]
    );
    assert!(scenario_row(&markdown, "cp-over-lib")[2].starts_with("crash "));
    for name in ["install-over-lib", "rename-over-lib", "install-over-interp"] {
        assert_eq!(scenario_row(&markdown, name)[2], "safe 5/5", "{name}");
    }
    assert_eq!(
        scenario_row(&markdown, "tool-redirect-over-lib")[1],
        "`sh -c 'cat \"$1\" > \"$2\"' sh {new} {target}`"
    );
    assert_eq!(
        scenario_row(&markdown, "truncate-under-mmap")[2],
        "crash 5/5"
    );
    assert!(markdown.contains("## Findings\n\n- Over a running executable, "));
    assert!(
        markdown.contains("\nclobber suite --trials 5\n"),
        "{markdown}"
    );
    // Details: per scenario, run × outcome with the rate and interval from the file.
    let exe_entry = file["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cp-over-exe")
        .unwrap();
    let exe = &exe_entry["rates"]["writer:ETXTBSY"];
    // What a trial cost, as measured: microseconds below 10 ms, else milliseconds.
    let us = exe_entry["us_per_trial"].as_u64().unwrap();
    assert!(us > 0, "{exe_entry}");
    let cost = if us >= 10_000 {
        format!("{:.1} ms, 1 process", us as f64 / 1000.0)
    } else {
        format!("{us} µs, 1 process")
    };
    let cell = format!(
        "5/5 = 100.0% [{:.1}–100.0%]",
        exe["ci95_low"].as_f64().unwrap() * 100.0
    );
    let section = details.split("### cp-over-exe\n").nth(1).unwrap();
    assert!(section.contains("| run | trials | writer:ETXTBSY | cost per trial | as expected |"));
    let label = format!("{release} (");
    let line = section
        .lines()
        .find(|l| l.starts_with(&format!("| {label}")))
        .unwrap();
    assert!(
        line.ends_with(&format!("| 5 | {cell} | {cost} | yes |")),
        "{line}"
    );
    let lib = details.split("### cp-over-lib\n").nth(1).unwrap();
    assert!(
        lib.contains("| death p50 | death p90 | death max |"),
        "{lib}"
    );
    assert!(details.contains("## Environments"));
    let html = read(&out.join("report.html"));
    assert!(html.contains("<svg"), "no chart in report.html");
    assert!(out.join("outcomes-lib.svg").exists() && out.join("time-to-death-lib.svg").exists());
}

#[test]
fn same_results_give_the_same_bytes_and_two_machines_stay_apart() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["cp-over-exe", "cp-over-lib", "truncate-under-mmap"], 3));
    let (artifacts, ours, theirs) = two_machines(&dir);
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    assert_ok(&dir.report(&artifacts, &first));
    assert_ok(&dir.report(&artifacts, &second));
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&first), names(&second));
    for name in names(&first) {
        assert!(
            read(&first.join(&name)) == read(&second.join(&name)),
            "{name} differs between two reports of the same results"
        );
    }
    let markdown = read(&first.join("REPORT.md"));
    for machine in [ours, theirs] {
        assert!(
            markdown.contains(&format!("<br>machine {machine} |")),
            "run of machine {machine} missing:\n{markdown}"
        );
    }
    assert!(
        markdown.contains(
            "in 2 run(s), a run being one kernel release on one machine and \
             filesystem, read from 2 results file(s)"
        ),
        "{markdown}"
    );
    let details = read(&first.join("DETAILS.md"));
    assert!(details.contains("runner-a/") && details.contains("runner-b/"));
    // The default output directory is the results directory, and rerunning reads no output.
    assert_ok(&dir.report(&artifacts, &artifacts));
    assert_ok(&dir.report(&artifacts, &artifacts));
    assert_eq!(read(&artifacts.join("REPORT.md")), markdown);
}

#[test]
fn the_committed_report_regenerates_byte_identically_and_fits_a_few_screens() {
    let dir = Dir::new();
    let out = dir.path().join("out");
    assert_ok(&dir.report(&committed(), &out));
    let mut generated: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    generated.sort();
    let mut outputs: Vec<String> = std::fs::read_dir(committed())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".json") && !name.starts_with('.'))
        .collect();
    outputs.sort();
    assert_eq!(
        generated, outputs,
        "results/ holds other report files than `clobber report` writes: regenerate with \
         `cargo run -- report`"
    );
    for name in &generated {
        assert!(
            read(&out.join(name)) == read(&committed().join(name)),
            "results/{name} is not what `clobber report` makes of the committed results: \
             regenerate with `cargo run -- report`"
        );
    }
    let lines = read(&out.join("REPORT.md")).lines().count();
    assert!(lines <= 250, "REPORT.md has {lines} lines, more than 250");
    let markdown = read(&out.join("REPORT.md"));
    assert!(markdown.contains("`sh -c 'cat \"$1\" > \"$2\"' sh {new} {target}`"));
    assert!(markdown.contains("## Reproduce\n\n```sh\n# measured with clobber "));
}

#[test]
fn every_chart_file_is_well_formed_svg() {
    let dir = Dir::new();
    let out = dir.path().join("out");
    assert_ok(&dir.report(&committed(), &out));
    let mut charts = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "svg") {
            let text = read(&path);
            let doc = roxmltree::Document::parse(&text)
                .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
            let root = doc.root_element();
            assert_eq!(root.tag_name().name(), "svg", "{}", path.display());
            assert_eq!(
                root.tag_name().namespace(),
                Some("http://www.w3.org/2000/svg"),
                "{}",
                path.display()
            );
            assert!(root.attribute("viewBox").is_some(), "{}", path.display());
            charts += 1;
        }
    }
    assert!(out.join("outcomes-lib.svg").exists());
    assert!(charts >= 2, "only {charts} chart files");
}

#[test]
fn a_focused_report_keeps_the_named_scenarios_and_runs() {
    let dir = Dir::new();
    let out = dir.path().join("out");
    let focus = [
        "--scenarios",
        "cp-over-interp,install-over-interp",
        "--runs",
        "tmpfs",
    ];
    assert_ok(&dir.focused_report(&committed(), &out, &focus));
    let markdown = read(&out.join("REPORT.md"));
    let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with("| [")).collect();
    assert_eq!(rows.len(), 2, "{markdown}");
    let heading = markdown
        .lines()
        .find(|l| l.starts_with("| scenario |"))
        .unwrap();
    assert!(
        heading.contains("tmpfs") && !heading.contains("ext4"),
        "{heading}"
    );
    assert!(
        markdown
            .contains("clobber report --scenarios cp-over-interp,install-over-interp --runs tmpfs"),
        "{markdown}"
    );
    assert!(
        markdown.contains("--scenarios cp-over-interp,install-over-interp\n"),
        "{markdown}"
    );
    let charts: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    assert!(
        charts.iter().all(|n| n.ends_with("-interp.svg")),
        "{charts:?}"
    );

    let output = dir.focused_report(&committed(), &out, &["--scenarios", "no-such-scenario"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-scenario"));
    let output = dir.focused_report(&committed(), &out, &["--runs", "no-such-kernel"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-kernel"));
}

#[test]
fn a_corrupt_results_file_is_named_with_status_2() {
    let dir = Dir::new();
    let results = dir.results().join("runner-c");
    std::fs::create_dir_all(&results).unwrap();
    let bad = results.join("6.1.0-28-amd64.json");
    std::fs::write(&bad, "{\"schema_version\": 1, \"environ").unwrap();
    let out = dir.path().join("out");
    let output = dir.report(&dir.results(), &out);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(bad.to_str().unwrap()), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.join("REPORT.md").exists());

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = dir.report(&empty, &out);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no results files"));
}

/// Debian's chromium, or a failure that says how to install it: this test never skips.
fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed, and the browser tests need it: run `make test-deps` \
                 (which installs it) or `apt-get install chromium`"
            )
        })
}

/// Runs `command` with stdout and stderr into files, killing it after `limit`.
fn run_with_limit(mut command: Command, dir: &Path, limit: Duration) -> (bool, String, String) {
    let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {limit:?}; stderr:\n{}",
                read(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.success(), read(&stdout), read(&stderr))
}

/// Collects errors from the moment the page starts loading.
const ERRORS_SCRIPT: &str = "<script>window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
const original = console.error;
console.error = (...args) => { window.__errors.push(args.join(' ')); original(...args); };
</script>";

/// Checks the laid-out page and writes the verdict as JSON into `<pre id=verdict>`.
const CHECK_SCRIPT: &str = "<script>(() => {
const problems = [];
const text = document.body.innerText;
const tick = text.indexOf('`');
if (tick >= 0) problems.push('backtick in the text: ' + text.slice(Math.max(0, tick - 60), tick + 60));
const svgs = document.querySelectorAll('svg');
svgs.forEach((svg, i) => {
  const box = svg.getBoundingClientRect();
  svg.querySelectorAll('text').forEach(label => {
    const r = label.getBoundingClientRect();
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
      problems.push('label ' + JSON.stringify(label.textContent) + ' of chart ' + i + ' is clipped: ' +
        [r.left, r.right, r.top, r.bottom].map(Math.round) + ' outside ' + [box.left, box.right, box.top, box.bottom].map(Math.round));
  });
});
const scroll = document.documentElement.scrollWidth;
if (scroll > window.innerWidth) problems.push('the page scrolls sideways: scrollWidth ' + scroll + ' > innerWidth ' + window.innerWidth);
const verdict = document.createElement('pre');
verdict.id = 'verdict';
verdict.textContent = JSON.stringify({width: window.innerWidth, charts: svgs.length,
  cells: document.querySelectorAll('table.heat td.cell').length, problems, errors: window.__errors});
document.body.appendChild(verdict);
})();</script>";

/// Loads `page` in headless chromium in a frame `width` px wide (headless windows are at least
/// 500 px wide, so the page is the `srcdoc` of a same-origin iframe), and returns the verdict of
/// [`CHECK_SCRIPT`] run inside it and chromium's console lines.
fn lay_out(chromium: &Path, page: &Path, width: u32, dir: &Path) -> (Value, Vec<String>) {
    let run = dir.join(format!("at-{width}"));
    std::fs::create_dir_all(&run).unwrap();
    let checked = read(page)
        .replacen("<head>", &format!("<head>\n{ERRORS_SCRIPT}"), 1)
        .replacen("</body>", &format!("{CHECK_SCRIPT}\n</body>"), 1)
        .replace('&', "&amp;")
        .replace('"', "&quot;");
    let wrapper = run.join("frame.html");
    std::fs::write(
        &wrapper,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"margin:0\">\
             <iframe id=\"page\" style=\"width:{width}px;height:900px;border:0;display:block\" \
             srcdoc=\"{checked}\"></iframe><script>window.addEventListener('load', () => {{ \
             const verdict = document.getElementById('page').contentDocument\
             .getElementById('verdict'); if (verdict) document.body.appendChild(verdict\
             .cloneNode(true)); }});</script></body></html>"
        ),
    )
    .unwrap();
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--window-size={},1000", width.max(500) + 40))
        .arg(format!("--user-data-dir={}", run.join("profile").display()))
        .arg(format!("file://{}", wrapper.display()));
    let (ok, dom, stderr) = run_with_limit(command, &run, Duration::from_secs(120));
    assert!(ok, "chromium failed; stderr:\n{stderr}");
    let console = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect();
    let verdict = dom
        .split("<pre id=\"verdict\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!("no verdict at {width} px; the check script did not run:\n{stderr}")
        });
    let verdict = verdict
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    (serde_json::from_str(&verdict).unwrap(), console)
}

#[test]
fn report_html_fits_phone_and_desktop_widths_in_headless_chromium() {
    let chromium = chromium();
    let dir = Dir::new();
    let out = dir.path().join("out");
    assert_ok(&dir.report(&committed(), &out));
    let page = out.join("report.html");
    let html = read(&page);
    for external in [
        "<script",
        "src=",
        "url(",
        "@import",
        "<link rel=\"stylesheet",
    ] {
        assert!(
            !html.contains(external),
            "report.html is not self-contained: {external}"
        );
    }
    for width in [390, 1280] {
        let (verdict, console) = lay_out(&chromium, &page, width, dir.path());
        assert!(console.is_empty(), "console at {width} px: {console:#?}");
        assert_eq!(verdict["width"], width, "{verdict}");
        assert_eq!(
            verdict["errors"],
            Value::Array(vec![]),
            "at {width} px: {verdict}"
        );
        assert_eq!(
            verdict["problems"],
            Value::Array(vec![]),
            "at {width} px: {verdict:#}"
        );
        assert!(verdict["charts"].as_u64().unwrap() >= 2, "{verdict}");
        assert!(verdict["cells"].as_u64().unwrap() > 0, "{verdict}");
    }
}

/// The checks must be able to fail: a page that is too wide, with a clipped label and a
/// backtick, is caught.
#[test]
fn the_browser_check_catches_a_bad_page() {
    let chromium = chromium();
    let dir = Dir::new();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta name=\"viewport\" content=\"width=device-width\">\
         </head><body><p>`raw`</p><div style=\"width:2000px\">wide</div>\
         <svg viewBox=\"0 0 100 50\" width=\"100\" height=\"50\">\
         <text x=\"-30\" y=\"20\">cut off</text></svg></body></html>",
    )
    .unwrap();
    let (verdict, _) = lay_out(&chromium, &page, 390, dir.path());
    let problems = verdict["problems"].to_string();
    assert!(problems.contains("backtick"), "{problems}");
    assert!(problems.contains("clipped"), "{problems}");
    assert!(problems.contains("scrolls sideways"), "{problems}");
}

#[test]
fn a_results_file_of_another_machine_is_never_merged_into() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["cp-over-exe"], 1));
    let (path, mut file) = dir.results_file();
    file["environment"]["machine_id"] = Value::from("0ther0ne");
    let before = serde_json::to_string_pretty(&file).unwrap();
    std::fs::write(&path, &before).unwrap();
    let output = dir.scenario(&["cp-over-exe"], 1);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(path.to_str().unwrap()) && stderr.contains("0ther0ne"),
        "{stderr}"
    );
    assert_eq!(read(&path), before);
}
