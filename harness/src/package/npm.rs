//! npm package tarballs (`package/package.json`, an `index.js` that requires the native addon),
//! packed with `tar` as `npm pack` does, and the Node.js victim that loads the package.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{builder, put, root, NAME};
use crate::apt;

/// The file name of the Node.js victim, beside the scenario's other support files.
pub const NODE_VICTIM: &str = "victim.js";

/// The Node.js victim program (`victims/node/victim.js`).
pub fn node_victim() -> Vec<u8> {
    include_bytes!("../../../victims/node/victim.js").to_vec()
}

/// The installed npm package's directory, in the root of the scenario whose directory is `dir`.
pub fn node_package(dir: &Path) -> PathBuf {
    root(dir).join("node_modules").join(NAME)
}

/// An npm package tarball of version `version` from `tree/package`, which holds the addon
/// `addon`: its `package.json` and an `index.js` that requires the addon are added, and `tar`
/// packs the directory as `npm pack` does (one top directory, `package/`).
pub fn build(tree: &Path, packages: &Path, version: u32, addon: &str) -> Result<PathBuf> {
    let manifest = format!(
        "{{\"name\": \"{NAME}\", \"version\": \"{version}.0.0\", \"main\": \"index.js\"}}\n"
    );
    let index = format!("module.exports = require('./{addon}');\n");
    put(
        &tree.join("package/package.json"),
        manifest.as_bytes(),
        0o644,
    )?;
    put(&tree.join("package/index.js"), index.as_bytes(), 0o644)?;
    let tarball = packages.join(format!("{NAME}-{version}.0.0.tgz"));
    if tarball.exists() {
        fs::remove_file(&tarball).with_context(|| format!("removing {}", tarball.display()))?;
    }
    apt::run(
        builder("tar", packages)
            .arg("-C")
            .arg(tree)
            .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
            .arg(&tarball)
            .arg("package"),
    )?;
    Ok(tarball)
}
