//! Honest verdicts at the edges: an update that fails halfway, updates that break new processes or
//! change nothing, runs as an ordinary user, blast-radius intervals over updates, the environment
//! of each entry, a relative work dir, and the evidence of every death.

use std::process::Output;

use crate::util::{
    assert_no_victims, assert_ok, check, count, count_prefix, died, unprivileged, Dir,
};

#[test]
fn a_command_that_clobbers_then_fails_is_a_crash_not_a_refusal() {
    let dir = Dir::new();
    let (code, out) = check(
        &dir,
        "lib",
        &["--fail-unsafe"],
        &[
            "sh",
            "-c",
            "cp \"$1\" \"$2\"; exit 1",
            "sh",
            "{new}",
            "{target}",
        ],
    );
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("verdict: UNSAFE: running processes crashed in"),
        "{out}"
    );
    assert!(out.contains("the command itself failed in 5/5"), "{out}");
    let entry = dir.entry("check-lib");
    assert_eq!(count_prefix(&entry, "writer:"), 0, "{entry}");
    assert!(died(&entry) * 2 > 5, "{entry}");
    assert_eq!(entry["updates"]["failed"], 5, "{entry}");
}

#[test]
fn check_fails_updates_that_break_new_processes_or_change_nothing() {
    let dir = Dir::new();
    // The old inode is unlinked, so running processes are fine; new ones find an empty file.
    let (code, out) = check(
        &dir,
        "lib",
        &["--fail-unsafe"],
        &[
            "sh",
            "-c",
            "rm -f \"$2\"; : > \"$2\"",
            "sh",
            "{new}",
            "{target}",
        ],
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("failed to start in 5/5"), "{out}");
    assert_eq!(dir.entry("check-lib")["new_process"]["failed_to_start"], 5);

    let (code, out) = check(&dir, "lib", &["--fail-unsafe"], &["true", "{target}"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("did not take effect"), "{out}");
    assert_eq!(dir.entry("check-lib")["new_process"]["saw_old"], 5);

    let (code, out) = check(
        &dir,
        "exe",
        &["--fail-unsafe"],
        &["cp", "{new}", "{target}"],
    );
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("verdict: refused: the command failed in 5/5 trials (ETXTBSY)"),
        "{out}"
    );

    let (code, out) = check(
        &dir,
        "lib",
        &["--fail-unsafe"],
        &["clobber-no-such-command", "{new}", "{target}"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("`clobber-no-such-command` was not found"),
        "{out}"
    );
}

#[test]
fn a_new_process_on_mixed_content_is_counted_as_mixed() {
    let dir = Dir::new();
    // The first page of the data file becomes version 2, the rest stays version 1.
    let (code, out) = check(
        &dir,
        "data",
        &[],
        &[
            "dd",
            "if={new}",
            "of={target}",
            "bs=4096",
            "count=1",
            "conv=notrunc",
            "status=none",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let entry = dir.entry("check-data");
    let new = &entry["new_process"];
    assert_eq!(new["mixed"], 5, "{new}");
    assert_eq!(new["saw_old"], 0, "{new}");
    assert_eq!(count(&entry, "saw-new"), 5, "{entry}");
}

/// Runs `clobber COMMAND --results R --workdir W REST` as an ordinary user.
fn run_as_ordinary_user(dir: &Dir, command: &str, rest: &[&str]) -> Output {
    let (results, work) = (dir.results(), dir.work());
    let mut all = vec![command];
    all.extend_from_slice(&["--results", results.to_str().unwrap()]);
    all.extend_from_slice(&["--workdir", work.to_str().unwrap()]);
    all.extend_from_slice(rest);
    let output = unprivileged(dir, &all).output().unwrap();
    assert_no_victims(&work);
    output
}

#[test]
fn an_ordinary_user_gets_survivors_checks_and_blast_radius() {
    let dir = Dir::new();
    let output = run_as_ordinary_user(
        &dir,
        "scenario",
        &[
            "install-over-lib",
            "cp-over-lib",
            "blast-cp-over-linked-lib",
            "--trials",
            "3",
        ],
    );
    assert_ok(&output);
    let install = dir.entry("install-over-lib");
    assert_eq!(count(&install, "unchanged"), 3, "{install}");
    assert_eq!(install["restart_detection"]["visible"], 3, "{install}");
    let cp = dir.entry("cp-over-lib");
    assert!(died(&cp) >= 2, "{cp}");
    // Without the kernel's log, the entry says why its deaths have no kernel line.
    let lines: u64 = cp["deaths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["with_kernel_line"].as_u64().unwrap())
        .sum();
    assert!(lines > 0 || cp["kernel_log"].is_string(), "{cp}");
    assert_eq!(dir.entry("blast-cp-over-linked-lib")["trials"], 3);

    let output = run_as_ordinary_user(
        &dir,
        "check",
        &[
            "--target",
            "lib",
            "--trials",
            "3",
            "--fail-unsafe",
            "--",
            "install",
            "-m",
            "0755",
            "{new}",
            "{target}",
        ],
    );
    assert_ok(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains("verdict: safe"));
}

#[test]
fn blast_rates_count_updates_and_keep_per_victim_detail_apart() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["blast-cp-over-linked-lib"], 2));
    let entry = dir.entry("blast-cp-over-linked-lib");
    let counts: u64 = entry["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 2, "one outcome per update: {entry}");
    for rate in entry["rates"].as_object().unwrap().values() {
        assert_eq!(rate["n"], 2, "{rate}");
    }
    let victims: u64 = entry["victim_counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(victims, 64, "{entry}");
    for trial in entry["blast"].as_array().unwrap() {
        let mix: u64 = trial["outcomes"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(mix, 32, "{trial}");
    }
}

#[test]
fn each_entry_keeps_the_environment_it_was_measured_in() {
    let shm = std::path::Path::new("/dev/shm");
    assert!(
        shm.is_dir(),
        "this test needs a tmpfs at /dev/shm (mount -t tmpfs tmpfs /dev/shm)"
    );
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["tool-cp-over-exe"], 2));
    let shm_work = tempfile::tempdir_in(shm).unwrap();
    let output = dir
        .clobber(&["scenario", "cp-over-exe", "--trials", "2", "--workdir"])
        .arg(shm_work.path())
        .arg("--results")
        .arg(dir.results())
        .output()
        .unwrap();
    assert_ok(&output);
    let tool = dir.entry("tool-cp-over-exe");
    let plain = dir.entry("cp-over-exe");
    assert_eq!(plain["environment"]["filesystem"], "tmpfs", "{plain}");
    assert_ne!(tool["environment"]["filesystem"], "tmpfs", "{tool}");
    assert!(tool["environment"]["tools"]["cp"].is_string(), "{tool}");
    assert!(
        plain["environment"]["tools"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{plain}"
    );
}

#[test]
fn a_relative_work_dir_works_for_the_interpreter() {
    let dir = Dir::new();
    let output = dir
        .clobber(&[
            "scenario",
            "cp-over-interp",
            "install-over-interp",
            "--trials",
            "3",
            "--workdir",
            "work",
            "--results",
            "results",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_ok(&output);
    let install = dir.entry("install-over-interp");
    assert_eq!(count(&install, "unchanged"), 3, "{install}");
    assert_eq!(install["new_process"]["saw_new"], 3, "{install}");
    assert_eq!(count_prefix(&dir.entry("cp-over-interp"), "unchanged"), 0);
}
