//! Integration tests: real scenarios, real victims, on the running kernel. Each test works in its
//! own fresh directory and asserts outcome classes that hold on every current kernel.

mod check;
mod faults;
mod filesystems;
mod matrix;
mod methods;
mod packages;
mod releases;
mod reliability;
mod report;
mod util;
mod verdicts;

use util::{assert_ok, count, scenario_names, Dir};

#[test]
fn cp_over_exe_is_refused_with_etxtbsy_every_time() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["cp-over-exe"], 20));
    let entry = dir.entry("cp-over-exe");
    assert_eq!(entry["trials"], 20);
    assert_eq!(count(&entry, "writer:ETXTBSY"), 20, "{entry}");
    assert_eq!(entry["verdict"]["as_expected"], true);
}

#[test]
fn cp_over_lib_kills_the_victim_in_most_trials() {
    let dir = Dir::new();
    let output = dir.scenario(&["cp-over-lib"], 40);
    assert_ok(&output);
    let entry = dir.entry("cp-over-lib");
    let killed = util::died(&entry);
    assert!(killed * 2 > 40, "only {killed}/40 died: {entry}");
    assert!(entry["time_to_death_us"]["p50"].as_u64().unwrap() > 0);
    assert_eq!(
        entry["death_times_us"].as_array().unwrap().len() as u64,
        killed
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("95% CI"), "{summary}");
    assert!(summary.contains("time to death"), "{summary}");
}

#[test]
fn install_and_rename_never_kill_and_give_new_processes_the_new_version() {
    let names = [
        "install-over-exe",
        "install-over-lib",
        "rename-over-exe",
        "rename-over-lib",
    ];
    let dir = Dir::new();
    assert_ok(&dir.scenario(&names, 10));
    for name in names {
        let entry = dir.entry(name);
        assert_eq!(count(&entry, "unchanged"), 10, "{name}: {entry}");
        let new = &entry["new_process"];
        assert_eq!(new["started"], 10, "{name}: {new}");
        assert_eq!(new["saw_new"], 10, "{name}: {new}");
        assert_eq!(new["old_unchanged"], 10, "{name}: {new}");
    }
}

#[test]
fn truncate_under_mmap_kills_with_sigbus() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["truncate-under-mmap"], 20));
    let entry = dir.entry("truncate-under-mmap");
    assert_eq!(count(&entry, "killed:SIGBUS"), 20, "{entry}");
}

#[test]
fn map_private_and_denywrite_victims_see_the_write() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["map-private-write", "map-denywrite"], 10));
    assert_eq!(count(&dir.entry("map-private-write"), "saw-new"), 10);
    assert_eq!(count(&dir.entry("map-denywrite"), "saw-new"), 10);
}

#[test]
fn rerunning_a_scenario_replaces_its_entry_and_keeps_the_others() {
    let dir = Dir::new();
    assert_ok(&dir.scenario(&["cp-over-exe"], 3));
    assert_ok(&dir.scenario(&["truncate-under-mmap"], 2));
    assert_ok(&dir.scenario(&["cp-over-exe"], 4));
    let (path, file) = dir.results_file();
    let release = file["environment"]["kernel_release"].as_str().unwrap();
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{release}.json")
    );
    let uname = nix_release();
    assert_eq!(release, uname);
    let names = scenario_names(&file);
    assert_eq!(names, ["cp-over-exe", "truncate-under-mmap"]);
    assert_eq!(dir.entry("cp-over-exe")["trials"], 4);
    assert_eq!(file["schema_version"], 2);
    for field in [
        "arch",
        "filesystem",
        "libc",
        "cpu",
        "virtualization",
        "clobber_version",
    ] {
        assert!(
            file["environment"][field]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
}

fn nix_release() -> String {
    let output = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn a_corrupt_results_file_is_named_and_left_untouched() {
    let dir = Dir::new();
    std::fs::create_dir_all(dir.results()).unwrap();
    let path = dir.results().join(format!("{}.json", nix_release()));
    std::fs::write(&path, "{\"schema_version\": 1, \"environ").unwrap();
    let output = dir.scenario(&["cp-over-exe"], 1);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"schema_version\": 1, \"environ"
    );
}

fn bad_scenario(text: &str) -> (i32, String) {
    let dir = Dir::new();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("bad-one.toml"), text).unwrap();
    let output = dir
        .clobber(&["list", "--scenarios-dir", scenarios.to_str().unwrap()])
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const GOOD: &str = "description = \"d\"\nexplanation = \"e\"\nmethod = \"truncate-write\"\ntarget = \"lib\"\n[expect]\noutcomes = [\"killed:*\"]\nshare = \"most\"\n";

#[test]
fn bad_scenario_files_name_the_file_line_and_field_with_status_2() {
    let (code, err) = bad_scenario(&GOOD.replace("truncate-write", "scp"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad-one.toml:3"), "{err}");
    assert!(
        err.contains("scp") && err.contains("truncate-write"),
        "{err}"
    );

    let (code, err) = bad_scenario(&GOOD.replace("\"lib\"", "\"kernel\""));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad-one.toml:4") && err.contains("kernel"),
        "{err}"
    );

    let (code, err) = bad_scenario(&GOOD.replace("method = \"truncate-write\"\n", ""));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad-one.toml") && err.contains("`method`"),
        "{err}"
    );

    let (code, err) = bad_scenario("description = \"unterminated\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad-one.toml:1"), "{err}");
}

