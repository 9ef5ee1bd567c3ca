//! Nothing lost, nothing leaked, nothing written outside: concurrent runs into one results
//! directory, unusable results directories found before the first trial, temporary files of a
//! killed merge cleaned up, and no victim or command left after Ctrl-C, SIGHUP or SIGKILL.

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::util::{
    assert_no_victims, assert_none_left, assert_ok, processes_with, scenario_file, scenario_names,
    unprivileged, Dir,
};

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
    for round in 0..5 {
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
    for attempt in 0..20u64 {
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
        std::thread::sleep(Duration::from_millis(60 + attempt * 37 % 400));
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

#[test]
fn symlinks_planted_in_a_work_dir_change_nothing_outside_it() {
    let dir = Dir::new();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let precious = outside.join("precious");
    std::fs::write(&precious, "precious").unwrap();
    let work = dir.work();
    std::fs::create_dir(&work).unwrap();
    for name in ["status-0", "stderr-0", "command.stderr", "ext4.img"] {
        std::os::unix::fs::symlink(&precious, work.join(name)).unwrap();
    }
    for name in ["new", "cp-over-lib", "tool-cp-over-lib"] {
        std::os::unix::fs::symlink(&outside, work.join(name)).unwrap();
    }
    // Names clobber did not make: the work dir is refused before anything runs.
    let output = dir.scenario(&["cp-over-lib", "tool-cp-over-lib"], 2);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    // A symlink that looks like clobber's own is never used either: runs get a new private dir.
    for name in [
        "status-0",
        "stderr-0",
        "command.stderr",
        "ext4.img",
        "new",
        "cp-over-lib",
        "tool-cp-over-lib",
    ] {
        std::fs::remove_file(work.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(&outside, work.join("clobber-1-planted")).unwrap();
    assert_ok(&dir.scenario(&["cp-over-lib", "tool-cp-over-lib"], 2));
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
    let names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["precious"], "written into the symlinked directory");
}

#[test]
fn a_scenario_command_that_writes_to_home_is_stopped() {
    let dir = Dir::new();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let scenarios = dir.path().join("scenarios");
    scenario_file(
        &scenarios,
        "escape",
        "description = \"d\"\nexplanation = \"e\"\ncommand = [\"sh\", \"-c\", \"cd; echo x > escaped && cp \\\"$1\\\" \\\"$2\\\"\", \"sh\", \"{new}\", \"{target}\"]\ntarget = \"lib\"\n[expect]\noutcomes = [\"unchanged\"]\nshare = \"all\"\n",
    );
    let output = dir
        .in_dirs(&[
            "suite",
            "--trials",
            "2",
            "--scenarios-dir",
            scenarios.to_str().unwrap(),
        ])
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_ok(&output);
    assert!(
        !home.join("escaped").exists(),
        "the command wrote into $HOME"
    );
    let entry = dir.entry("escape");
    match entry["not_run"].as_str() {
        // Without Landlock the command is not run at all.
        Some(reason) => assert!(reason.contains("cannot be confined"), "{entry}"),
        None => assert_eq!(entry["counts"]["writer:EACCES"], 2, "{entry}"),
    }
}

#[test]
fn check_never_runs_the_users_command_with_arguments_it_was_not_given() {
    let dir = Dir::new();
    let script = dir.path().join("deploy.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = --version ] && : > \"$TMPDIR/version-asked\"; done\ninstall -m 0755 \"$1\" \"$2\"\n",
    )
    .unwrap();
    let output = dir
        .clobber(&["check", "--target", "lib", "--trials", "2", "--results"])
        .arg(dir.results())
        .arg("--workdir")
        .arg(dir.work())
        .args(["--", "sh", script.to_str().unwrap(), "{new}", "{target}"])
        .output()
        .unwrap();
    assert_ok(&output);
    assert!(!dir.private_work().join("tmp/version-asked").exists());
    let (_, file) = dir.results_file();
    let sh = file["environment"]["tools"]["sh"].as_str().unwrap();
    assert!(
        sh.contains("version not asked") || sh.contains("sh"),
        "{sh}"
    );
}

#[test]
fn bad_input_is_refused_with_status_2_and_no_crash() {
    let dir = Dir::new();
    let huge = dir
        .clobber(&["scenario", "cp-over-exe", "--trials", "300000000"])
        .output()
        .unwrap();
    assert_eq!(huge.status.code(), Some(2), "{huge:?}");

    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("many.toml"),
        "description = \"d\"\nexplanation = \"e\"\nmethod = \"truncate-write\"\ntarget = \"exe\"\ntrials = 4294967295\n[expect]\noutcomes = [\"writer:*\"]\nshare = \"all\"\n",
    )
    .unwrap();
    let listed = dir
        .clobber(&["list", "--scenarios-dir", scenarios.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(listed.status.code(), Some(2), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stderr).contains("many.toml:5: field `trials`"));
    std::fs::remove_file(scenarios.join("many.toml")).unwrap();

    // A FIFO and a symlink in a scenarios dir, a FIFO as a results file: named at once.
    let fifo = scenarios.join("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let started = Instant::now();
    let out = dir
        .clobber(&["list", "--scenarios-dir", scenarios.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fifo.toml"));
    std::fs::remove_file(&fifo).unwrap();
    let secret = dir.path().join("secret.toml");
    std::fs::write(&secret, "description = \"d\"\n").unwrap();
    std::os::unix::fs::symlink(&secret, scenarios.join("link.toml")).unwrap();
    let out = dir
        .clobber(&["list", "--scenarios-dir", scenarios.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symlink"),
        "{out:?}"
    );

    std::fs::create_dir_all(dir.results()).unwrap();
    let release = nix::sys::utsname::uname()
        .unwrap()
        .release()
        .to_string_lossy()
        .into_owned();
    let results_fifo = dir.results().join(format!("{release}.json"));
    nix::unistd::mkfifo(
        &results_fifo,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let out = dir.scenario(&["cp-over-exe"], 1);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::fs::remove_file(&results_fifo).unwrap();
    std::fs::create_dir(&results_fifo).unwrap();
    let out = dir.scenario(&["cp-over-exe"], 1);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "something blocked"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = dir
        .clobber(&["scenario", "cp-over-exe", "--trials", "1", "--workdir"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_reader_that_stops_early_ends_clobber_quietly() {
    let dir = Dir::new();
    let mut child = dir
        .clobber(&["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{output:?}");
}
