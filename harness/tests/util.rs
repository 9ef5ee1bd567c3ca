//! Helpers for the integration tests: a fresh directory per test, a ready `clobber` command, and
//! readers for what a run leaves behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A test's own directory, with a work dir and a results dir inside.
pub struct Dir {
    pub root: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            root: tempfile::Builder::new()
                .prefix("clobber-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn results(&self) -> PathBuf {
        self.path().join("results")
    }

    pub fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    /// The private directory a run made inside this test's work dir (`clobber-<pid>-*`), once
    /// there is exactly one.
    pub fn private_work(&self) -> PathBuf {
        let dirs: Vec<PathBuf> = std::fs::read_dir(self.work())
            .expect("work dir")
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("clobber-"))
            })
            .collect();
        assert_eq!(dirs.len(), 1, "one private work dir expected: {dirs:?}");
        dirs[0].clone()
    }

    /// A ready `clobber ARGS` command.
    pub fn clobber(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clobber"));
        command.args(args);
        command
    }

    /// `clobber ARGS --results RESULTS --workdir WORK`, with this test's dirs.
    pub fn in_dirs(&self, args: &[&str]) -> Command {
        let mut command = self.clobber(args);
        command
            .arg("--results")
            .arg(self.results())
            .arg("--workdir")
            .arg(self.work());
        command
    }

    /// Runs `clobber scenario NAMES --trials N` into this test's dirs and returns its output.
    pub fn scenario(&self, names: &[&str], trials: u32) -> Output {
        let mut args = vec!["scenario"];
        args.extend_from_slice(names);
        let trials = trials.to_string();
        let results = self.results();
        let work = self.work();
        args.extend_from_slice(&[
            "--trials",
            &trials,
            "--results",
            results.to_str().unwrap(),
            "--workdir",
            work.to_str().unwrap(),
        ]);
        let output = self.clobber(&args).output().expect("run clobber");
        assert_no_victims(&work);
        output
    }

    /// The single results file written into this test's results dir.
    pub fn results_file(&self) -> (PathBuf, Value) {
        let files: Vec<PathBuf> = std::fs::read_dir(self.results())
            .expect("results dir")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        assert_eq!(files.len(), 1, "one results file expected: {files:?}");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        (files[0].clone(), serde_json::from_str(&text).unwrap())
    }

    /// The entry of scenario `name` in the results file.
    pub fn entry(&self, name: &str) -> Value {
        let (_, file) = self.results_file();
        file["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no entry for {name} in {file}"))
            .clone()
    }
}

/// The scenario names of a results file, in file order.
pub fn scenario_names(file: &Value) -> Vec<&str> {
    file["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

/// Asserts that a command succeeded, showing its output otherwise.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "clobber failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Processes whose command line contains `needle`, or starts with the part after a leading `^`
/// (to tell a command from the commands that name it in their arguments).
pub fn processes_with(needle: &str) -> Vec<String> {
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

/// Processes whose command line names `dir`, as `pid: cmdline`.
pub fn processes_naming(dir: &Path) -> Vec<String> {
    processes_with(dir.to_str().unwrap())
}

/// Asserts that no process is left running in work dir `dir`.
pub fn assert_no_victims(dir: &Path) {
    let left = processes_naming(dir);
    assert!(left.is_empty(), "victims left running: {left:?}");
}

/// The count of `label` in a scenario entry (0 when absent).
pub fn count(entry: &Value, label: &str) -> u64 {
    entry["counts"][label].as_u64().unwrap_or(0)
}

/// Trials of `entry` in which the victim died: killed by a signal or exited.
pub fn died(entry: &Value) -> u64 {
    count_prefix(entry, "killed:") + count_prefix(entry, "exited:")
}

/// The sum of counts whose label starts with `prefix`.
pub fn count_prefix(entry: &Value, prefix: &str) -> u64 {
    entry["counts"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(label, _)| label.starts_with(prefix))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// A `clobber ARGS` command that runs as an ordinary user: as root, a copy of the binary inside
/// this test's directory run through setpriv(1) as nobody, with the directory handed to nobody;
/// otherwise the binary itself, as the ordinary user this already is.
pub fn unprivileged(dir: &Dir, args: &[&str]) -> Command {
    if !nix::unistd::geteuid().is_root() {
        return dir.clobber(args);
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect(
            "setpriv(1) is needed to run tests as an ordinary user: apt-get install util-linux",
        );
    let binary = dir.path().join("clobber");
    std::fs::copy(env!("CARGO_BIN_EXE_clobber"), &binary).expect("copy clobber");
    let nobody = Some(nix::unistd::Uid::from_raw(65534));
    let nogroup = Some(nix::unistd::Gid::from_raw(65534));
    for path in [dir.path().to_path_buf(), binary.clone()] {
        nix::unistd::chown(&path, nobody, nogroup).expect("chown to nobody");
    }
    let mut command = Command::new(setpriv);
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&binary)
        .args(args)
        // An ordinary user's PATH on Debian (login.defs), without root's sbin directories.
        .env("PATH", "/usr/local/bin:/usr/bin:/bin");
    command
}

/// `clobber check --target TARGET --trials 5 [EXTRA] -- COMMAND` in `dir`'s results and work
/// dirs: its exit code, and its stdout followed by its stderr. No victim may be left.
pub fn check(dir: &Dir, target: &str, extra: &[&str], command: &[&str]) -> (i32, String) {
    let (results, work) = (dir.results(), dir.work());
    let mut args = vec!["check", "--target", target, "--trials", "5"];
    args.extend_from_slice(&["--results", results.to_str().unwrap()]);
    args.extend_from_slice(&["--workdir", work.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    let output = dir.clobber(&args).output().unwrap();
    assert_no_victims(&dir.work());
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Writes a scenario file `NAME.toml` into `dir`.
pub fn scenario_file(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), body).unwrap();
}

/// Waits up to 2 s for no process to name `needle`, then asserts it.
pub fn assert_none_left(needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !processes_with(needle).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = processes_with(needle);
    assert!(left.is_empty(), "left running: {left:?}");
}
