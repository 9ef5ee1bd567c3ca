//! `--fs`: scenarios on a fresh tmpfs and ext4 (loop device), results keyed by (kernel release,
//! filesystem), nothing left mounted or attached afterwards, and a clear error without root.

use std::process::Command;

use crate::util::{assert_no_victims, assert_ok, count, Dir};

fn run_on(dir: &Dir, fs: &str) -> serde_json::Value {
    let output = dir
        .in_dirs(&[
            "scenario",
            "cp-over-exe",
            "truncate-under-mmap",
            "install-over-lib",
            "--trials",
            "5",
            "--fs",
            fs,
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    assert_no_victims(&dir.work());
    let release = String::from_utf8(Command::new("uname").arg("-r").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let path = dir.results().join(format!("{release}.{fs}.json"));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["environment"]["filesystem"], fs, "{path:?}");
    file
}

fn entry<'a>(file: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    file["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

/// Nothing of this test's work dir is mounted, and no loop device holds its images.
fn assert_nothing_mounted(dir: &Dir) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let work = dir.work();
    assert!(
        !mounts.contains(work.to_str().unwrap()),
        "still mounted: {mounts}"
    );
    let loops = Command::new("losetup").arg("-a").output().unwrap();
    let loops = String::from_utf8_lossy(&loops.stdout);
    assert!(
        !loops.contains(work.to_str().unwrap()),
        "loop device left: {loops}"
    );
}

#[test]
fn scenarios_run_on_a_fresh_tmpfs_and_ext4_and_leave_nothing_mounted() {
    for fs in ["tmpfs", "ext4"] {
        let dir = Dir::new();
        let file = run_on(&dir, fs);
        assert_eq!(
            count(entry(&file, "cp-over-exe"), "writer:ETXTBSY"),
            5,
            "{fs}"
        );
        assert_eq!(
            count(entry(&file, "truncate-under-mmap"), "killed:SIGBUS"),
            5,
            "{fs}"
        );
        assert_eq!(
            count(entry(&file, "install-over-lib"), "unchanged"),
            5,
            "{fs}"
        );
        assert_nothing_mounted(&dir);
    }
}

#[test]
fn overlay_protects_running_files_from_writes_through_the_merged_directory_only() {
    let dir = Dir::new();
    let output = dir
        .in_dirs(&[
            "scenario",
            "cp-over-lib",
            "cp-over-lib-lower-layer",
            "--trials",
            "5",
            "--fs",
            "overlay",
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    let (_, file) = dir.results_file();
    // Through the merged directory cp copies the file up: the running process keeps the lower
    // file. Into the lower layer, cp truncates the very file the process maps.
    assert_eq!(count(entry(&file, "cp-over-lib"), "unchanged"), 5, "{file}");
    let lower = entry(&file, "cp-over-lib-lower-layer");
    assert!(crate::util::died(lower) >= 3, "{lower}");
    assert_nothing_mounted(&dir);
}

#[test]
fn without_root_fs_is_refused_with_a_clear_error() {
    let dir = Dir::new();
    let work = dir.path().join("nobody");
    std::fs::create_dir_all(&work).unwrap();
    Command::new("chmod")
        .arg("0777")
        .arg(dir.path())
        .status()
        .unwrap();
    Command::new("chmod")
        .arg("0777")
        .arg(&work)
        .status()
        .unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_clobber"))
        .args(["scenario", "cp-over-exe", "--trials", "1", "--fs", "ext4"])
        .arg("--results")
        .arg(work.join("results"))
        .arg("--workdir")
        .arg(work.join("work"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs root"), "{stderr}");
}
