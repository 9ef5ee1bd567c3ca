//! RPM packages: `rpmbuild -bb` of a spec that installs the target as it is (no automatic
//! dependencies, no post-install processing such as stripping), every directory rpmbuild writes
//! inside the package's tree.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{builder, put, NAME};
use crate::apt;

/// `rpmbuild -bb` in `topdir` (which holds `SOURCES/<file_name>`) of version `version`, whose
/// payload installs the source at `inside`; every directory rpmbuild writes is inside `topdir`.
pub fn build(
    topdir: &Path,
    packages: &Path,
    version: u32,
    file_name: &str,
    inside: &Path,
) -> Result<PathBuf> {
    let inside = inside.display();
    let spec = format!(
        "Name: {NAME}\nVersion: {version}\nRelease: 1\nSummary: clobber's victim\nLicense: MIT\n\
         BuildArch: noarch\nAutoReqProv: no\n\
         %define __os_install_post %{{nil}}\n%define debug_package %{{nil}}\n\
         %define _build_id_links none\n%define _binaries_in_noarch_packages_terminate_build 0\n\
         %description\nclobber's victim library and executable, version {version}.\n\
         %install\nmkdir -p %{{buildroot}}/$(dirname {inside})\n\
         install -m 0755 %{{_sourcedir}}/{file_name} %{{buildroot}}/{inside}\n\
         %files\n/{inside}\n"
    );
    let spec_path = topdir.join("SPECS").join(format!("{NAME}.spec"));
    put(&spec_path, spec.as_bytes(), 0o644)?;
    let tmp = packages.join("tmp");
    apt::run(
        builder("rpmbuild", packages)
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", topdir.display()))
            .arg("--define")
            .arg(format!("_tmppath {}", tmp.display()))
            .arg(&spec_path),
    )?;
    let name = format!("{NAME}-{version}-1.noarch.rpm");
    let rpm = packages.join(&name);
    fs::rename(topdir.join("RPMS/noarch").join(&name), &rpm)
        .with_context(|| format!("moving {name} into {}", packages.display()))?;
    Ok(rpm)
}
