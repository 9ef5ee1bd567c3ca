//! Real tools, linked libraries, the ELF interpreter, lazy binding, blast radius and restart
//! detection: every scenario runs for real and the assertions are the outcome classes that hold on
//! every current kernel.

use crate::util::{assert_no_victims, assert_ok, count, count_prefix, died, Dir};
use clobber::{elf, embedded, victim};
use serde_json::Value;

/// Asserts the safe pattern: every old victim unchanged, every new process got the new version.
fn assert_safe(entry: &Value, trials: u64) {
    let name = &entry["name"];
    assert_eq!(count(entry, "unchanged"), trials, "{name}: {entry}");
    let new = &entry["new_process"];
    assert_eq!(new["saw_new"], trials, "{name}: {new}");
    assert_eq!(new["old_unchanged"], trials, "{name}: {new}");
    let detection = &entry["restart_detection"];
    assert_eq!(detection["visible"], trials, "{name}: {detection}");
}

/// Victims that died, by a signal or by exiting (e.g. a loader assertion).
/// Asserts that no victim kept running the old version.
fn assert_never_unchanged(entry: &Value, trials: u64) {
    let name = &entry["name"];
    let gone = died(entry) + count(entry, "saw-new");
    assert_eq!(gone, trials, "{name}: {entry}");
}

fn assert_mostly_killed(entry: &Value, trials: u64) {
    assert!(died(entry) * 2 > trials, "{}: {entry}", entry["name"]);
}

#[test]
fn real_tools_behave_as_their_system_calls() {
    let dir = Dir::new();
    let refused = ["tool-cp-over-exe", "tool-rsync-inplace-over-exe"];
    let safe = [
        "tool-cp-f-over-exe",
        "tool-cp-rd-over-lib",
        "tool-install-over-lib",
        "tool-install-over-exe",
        "tool-mv-over-lib",
        "tool-rsync-over-lib",
    ];
    let truncating = [
        "tool-cp-over-lib",
        "tool-cp-f-over-lib",
        "tool-redirect-over-lib",
    ];
    let in_place = ["tool-dd-over-lib", "tool-rsync-inplace-over-lib"];
    let all: Vec<&str> = [&refused[..], &safe, &truncating, &in_place].concat();
    assert_ok(&dir.scenario(&all, 6));
    for name in refused {
        let entry = dir.entry(name);
        assert_eq!(count(&entry, "writer:ETXTBSY"), 6, "{name}: {entry}");
        let said = entry["victim_messages"][0].as_str().unwrap_or_default();
        assert!(said.contains("Text file busy"), "{name}: {said}");
    }
    for name in safe {
        assert_safe(&dir.entry(name), 6);
    }
    for name in truncating {
        assert_mostly_killed(&dir.entry(name), 6);
    }
    for name in in_place {
        assert_never_unchanged(&dir.entry(name), 6);
    }
    let (_, file) = dir.results_file();
    let tools = &file["environment"]["tools"];
    for tool in ["cp", "install", "mv", "rsync", "dd", "sh", "cat"] {
        assert!(
            tools[tool].as_str().is_some_and(|v| !v.is_empty()),
            "{tool}: {tools}"
        );
    }
    assert!(
        tools["rsync"].as_str().unwrap().contains("rsync"),
        "{tools}"
    );
}

#[test]
fn a_missing_tool_is_recorded_as_not_run_never_faked() {
    let dir = Dir::new();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("tool-nothing-over-lib.toml"),
        "description = \"d\"\nexplanation = \"e\"\ncommand = [\"clobber-no-such-tool\", \"{new}\", \"{target}\"]\ntarget = \"lib\"\n[expect]\noutcomes = [\"unchanged\"]\nshare = \"all\"\n",
    )
    .unwrap();
    let output = dir
        .clobber(&[
            "suite",
            "--trials",
            "3",
            "--scenarios-dir",
            scenarios.to_str().unwrap(),
            "--results",
            dir.results().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("tool-nothing-over-lib: not run: clobber-no-such-tool not found"),
        "{stdout}"
    );
    let entry = dir.entry("tool-nothing-over-lib");
    assert_eq!(entry["not_run"], "clobber-no-such-tool not found");
    assert_eq!(entry["trials"], 0);
    assert!(entry["counts"].as_object().unwrap().is_empty());
}

#[test]
fn linked_libraries_break_like_dlopened_ones() {
    let dir = Dir::new();
    let names = [
        "cp-over-linked-lib",
        "install-over-linked-lib",
        "rename-over-linked-lib",
        "inplace-over-linked-lib",
    ];
    assert_ok(&dir.scenario(&names, 10));
    assert_mostly_killed(&dir.entry("cp-over-linked-lib"), 10);
    assert_safe(&dir.entry("install-over-linked-lib"), 10);
    assert_safe(&dir.entry("rename-over-linked-lib"), 10);
    assert_never_unchanged(&dir.entry("inplace-over-linked-lib"), 10);
}

#[test]
fn the_interpreter_is_not_write_protected_but_rename_is_safe() {
    let dir = Dir::new();
    let names = [
        "cp-over-interp",
        "install-over-interp",
        "rename-over-interp",
    ];
    assert_ok(&dir.scenario(&names, 10));
    let cp = dir.entry("cp-over-interp");
    assert_eq!(count_prefix(&cp, "writer:"), 0, "{cp}");
    assert_never_unchanged(&cp, 10);
    assert_safe(&dir.entry("install-over-interp"), 10);
    assert_safe(&dir.entry("rename-over-interp"), 10);
}

