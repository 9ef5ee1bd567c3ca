//! Tests of `clobber report`: a report of a real suite run shows the real outcomes, the same
//! results give the same bytes, runs of one kernel on two machines stay apart, bad input exits 2
//! naming the file, and report.html loads in a real headless browser (Debian's chromium).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{assert_ok, Dir};

impl Dir {
    /// Runs `clobber report --results RESULTS --out OUT` and returns its output.
    fn report(&self, results: &Path, out: &Path) -> Output {
        self.clobber(&[
            "report",
            "--results",
            results.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("run clobber report")
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
    let (_, file) = dir.results_file();
    let env = &file["environment"];
    let machine = env["machine_id"].as_str().unwrap();
    assert_eq!(machine.len(), 8, "{env}");
    let label = format!(
        "{} ({}, {}, machine {machine})",
        env["kernel_release"].as_str().unwrap(),
        match env["virtualization"].as_str().unwrap() {
            "none" => "no VM",
            other => other,
        },
        env["filesystem"].as_str().unwrap()
    );
    assert!(markdown.contains(&format!("### {label}\n")), "{markdown}");
    // Headline: columns are update method, exe, lib, linked-lib, interp, data; a cell that holds
    // several scenarios names each.
    let cp = row(&markdown, "cp (truncate-write)");
    assert_eq!(cp[1], "refused", "{cp:?}");
    assert!(cp[2].contains("crashes "), "{cp:?}");
    assert!(cp[3].contains("crashes "), "{cp:?}");
    for method in ["install (unlink-create)", "mv, dpkg, rpm (temp-rename)"] {
        let cells = row(&markdown, method);
        for cell in &cells[1..5] {
            assert!(
                cell.contains("safe") && !cell.contains("crashes"),
                "{cells:?}"
            );
        }
    }
    assert_eq!(row(&markdown, "truncate -s 0 (truncate)")[5], "crashes 5/5");
    // Per scenario: kernel × outcome with the rate and interval from the file.
    let exe = &file["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cp-over-exe")
        .unwrap()["rates"]["writer:ETXTBSY"];
    let cell = format!(
        "5/5 = 100.0% [{:.1}–100.0%]",
        exe["ci95_low"].as_f64().unwrap() * 100.0
    );
    let section = markdown.split("### cp-over-exe\n").nth(1).unwrap();
    assert!(section.contains("| run | trials | writer:ETXTBSY | as expected |"));
    assert_eq!(row(section, &label)[1..], ["5", cell.as_str(), "yes"]);
    let lib = markdown.split("### cp-over-lib\n").nth(1).unwrap();
    assert!(
        lib.contains("| death p50 | death p90 | death max |"),
        "{lib}"
    );
    assert!(markdown.contains("## Environments"));
    assert!(markdown.contains("Only one run: nothing to compare yet."));
    let html = read(&out.join("report.html"));
    assert!(html.contains("<svg"), "no chart in report.html");
}

#[test]
fn same_results_give_the_same_bytes_and_two_machines_stay_apart() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["cp-over-exe", "cp-over-lib", "truncate-under-mmap"], 3));
    let (artifacts, ours, theirs) = two_machines(&dir);
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    assert_ok(&dir.report(&artifacts, &first));
    assert_ok(&dir.report(&artifacts, &second));
    for name in ["REPORT.md", "report.html"] {
        assert!(
            read(&first.join(name)) == read(&second.join(name)),
            "{name} differs between two reports of the same results"
        );
    }
    let markdown = read(&first.join("REPORT.md"));
    for machine in [ours, theirs] {
        assert!(
            markdown.contains(&format!("machine {machine})\n")),
            "run of machine {machine} missing:\n{markdown}"
        );
    }
    assert!(
        markdown.contains("2 run(s) from 2 results file(s)"),
        "{markdown}"
    );
    assert!(markdown.contains("runner-a/") && markdown.contains("runner-b/"));
    // The default output directory is the results directory, and rerunning reads no output.
    assert_ok(&dir.report(&artifacts, &artifacts));
    assert_ok(&dir.report(&artifacts, &artifacts));
    assert_eq!(read(&artifacts.join("REPORT.md")), markdown);
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
                "chromium is not installed, and the browser test needs it: run `make test` (which \
                 installs it) or `apt-get install chromium`"
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

#[test]
fn report_html_loads_in_headless_chromium_without_console_errors() {
    let chromium = chromium();
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["cp-over-exe", "cp-over-lib", "install-over-lib"], 3));
    let (artifacts, ours, theirs) = two_machines(&dir);
    let out = dir.path().join("out");
    assert_ok(&dir.report(&artifacts, &out));
    let html = out.join("report.html");
    let page = read(&html);
    for external in [
        "<script",
        "src=",
        "url(",
        "@import",
        "<link rel=\"stylesheet",
    ] {
        assert!(
            !page.contains(external),
            "report.html is not self-contained: {external}"
        );
    }
    let profile = dir.path().join("chromium-profile");
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
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", html.display()));
    let (ok, dom, stderr) = run_with_limit(command, dir.path(), Duration::from_secs(120));
    assert!(ok, "chromium failed; stderr:\n{stderr}");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(dom.contains("<h1>clobber report</h1>"), "DOM:\n{dom}");
    assert!(dom.contains("<svg"), "no chart in the DOM");
    let (_, file) = dir.results_file();
    let release = file["environment"]["kernel_release"].as_str().unwrap();
    for machine in [ours, theirs] {
        let shown = format!("<h3>{release} (");
        assert!(dom.contains(&shown), "no headline for {release}");
        assert!(
            dom.contains(&format!("machine {machine})</h3>")),
            "run of machine {machine} not shown in the DOM"
        );
    }
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
