//! `clobber check`: the user's own update command against running victims, with the one-line
//! verdict, the JSON entry and the --fail-unsafe exit status.

use crate::util::{check, Dir};

#[test]
fn check_finds_cp_unsafe_and_fails_only_when_asked() {
    let dir = Dir::new();
    let (code, stdout) = check(&dir, "lib", &[], &["cp", "{new}", "{target}"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("verdict: UNSAFE: running processes crashed in"),
        "{stdout}"
    );
    let entry = dir.entry("check-lib");
    assert_eq!(entry["method"], "cp {new} {target}");
    assert_eq!(entry["verdict"]["as_expected"], false);
    let (code, _) = check(
        &dir,
        "lib",
        &["--fail-unsafe"],
        &["cp", "{new}", "{target}"],
    );
    assert_eq!(code, 3);
}

#[test]
fn check_finds_install_safe() {
    let dir = Dir::new();
    let (code, stdout) = check(
        &dir,
        "linked-lib",
        &["--fail-unsafe"],
        &["install", "-m", "0755", "{new}", "{target}"],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(
            "verdict: safe: old processes kept the old version and new ones got the new in 5/5"
        ),
        "{stdout}"
    );
}

#[test]
fn check_finds_a_write_then_rename_script_safe_and_cp_over_exe_refused() {
    let dir = Dir::new();
    let script = dir.path().join("deploy.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nset -e\ntmp=\"$2.tmp.$$\"\ncat \"$1\" > \"$tmp\"\nchmod 0755 \"$tmp\"\nmv -f \"$tmp\" \"$2\"\n",
    )
    .unwrap();
    let (code, stdout) = check(
        &dir,
        "lib",
        &["--fail-unsafe"],
        &["sh", script.to_str().unwrap(), "{new}", "{target}"],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("verdict: safe"), "{stdout}");
    let (code, stdout) = check(&dir, "exe", &[], &["cp", "{new}", "{target}"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("verdict: refused: the command failed in 5/5 trials (ETXTBSY)"),
        "{stdout}"
    );
}

#[test]
fn check_rejects_a_command_that_never_names_the_target() {
    let dir = Dir::new();
    let (code, _) = check(&dir, "lib", &[], &["true"]);
    assert_eq!(code, 2);
}
