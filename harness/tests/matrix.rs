//! `clobber matrix` against real kernels under qemu: the test kernel must be in the cache
//! (`make test` fetches it with `clobber kernel fetch debian:6.1`); a missing kernel fails the
//! test with that command, it is never skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{assert_ok, count, processes_naming, Dir};

/// The cheapest kernel to boot among the Debian ones.
const TEST_KERNEL: &str = "debian:6.1";

/// The cache directory of the test kernel in the user's cache.
fn cached_test_kernel() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    let dir = cache.join("clobber/kernels/debian-6.1");
    assert!(
        dir.join("kernel.json").is_file(),
        "{TEST_KERNEL} is not in the kernel cache ({}); fetch it with: \
         cargo build && target/debug/clobber kernel fetch {TEST_KERNEL}",
        dir.display()
    );
    dir
}

/// `clobber matrix ARGS` with this test's own cache (holding only a link to the test kernel) and
/// temporary dir, so that its qemu processes name the test's dir.
fn matrix_command(dir: &Dir, args: &[&str]) -> Command {
    let cache = dir.path().join("cache");
    let kernels = cache.join("clobber/kernels");
    std::fs::create_dir_all(&kernels).unwrap();
    std::os::unix::fs::symlink(cached_test_kernel(), kernels.join("debian-6.1")).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let results = dir.results();
    let mut command = dir.clobber(&["matrix", "--results", results.to_str().unwrap()]);
    command
        .args(args)
        .env("XDG_CACHE_HOME", &cache)
        .env("TMPDIR", &tmp);
    command
}

/// Runs `clobber matrix ARGS` (see [`matrix_command`]) and checks that no qemu is left.
fn matrix(dir: &Dir, args: &[&str]) -> Output {
    let output = matrix_command(dir, args)
        .output()
        .expect("run clobber matrix");
    assert_no_qemu(dir.path());
    output
}

fn assert_no_qemu(dir: &Path) {
    let left: Vec<String> = processes_naming(dir)
        .into_iter()
        .filter(|p| p.contains("qemu"))
        .collect();
    assert!(left.is_empty(), "qemu left running: {left:?}");
}

/// The release that the cached test kernel reports.
fn test_kernel_release() -> String {
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(cached_test_kernel().join("kernel.json")).unwrap(),
    )
    .unwrap();
    meta["release"].as_str().unwrap().to_string()
}

fn scenario<'a>(file: &'a Value, name: &str) -> &'a Value {
    file["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {file}"))
}

#[test]
fn matrix_runs_scenarios_inside_a_debian_kernel_and_names_the_file_by_its_release() {
    let dir = Dir::new();
    let output = matrix(
        &dir,
        &[
            "--kernel",
            TEST_KERNEL,
            "--scenarios",
            "cp-over-exe,truncate-under-mmap,install-over-zlib,tool-cp-over-lib",
            "--trials",
            "5",
        ],
    );
    assert_ok(&output);
    let release = test_kernel_release();
    let host = crate::nix_release();
    assert_ne!(release, host, "the test kernel must differ from the host's");
    let (path, file) = dir.results_file();
    assert_eq!(path, dir.results().join(format!("{release}.json")));
    let environment = &file["environment"];
    assert_eq!(environment["kernel_release"], release.as_str());
    let virt = environment["virtualization"].as_str().unwrap();
    assert!(virt == "qemu-tcg" || virt == "qemu-kvm", "{virt}");
    assert_eq!(environment["filesystem"], "tmpfs");
    assert_eq!(count(scenario(&file, "cp-over-exe"), "writer:ETXTBSY"), 5);
    assert_eq!(
        count(scenario(&file, "truncate-under-mmap"), "killed:SIGBUS"),
        5
    );
    // The initramfs carries the real zlib releases of the host's cache.
    let zlib = scenario(&file, "install-over-zlib");
    assert_eq!(count(zlib, "unchanged"), 5, "{zlib}");
    assert_eq!(zlib["new_process"]["saw_new"], 5, "{zlib}");
    assert_eq!(zlib["releases"]["new"]["reported"], "zlib 1.3.1", "{zlib}");
    // A real cp, run under the guard in the guest.
    let tool = scenario(&file, "tool-cp-over-lib");
    let died = crate::util::died(tool);
    assert!(died >= 3, "only {died}/5 died: {tool}");
    assert_eq!(tool["updates"]["applied"], 5, "{tool}");
}

