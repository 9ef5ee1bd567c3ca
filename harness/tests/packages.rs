//! Package managers as the updater, run for real into private roots inside the work dir: dpkg
//! and rpm upgrading a package whose library and executable are in use, pip upgrading a wheel
//! whose library a running Python program loaded, npm upgrading a package whose native addon a
//! running node loaded, cargo install replacing a running binary. A missing tool fails the test
//! with the command that installs it.

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use crate::util::{assert_no_victims, assert_ok, count, unprivileged, Dir};

/// Fails, saying how to install it, when `tool` is not on PATH.
fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    assert!(
        found,
        "{tool} is needed by the package manager tests: apt-get install {package} (scripts/test-deps)"
    );
}

/// Asserts that every one of `trials` trials of `entry` kept the running victim on version 1
/// and gave a process started afterwards version 2.
fn assert_safe(entry: &Value, trials: u64) {
    assert_eq!(count(entry, "unchanged"), trials, "{entry}");
    let new = &entry["new_process"];
    assert_eq!(new["started"], trials, "{new}");
    assert_eq!(new["saw_new"], trials, "{new}");
    assert_eq!(new["old_unchanged"], trials, "{new}");
    assert_eq!(entry["verdict"]["as_expected"], true, "{entry}");
}

/// The inode and modification time of the system's dpkg status file.
fn system_dpkg_status() -> (u64, i64) {
    let meta = std::fs::metadata("/var/lib/dpkg/status").expect("/var/lib/dpkg/status");
    (meta.ino(), meta.mtime())
}

#[test]
fn dpkg_upgrades_leave_running_processes_on_the_old_version() {
    require("dpkg", "dpkg");
    require("dpkg-deb", "dpkg");
    let before = system_dpkg_status();
    let dir = Dir::new();
    let names = ["tool-dpkg-over-lib", "tool-dpkg-over-exe"];
    assert_ok(&dir.scenario(&names, 5));
    assert_eq!(
        system_dpkg_status(),
        before,
        "the system's dpkg status changed"
    );
    for name in names {
        let entry = dir.entry(name);
        assert_safe(&entry, 5);
        let tools = &entry["environment"]["tools"];
        assert!(
            tools["dpkg"].as_str().unwrap().contains("dpkg"),
            "{name}: {tools}"
        );
        assert!(tools["dpkg-deb"].is_string(), "{name}: {tools}");
    }
}

#[test]
fn rpm_upgrades_leave_running_processes_on_the_old_version() {
    require("rpm", "rpm");
    require("rpmbuild", "rpm");
    let dir = Dir::new();
    let names = ["tool-rpm-over-lib", "tool-rpm-over-exe"];
    assert_ok(&dir.scenario(&names, 5));
    for name in names {
        let entry = dir.entry(name);
        assert_safe(&entry, 5);
        let rpm = &entry["environment"]["tools"]["rpm"];
        assert!(rpm.as_str().unwrap().starts_with("RPM version"), "{rpm}");
    }
}

#[test]
fn dpkg_and_rpm_upgrade_as_an_ordinary_user() {
    require("dpkg", "dpkg");
    require("rpm", "rpm");
    let dir = Dir::new();
    let (results, work) = (dir.results(), dir.work());
    let output = unprivileged(
        &dir,
        &[
            "scenario",
            "tool-dpkg-over-lib",
            "tool-rpm-over-lib",
            "--trials",
            "3",
            "--results",
            results.to_str().unwrap(),
            "--workdir",
            work.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_no_victims(&work);
    assert_ok(&output);
    assert_safe(&dir.entry("tool-dpkg-over-lib"), 3);
    assert_safe(&dir.entry("tool-rpm-over-lib"), 3);
}

/// Runs `name` for 3 trials, asserts that every trial was safe and that `tool`'s recorded
/// version starts with `version`; returns the entry.
fn three_safe_trials(name: &str, tool: &str, version: &str) -> Value {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&[name], 3));
    let entry = dir.entry(name);
    assert_safe(&entry, 3);
    let recorded = &entry["environment"]["tools"][tool];
    assert!(
        recorded.as_str().unwrap().starts_with(version),
        "{name}: {recorded}"
    );
    entry
}

#[test]
fn pip_upgrades_leave_a_running_python_program_on_the_old_library() {
    require("python3", "python3 python3-venv");
    let entry = three_safe_trials("tool-pip-over-ext", "python3", "Python 3");
    // The old library, deleted under the stash's name, is what a restart checker finds.
    assert_eq!(entry["restart_detection"]["visible"], 3, "{entry}");
}

#[test]
fn cargo_install_replaces_a_running_binary_without_touching_it() {
    require("cargo", "cargo (or rustup)");
    three_safe_trials("tool-cargo-install-over-exe", "cargo", "cargo ");
}

#[test]
fn npm_upgrades_leave_a_running_node_on_the_old_addon() {
    require("npm", "npm");
    require("node", "nodejs");
    three_safe_trials("tool-npm-over-addon", "npm", "1");
}
