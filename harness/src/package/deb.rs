//! Debian packages: `dpkg-deb --build` of a tree that holds the target, with a control file.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{builder, put, NAME};
use crate::apt;

/// `dpkg-deb --build` of `tree` with a control file for `version`; files owned by root in the
/// package whoever builds it.
pub fn build(tree: &Path, packages: &Path, version: u32) -> Result<PathBuf> {
    let control = format!(
        "Package: {NAME}\nVersion: {version}\nArchitecture: all\n\
         Maintainer: clobber <clobber@localhost>\n\
         Description: clobber's victim library and executable, version {version}\n"
    );
    put(&tree.join("DEBIAN/control"), control.as_bytes(), 0o644)?;
    let deb = packages.join(format!("{NAME}_{version}_all.deb"));
    apt::run(
        builder("dpkg-deb", packages)
            .args(["--root-owner-group", "-Zgzip", "-z1", "--build"])
            .arg(tree)
            .arg(&deb),
    )?;
    Ok(deb)
}
