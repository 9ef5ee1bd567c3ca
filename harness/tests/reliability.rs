//! Trustworthy under faults: SIGKILL and SIGINT in the middle of a run leave no victim behind and
//! keep every finished scenario; a victim that stops making progress is classified `hung`; a
//! scenario that would write outside the work dir is rejected.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{assert_no_victims, processes_naming, scenario_file, scenario_names, Dir};

const FAST: &str = "description = \"d\"\nexplanation = \"e\"\nmethod = \"truncate-write\"\ntarget = \"exe\"\n[expect]\noutcomes = [\"writer:ETXTBSY\"]\nshare = \"all\"\n";
const SLOW: &str = "description = \"d\"\nexplanation = \"e\"\nmethod = \"unlink-create\"\ntarget = \"linked-lib\"\nvictims = 32\n[expect]\noutcomes = [\"unchanged\"]\nshare = \"all\"\n";

/// `clobber suite` of `scenarios`, 1000 trials each, in `dir`; the caller waits for it.
fn spawn_suite(dir: &Dir, scenarios: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clobber"))
        .args(["suite", "--trials", "1000", "--scenarios-dir"])
        .arg(scenarios)
        .arg("--results")
        .arg(dir.results())
        .arg("--workdir")
        .arg(dir.work())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A running harness, killed and reaped if a test fails before it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a suite of one fast scenario then a long one, and waits until the fast one's result is
/// in the results file.
fn start_suite(dir: &Dir) -> Running {
    let scenarios = dir.path().join("scenarios");
    scenario_file(&scenarios, "a-fast", FAST);
    scenario_file(&scenarios, "b-slow", SLOW);
    let running = Running(spawn_suite(dir, &scenarios));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let written = std::fs::read_dir(dir.results())
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false);
        // Wait for victims of the slow scenario too, so the signal lands mid-scenario.
        let slow = processes_naming(&dir.work())
            .iter()
            .any(|p| p.contains("/b-slow/"));
        if written && slow {
            return running;
        }
        assert!(
            Instant::now() < deadline,
            "the suite never got to its second scenario"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_no_victims_within_a_second(work: &Path) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !processes_naming(work).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_no_victims(work);
}

fn assert_finished_scenario_kept(dir: &Dir) {
    let (_, file) = dir.results_file();
    let names = scenario_names(&file);
    assert_eq!(names, ["a-fast"], "the finished scenario only");
    assert_eq!(dir.entry("a-fast")["counts"]["writer:ETXTBSY"], 1000);
}

#[test]
fn sigkill_mid_suite_leaves_no_victim_and_keeps_finished_results() {
    let dir = Dir::new();
    let mut running = start_suite(&dir);
    running.0.kill().unwrap();
    running.0.wait().unwrap();
    assert_no_victims_within_a_second(&dir.work());
    assert_finished_scenario_kept(&dir);
}

#[test]
fn sigint_stops_promptly_reaps_victims_and_exits_130() {
    let dir = Dir::new();
    let mut running = start_suite(&dir);
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "no exit 10 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    assert_no_victims(&dir.work());
    assert_finished_scenario_kept(&dir);
}

#[test]
fn a_victim_that_stops_progressing_is_hung_after_a_bounded_time() {
    let dir = Dir::new();
    let scenarios = dir.path().join("scenarios");
    // A real hang: the update command stops the victim (SIGSTOP), found by its command line,
    // which names this test's private target path.
    scenario_file(
        &scenarios,
        "stop-victim",
        "description = \"d\"\nexplanation = \"e\"\ncommand = [\"pkill\", \"-STOP\", \"-f\", \"^[^ ]+/victim-dlopen {target}\"]\ntarget = \"lib\"\n[expect]\noutcomes = [\"hung\"]\nshare = \"all\"\n",
    );
    let started = Instant::now();
    let output = dir
        .in_dirs(&[
            "suite",
            "--trials",
            "2",
            "--scenarios-dir",
            scenarios.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(dir.entry("stop-victim")["counts"]["hung"], 2);
    assert_no_victims(&dir.work());
}

#[test]
fn a_scenario_naming_a_path_outside_the_work_dir_is_rejected_with_status_2() {
    let dir = Dir::new();
    let scenarios = dir.path().join("scenarios");
    for (name, arg) in [("abs", "/etc/passwd"), ("dotdot", "../../x")] {
        scenario_file(
            &scenarios,
            name,
            &format!("description = \"d\"\nexplanation = \"e\"\ncommand = [\"cp\", \"{{target}}\", \"{arg}\"]\ntarget = \"lib\"\n[expect]\noutcomes = [\"unchanged\"]\nshare = \"all\"\n"),
        );
        let output = dir
            .clobber(&["suite", "--trials", "1", "--scenarios-dir"])
            .arg(&scenarios)
            .arg("--results")
            .arg(dir.results())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("{name}.toml:3: field `command`")),
            "{stderr}"
        );
        assert!(!dir.results().exists(), "nothing may be written");
        std::fs::remove_file(scenarios.join(format!("{name}.toml"))).unwrap();
    }
}