/// The line the lazy linked victim (victims/linked/victim_linked_lazy.rs) writes just before its
/// first call of `victim_late`.
const LATE_MARKER: &str = "calling victim_late for the first time";

#[test]
fn lazy_victim_calls_the_library_through_unbound_plt_slots() {
    let lazy = elf::dynamic_flags(embedded::LINKED_LAZY).unwrap();
    assert!(
        !lazy.bind_now(),
        "victim-linked-lazy is linked -z now: {lazy:?}"
    );
    let slots = elf::plt_symbols(embedded::LINKED_LAZY).unwrap();
    for name in ["victim_version", "victim_work", "victim_late"] {
        assert!(slots.iter().any(|s| s == name), "{name} not in {slots:?}");
    }
    // The eager victim is the contrast: Rust's default binds everything at start-up, through GOT
    // entries, with no PLT slot for the library's functions.
    let eager = elf::dynamic_flags(embedded::LINKED).unwrap();
    assert!(eager.bind_now(), "{eager:?}");
    let slots = elf::plt_symbols(embedded::LINKED).unwrap();
    assert!(!slots.iter().any(|s| s.starts_with("victim_")), "{slots:?}");
}

#[test]
fn lazy_binding_resolves_victim_late_only_after_the_update() {
    let dir = Dir::new();
    let name = "rename-over-linked-lib-lazy";
    let output = dir
        .in_dirs(&["scenario", name, "--trials", "3"])
        .env(victim::VICTIM_LD_DEBUG, "bindings")
        .output()
        .unwrap();
    assert_no_victims(&dir.work());
    assert_ok(&output);
    assert_safe(&dir.entry(name), 3);
    // The old victim of the last trial: the loader's `bindings` trace and the victim's marker.
    let stderr = std::fs::read_to_string(dir.private_work().join(name).join("stderr-0")).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    let binding = |symbol: &str| {
        let wanted = format!("libvictim.so [0]: normal symbol `{symbol}'");
        lines
            .iter()
            .position(|l| l.contains("binding file") && l.ends_with(&wanted))
            .unwrap_or_else(|| panic!("no binding of {symbol} in:\n{stderr}"))
    };
    let marker = lines
        .iter()
        .position(|l| *l == LATE_MARKER)
        .unwrap_or_else(|| panic!("no marker in:\n{stderr}"));
    assert!(binding("victim_version") < marker, "{stderr}");
    assert!(binding("victim_work") < marker, "{stderr}");
    assert!(binding("victim_late") > marker, "{stderr}");
}

#[test]
fn lazy_binding_cp_kills_and_rename_keeps_the_old_version() {
    let dir = Dir::new();
    let names = ["cp-over-linked-lib-lazy", "rename-over-linked-lib-lazy"];
    assert_ok(&dir.scenario(&names, 10));
    assert_mostly_killed(&dir.entry("cp-over-linked-lib-lazy"), 10);
    assert_safe(&dir.entry("rename-over-linked-lib-lazy"), 10);
}

#[test]
fn blast_radius_counts_every_victim_and_times_first_median_last() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(
        &["blast-cp-over-linked-lib", "blast-install-over-linked-lib"],
        2,
    ));
    let cp = dir.entry("blast-cp-over-linked-lib");
    assert_eq!(cp["victims_per_trial"], 32);
    let total: u64 = cp["victim_counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 64);
    let victims_died: u64 = cp["victim_counts"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(label, _)| label.starts_with("killed:") || label.starts_with("exited:"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert!(victims_died * 2 > 64, "{cp}");
    let blast = cp["blast"].as_array().unwrap();
    assert_eq!(blast.len(), 2);
    for trial in blast {
        assert_eq!(trial["victims"], 32);
        let (first, median, last) = (&trial["first_us"], &trial["median_us"], &trial["last_us"]);
        assert!(
            first.as_u64() <= median.as_u64() && median.as_u64() <= last.as_u64(),
            "{trial}"
        );
    }
    let install = dir.entry("blast-install-over-linked-lib");
    assert_eq!(count(&install, "unchanged"), 2, "{install}");
    assert_eq!(install["victim_counts"]["unchanged"], 64, "{install}");
    assert!(install["blast"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["died"] == 0));
}

#[test]
fn restart_checkers_cannot_see_victims_left_on_changed_content() {
    let dir = Dir::new();
    let output = dir.scenario(&["map-private-write", "install-over-lib"], 8);
    assert_ok(&output);
    let private = &dir.entry("map-private-write")["restart_detection"];
    assert_eq!(private["survivors"], 8, "{private}");
    assert_eq!(private["changed"], 8, "{private}");
    assert_eq!(private["changed_visible"], 0, "{private}");
    let install = &dir.entry("install-over-lib")["restart_detection"];
    assert_eq!(install["visible"], 8, "{install}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("restart checkers (needrestart, lsof +L1) cannot see"),
        "{stdout}"
    );
    assert!(
        stdout.contains("map-private-write (inplace-write: 8/8"),
        "{stdout}"
    );
}
