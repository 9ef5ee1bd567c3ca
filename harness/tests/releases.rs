//! Real library releases from Debian's archive (fetched into the cache on demand): glibc 2.36 →
//! 2.41 under real programs (clobber's C-library victim, a dash loop, a sleeping `sleep`, a `cat`
//! blocked on a pipe), zlib 1.2.13 → 1.3.1 and SQLite 3.40 → 3.46 under programs that link them;
//! the not-run path without cache or archive; and the system's own C library left alone.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{assert_none_left, assert_ok, count, died, processes_with, Dir};

/// Victims of `kind` that ended in outcomes starting with `prefix`.
fn of_kind(entry: &Value, kind: &str, prefix: &str) -> u64 {
    entry["kind_counts"][kind]
        .as_object()
        .unwrap_or_else(|| panic!("no {kind} victims: {entry}"))
        .iter()
        .filter(|(label, _)| label.starts_with(prefix))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// Inode and modification time of the system's C library and loader, through their links.
fn system_libc() -> Vec<(String, u64, i64)> {
    [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ]
    .iter()
    .map(|path| {
        let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        (path.to_string(), meta.ino(), meta.mtime())
    })
    .collect()
}

fn reported(entry: &Value) -> (String, String) {
    let releases = &entry["releases"];
    (
        releases["old"]["reported"].as_str().unwrap().to_string(),
        releases["new"]["reported"].as_str().unwrap().to_string(),
    )
}

#[test]
fn cp_of_glibc_kills_every_kind_of_program_and_install_keeps_them_all() {
    let before = system_libc();
    let dir = Dir::new();
    let output = dir.scenario(&["cp-over-libc", "install-over-libc"], 3);
    assert_ok(&output);
    assert_eq!(system_libc(), before, "the system's libc or loader changed");

    let cp = dir.entry("cp-over-libc");
    assert_eq!(
        reported(&cp),
        ("glibc 2.36".into(), "glibc 2.41".into()),
        "{cp}"
    );
    let old = &cp["releases"]["old"];
    assert!(
        old["version"].as_str().unwrap().starts_with("2.36-"),
        "{old}"
    );
    assert_eq!(old["suite"], "bookworm");
    assert_eq!(old["files"][0]["name"], "libc.so.6");
    assert_eq!(old["files"][0]["sha256"].as_str().unwrap().len(), 64);
    // Programs that run C-library code die; the sleeper returns into rewritten pages on waking.
    for kind in ["clobber", "shell", "reader"] {
        let died = of_kind(&cp, kind, "killed:") + of_kind(&cp, kind, "exited:");
        assert_eq!(died, 3, "{kind}: {}", cp["kind_counts"]);
    }
    let sleeper = of_kind(&cp, "sleeper", "killed:") + of_kind(&cp, "sleeper", "hung");
    assert_eq!(sleeper, 3, "sleepers survived: {}", cp["kind_counts"]);
    // The old loader cannot run the new C library.
    let new = &cp["new_process"];
    assert_eq!(new["failed_to_start"], 3, "{new}");
    assert!(
        new["failures"][0]
            .as_str()
            .is_some_and(|l| l.contains("GLIBC_PRIVATE")),
        "{new}"
    );

    let install = dir.entry("install-over-libc");
    assert_eq!(count(&install, "unchanged"), 3, "{install}");
    for kind in ["clobber", "shell", "sleeper", "reader"] {
        assert_eq!(of_kind(&install, kind, "unchanged"), 3, "{kind}: {install}");
    }
    let new = &install["new_process"];
    assert_eq!(new["saw_new"], 3, "{new}");
    assert_eq!(new["old_unchanged"], 3, "{new}");
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("sleepers"), "{summary}");
    assert!(summary.contains("(glibc 2.36) → 2.41"), "{summary}");
}

#[test]
fn cp_of_zlib_and_sqlite_kills_and_install_gives_new_programs_the_new_release() {
    let names = [
        "cp-over-zlib",
        "install-over-zlib",
        "cp-over-sqlite",
        "install-over-sqlite",
    ];
    let dir = Dir::new();
    assert_ok(&dir.scenario(&names, 5));
    for (library, old, new) in [
        ("zlib", "zlib 1.2.13", "zlib 1.3.1"),
        ("sqlite", "sqlite 3.40.1", "sqlite 3.46.1"),
    ] {
        let cp = dir.entry(&format!("cp-over-{library}"));
        let dead = died(&cp);
        assert!(dead * 2 > 5, "{library}: only {dead}/5 died: {cp}");
        assert_eq!(reported(&cp), (old.into(), new.into()), "{cp}");
        let install = dir.entry(&format!("install-over-{library}"));
        assert_eq!(count(&install, "unchanged"), 5, "{install}");
        assert_eq!(install["new_process"]["saw_new"], 5, "{install}");
    }
}

#[test]
fn without_cache_or_archive_release_scenarios_are_not_run_and_others_are() {
    let dir = Dir::new();
    let cache = dir.path().join("empty-cache");
    std::fs::create_dir(&cache).unwrap();
    let output = dir
        .in_dirs(&["scenario", "cp-over-zlib", "cp-over-exe", "--trials", "2"])
        .env("XDG_CACHE_HOME", &cache)
        // Nothing listens on the discard port of loopback: the archive cannot be reached.
        .env("http_proxy", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_ok(&output);
    let entry = dir.entry("cp-over-zlib");
    assert!(
        entry["not_run"]
            .as_str()
            .is_some_and(|why| why.contains("cannot be reached")),
        "{entry}"
    );
    assert!(entry["counts"].as_object().unwrap().is_empty(), "{entry}");
    assert_eq!(count(&dir.entry("cp-over-exe"), "writer:ETXTBSY"), 2);
    assert!(!Path::new(&cache)
        .join("clobber/releases/zlib1g/bookworm")
        .exists());
}

#[test]
fn sigkill_of_the_harness_leaves_no_real_program_running_not_even_a_hung_sleeper() {
    let dir = Dir::new();
    let mut child = dir
        .in_dirs(&["scenario", "cp-over-libc", "--trials", "20"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a sleeper, then past its wake: after cp it spins in the rewritten C library.
    let work = dir.work();
    let sleeper = format!("{} 1", Path::new("/usr/bin/sleep").display());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !processes_with(work.to_str().unwrap())
        .iter()
        .any(|p| p.contains(&sleeper))
    {
        assert!(Instant::now() < deadline, "no sleeper started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !processes_with(work.to_str().unwrap()).is_empty(),
        "the real programs were gone before the harness was killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_none_left(work.to_str().unwrap());
}
