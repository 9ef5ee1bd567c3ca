//! Rust crates for `cargo install --path`: the source tree of a crate whose binary is clobber's
//! victim executable, its version chosen by a build script.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{put, NAME};

/// The victim executable's source and the files it includes, by their paths in the crate
/// (`src/main.rs` includes `../common/*.rs`, as `victims/exe/victim_exe.rs` does).
const CRATE_SOURCES: [(&str, &str); 4] = [
    (
        "src/main.rs",
        include_str!("../../../victims/exe/victim_exe.rs"),
    ),
    (
        "common/report.rs",
        include_str!("../../../victims/common/report.rs"),
    ),
    (
        "common/table.rs",
        include_str!("../../../victims/common/table.rs"),
    ),
    (
        "common/layout.rs",
        include_str!("../../../victims/common/layout.rs"),
    ),
];

/// Writes the source tree of the crate `clobber-victim` version `version` at `tree`: its binary
/// `bin_name` is the victim executable, built with `--cfg victim_v<version>` by a build script.
pub fn write(tree: &Path, bin_name: &str, version: u32) -> Result<PathBuf> {
    let manifest = format!(
        "[package]\nname = \"{NAME}\"\nversion = \"{version}.0.0\"\nedition = \"2021\"\n\n\
         [[bin]]\nname = \"{bin_name}\"\npath = \"src/main.rs\"\n\n\
         [profile.release]\npanic = \"abort\"\n"
    );
    let build = format!(
        "fn main() {{\n    println!(\"cargo::rustc-check-cfg=cfg(victim_v1, victim_v2)\");\n    \
         println!(\"cargo::rustc-cfg=victim_v{version}\");\n}}\n"
    );
    put(&tree.join("Cargo.toml"), manifest.as_bytes(), 0o644)?;
    put(&tree.join("build.rs"), build.as_bytes(), 0o644)?;
    for (path, text) in CRATE_SOURCES {
        put(&tree.join(path), text.as_bytes(), 0o644)?;
    }
    Ok(tree.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_crate_tree_builds_its_version_of_the_victim_executable() {
        let dir = tempfile::tempdir().unwrap();
        let tree = write(&dir.path().join("tree-2"), "victim", 2).unwrap();
        let manifest = fs::read_to_string(tree.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("version = \"2.0.0\""), "{manifest}");
        assert!(manifest.contains("name = \"victim\""), "{manifest}");
        let build = fs::read_to_string(tree.join("build.rs")).unwrap();
        assert!(build.contains("cargo::rustc-cfg=victim_v2"), "{build}");
        let main = fs::read_to_string(tree.join("src/main.rs")).unwrap();
        assert!(main.contains("\"../common/report.rs\""));
        assert!(tree.join("common/layout.rs").is_file());
    }
}