#[test]
fn unknown_scenario_names_and_bad_flags_exit_2() {
    let dir = Dir::new();
    let output = dir.scenario(&["no-such-scenario"], 1);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-scenario"));
    let output = dir
        .clobber(&["scenario", "cp-over-exe", "--trials", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn list_shows_the_whole_catalogue() {
    let dir = Dir::new();
    let output = dir.clobber(&["list", "--json"]).output().unwrap();
    assert_ok(&output);
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for name in [
        "cp-over-exe",
        "cp-over-lib",
        "install-over-exe",
        "install-over-lib",
        "rename-over-exe",
        "rename-over-lib",
        "inplace-over-lib",
        "truncate-under-mmap",
        "map-private-write",
        "map-denywrite",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let text = dir.clobber(&["list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).lines().count() >= 10);
}

#[test]
fn bench_measures_rates_next_to_the_floor_and_memory() {
    let dir = Dir::new();
    // What a run recorded for cp-over-lib on this kernel, for the bench to set beside its own.
    assert_ok(&dir.scenario(&["cp-over-lib"], 4));
    let output = dir
        .clobber(&[
            "bench",
            "--trials",
            "5",
            "--long",
            "20",
            "--json",
            "--results",
        ])
        .arg(dir.results())
        .output()
        .unwrap();
    assert_ok(&output);
    let comparison: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let report = &comparison["environments"][0];
    assert_eq!(report["place"]["name"], "host", "{report}");
    assert!(
        report["floor_per_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        report["c_floor_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "the C floor needs a C compiler (apt-get install gcc): {report}"
    );
    let rate = &report["rates"][0];
    assert!(
        rate["over_c_floor_per_spawn"].as_f64().unwrap() > 0.0,
        "{rate}"
    );
    assert_eq!(
        rate["outcomes"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        5,
        "{rate}"
    );
    let rates = report["rates"].as_array().unwrap();
    assert_eq!(rates.len(), 3);
    assert_eq!(rates[1]["scenario"], "install-over-lib");
    assert_eq!(rates[1]["spawns_per_trial"], 2);
    assert_eq!(rates[2]["scenario"], "tool-cp-over-lib");
    assert!(
        report["guarded_command_ms"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert_eq!(report["memory"]["rss_kib"].as_array().unwrap().len(), 11);
    let recorded = &rates[0]["recorded"];
    let entry = dir.entry("cp-over-lib");
    assert_eq!(recorded["trials"], 4, "{recorded}");
    assert_eq!(recorded["outcomes"], entry["counts"], "{recorded}");
    for label in recorded["differ"].as_array().unwrap() {
        let label = label.as_str().unwrap();
        let now = rates[0]["outcomes"].get(label).and_then(|v| v.as_u64());
        let then = entry["counts"].get(label).and_then(|v| v.as_u64());
        assert_ne!(now.map(|k| k * 4), then.map(|k| k * 5), "{recorded}");
    }
    assert!(
        rates[1].get("recorded").is_none(),
        "no install-over-lib was recorded: {}",
        rates[1]
    );
}
