//! Nothing lost, nothing leaked, nothing written outside: concurrent runs into one results
//! directory, unusable results directories found before the first trial, temporary files of a
//! killed merge cleaned up, and no victim or command left after Ctrl-C, SIGHUP or SIGKILL.

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::util::{assert_no_victims, assert_ok, scenario_names, unprivileged, Dir};

/// Fast scenarios, two disjoint sets of eight.
const FIRST: [&str; 8] = [
    "cp-over-exe",
    "cp-over-lib",
    "install-over-exe",
    "install-over-lib",
    "rename-over-exe",
    "rename-over-lib",
    "truncate-under-mmap",
    "map-private-write",
];
const SECOND: [&str; 8] = [
    "map-denywrite",
    "inplace-over-lib",
    "cp-over-linked-lib",
    "install-over-linked-lib",
    "rename-over-linked-lib",
    "inplace-over-linked-lib",
    "tool-cp-over-exe",
    "tool-install-over-lib",
];

fn run(dir: &Dir, names: &[&str], work: &str) -> Command {
    let mut command = dir.clobber(&["scenario"]);
    command
        .args(names)
        .args(["--trials", "2", "--results"])
        .arg(dir.results())
        .arg("--workdir")
        .arg(dir.path().join(work))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    command
}

#[test]
fn two_runs_into_one_results_directory_lose_nothing() {
    for round in 0..3 {
        let dir = Dir::new();
        let a = run(&dir, &FIRST, "work-a").spawn().unwrap();
        let b = run(&dir, &SECOND, "work-b").spawn().unwrap();
        for child in [a, b] {
            assert_ok(&child.wait_with_output().unwrap());
        }
        let (_, file) = dir.results_file();
        let mut expected: Vec<&str> = FIRST.iter().chain(&SECOND).copied().collect();
        expected.sort_unstable();
        assert_eq!(scenario_names(&file), expected, "round {round}");
    }
}

#[test]
fn an_unusable_results_directory_is_refused_before_the_first_trial() {
    let dir = Dir::new();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let output = dir
        .clobber(&["scenario", "cp-over-lib", "--trials", "1000", "--results"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");

    // A directory this user cannot write: as an ordinary user, one that root made.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    if !nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let output = unprivileged(
        &dir,
        &[
            "scenario",
            "cp-over-lib",
            "--trials",
            "1000",
            "--results",
            locked.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot"), "{stderr}");
    assert!(
        !stderr.contains("trials on Linux"),
        "no trial may run: {stderr}"
    );
}

#[test]
fn a_temporary_file_left_by_a_killed_merge_is_removed_by_the_next_run() {
    let dir = Dir::new();
    std::fs::create_dir_all(dir.results()).unwrap();
    let stale = dir.results().join(".clobber-tmp-AbC123");
    std::fs::write(&stale, "{\"half\": ").unwrap();
    assert_ok(&dir.scenario(&["cp-over-exe"], 1));
    assert!(!stale.exists(), "the stale temporary file is still there");
}

/// Processes whose command line contains `needle`, or starts with the part after a leading `^`
/// (to tell a command from the commands that name it in their arguments).
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let hit = match needle.strip_prefix('^') {
            Some(start) => cmdline.starts_with(start),
            None => cmdline.contains(needle),
        };
        if hit {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// Waits up to 2 s for no process to name `needle`, then asserts it.
fn assert_none_left(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !processes_with(needle).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = processes_with(needle);
    assert!(left.is_empty(), "left running: {left:?}");
}

/// `clobber check` of a command that hangs in a child process (`sleep`), started and waited
/// for until the sleep runs; the sleep's unique duration names it.
fn hanging_check(dir: &Dir) -> (std::process::Child, String) {
    let duration = format!("{}.{}", 900 + fastrand_u16() % 99, std::process::id());
    let script = format!("sleep {duration}; : \"$1\"");
    let child = dir
        .clobber(&["check", "--target", "lib", "--trials", "2", "--results"])
        .arg(dir.results())
        .arg("--workdir")
        .arg(dir.work())
        .args(["--", "sh", "-c", &script, "sh", "{target}"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!("^sleep {duration}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_with(&needle).is_empty() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, needle)
}

/// A number that differs between tests running at once.
fn fastrand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos % 65_521) as u16
}

#[test]
fn ctrl_c_ends_a_hanging_check_at_once_and_its_command_with_it() {
    let dir = Dir::new();
    let (mut child, needle) = hanging_check(&dir);
    let sent = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    assert_none_left(&needle);
    assert_no_victims(&dir.work());
}

#[test]
fn sigkill_of_the_harness_leaves_no_command_or_victim_running() {
    let dir = Dir::new();
    let (mut child, needle) = hanging_check(&dir);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_none_left(&needle);
    assert_none_left(dir.work().to_str().unwrap());
}

#[test]
fn sigkill_at_random_moments_of_a_blast_leaves_no_victim() {
    for attempt in 0..6u64 {
        let dir = Dir::new();
        let mut child = dir
            .clobber(&[
                "scenario",
                "blast-cp-over-linked-lib",
                "--trials",
                "50",
                "--results",
            ])
            .arg(dir.results())
            .arg("--workdir")
            .arg(dir.work())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + attempt * 97));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_none_left(dir.work().to_str().unwrap());
    }
}

#[test]
fn sighup_stops_the_run_like_ctrl_c_and_removes_the_temporary_work_dir() {
    let dir = Dir::new();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = dir
        .clobber(&[
            "scenario",
            "blast-install-over-linked-lib",
            "--trials",
            "1000",
            "--results",
        ])
        .arg(dir.results())
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_with(tmp.to_str().unwrap()).len() < 2 {
        assert!(Instant::now() < deadline, "no victims started");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_none_left(tmp.to_str().unwrap());
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "the work dir was left behind: {left:?}");
}
