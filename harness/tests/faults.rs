//! Nothing lost, nothing leaked, nothing written outside: concurrent runs into one results
//! directory, unusable results directories found before the first trial, and temporary files of
//! a killed merge cleaned up.

use std::process::Command;

use crate::util::{assert_ok, scenario_names, unprivileged, Dir};

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