#[test]
fn matrix_fs_ext4_runs_on_a_virtio_disk_with_the_kernels_own_modules() {
    let dir = Dir::new();
    let output = matrix(
        &dir,
        &[
            "--kernel",
            TEST_KERNEL,
            "--fs",
            "ext4",
            "--scenarios",
            "cp-over-exe,truncate-under-mmap",
            "--trials",
            "3",
        ],
    );
    assert_ok(&output);
    let release = test_kernel_release();
    let (path, file) = dir.results_file();
    assert_eq!(path, dir.results().join(format!("{release}.ext4.json")));
    let environment = &file["environment"];
    assert_eq!(environment["kernel_release"], release.as_str());
    assert_eq!(environment["filesystem"], "ext4");
    assert_eq!(count(scenario(&file, "cp-over-exe"), "writer:ETXTBSY"), 3);
    assert_eq!(
        count(scenario(&file, "truncate-under-mmap"), "killed:SIGBUS"),
        3
    );
}

#[test]
fn a_kernel_that_cannot_boot_fails_the_run_while_a_good_one_still_gives_results() {
    let dir = Dir::new();
    // A bzImage cut after its setup code: the header names a release, but nothing boots.
    let image = std::fs::read(cached_test_kernel().join("vmlinuz")).unwrap();
    let bogus = dir.path().join("bogus-vmlinuz");
    std::fs::write(&bogus, &image[..64 * 1024]).unwrap();
    let output = matrix(
        &dir,
        &[
            "--kernel",
            bogus.to_str().unwrap(),
            "--kernel",
            TEST_KERNEL,
            "--scenarios",
            "cp-over-exe",
            "--trials",
            "2",
            "--timeout",
            "60",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{} failed: did not boot", bogus.display())),
        "{stderr}"
    );
    assert!(stderr.contains("last console lines:"), "{stderr}");
    let (path, file) = dir.results_file();
    assert_eq!(
        path,
        dir.results()
            .join(format!("{}.json", test_kernel_release()))
    );
    assert_eq!(count(scenario(&file, "cp-over-exe"), "writer:ETXTBSY"), 2);
}

#[test]
fn unknown_kernels_are_bad_input() {
    let dir = Dir::new();
    let output = dir
        .clobber(&["matrix", "--kernel", "debian:9"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("debian:6.12"));
}

/// A running matrix, killed and reaped if the test fails first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigkill_mid_matrix_leaves_no_qemu_and_keeps_finished_scenarios() {
    let dir = Dir::new();
    let mut running = Running(
        matrix_command(
            &dir,
            &[
                "--kernel",
                TEST_KERNEL,
                "--scenarios",
                "cp-over-exe,cp-over-lib",
                "--trials",
                "200",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start clobber matrix"),
    );
    let results = dir
        .results()
        .join(format!("{}.json", test_kernel_release()));
    let deadline = Instant::now() + Duration::from_secs(300);
    while !results.exists() {
        assert!(
            Instant::now() < deadline,
            "no scenario finished in the guest"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let qemu_running = processes_naming(dir.path())
        .iter()
        .any(|p| p.contains("qemu"));
    assert!(
        qemu_running,
        "the guest should still be running cp-over-lib"
    );
    running.0.kill().unwrap();
    running.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while processes_naming(dir.path())
        .iter()
        .any(|p| p.contains("qemu"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_no_qemu(dir.path());
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(count(scenario(&file, "cp-over-exe"), "writer:ETXTBSY"), 200);
}
