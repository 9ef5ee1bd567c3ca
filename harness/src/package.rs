//! Package managers as the updater: version 1 and version 2 of a package that ships the target
//! (clobber's victim library or executable) are built once per scenario in that ecosystem's own
//! format with its own tools, version 1 is installed into a private root inside the work dir
//! before every trial, and the scenario's command (the real package manager, run as users run it,
//! with `{root}` naming the private root) upgrades it to version 2 while victims run on the
//! installed file. Nothing is ever installed outside the private root.
//!
//! - `deb`: `dpkg-deb --build` of package `clobber-victim`; the root is a fresh directory with
//!   its own dpkg admin dir (`var/lib/dpkg`: empty `status` and `available`, `info/`,
//!   `updates/`) for each trial, and version 1 is installed with the same dpkg command line as
//!   the upgrade.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::apt;
use crate::scenario::Target;
use crate::tool;
use crate::trial::UpdateResult;
use crate::workfile;

/// The name of the package in every format.
pub const NAME: &str = "clobber-victim";

/// A package format and the tool that installs it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A Debian package, built with `dpkg-deb` and installed with `dpkg`.
    Deb,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Deb => "deb",
        })
    }
}

impl Format {
    /// The programs that build packages of this format (the installing tool is the command's).
    pub fn builders(self) -> &'static [&'static str] {
        match self {
            Format::Deb => &["dpkg-deb"],
        }
    }

    /// The targets a package of this format carries.
    pub fn targets(self) -> &'static [Target] {
        match self {
            Format::Deb => &[Target::Lib, Target::Exe],
        }
    }

    /// The path inside the package (and the root) of a target named `file_name`: executables in
    /// `usr/bin`, libraries in `usr/lib/clobber`.
    fn installed(self, file_name: &str, executable: bool) -> PathBuf {
        match (self, executable) {
            (Format::Deb, true) => Path::new("usr/bin").join(file_name),
            (Format::Deb, false) => Path::new("usr/lib/clobber").join(file_name),
        }
    }
}

/// The built packages of one scenario and its private root.
#[derive(Clone, Debug)]
pub struct Packages {
    format: Format,
    /// The package of version 1.
    pub old: PathBuf,
    /// The package of version 2 (the command's `{new}`).
    pub new: PathBuf,
    /// The private root the packages are installed into (the command's `{root}`).
    pub root: PathBuf,
    /// The installed target, inside `root`.
    pub target: PathBuf,
}

/// What goes into a package: the target file's name, both versions' bytes and its mode.
pub struct Payload<'a> {
    /// The target's file name.
    pub file_name: &'a str,
    /// Version 1.
    pub old: &'a [u8],
    /// Version 2.
    pub new: &'a [u8],
    /// Whether it is an executable (installed where programs go).
    pub executable: bool,
}

/// Builds both versions of the package of `payload` in `dir/packages`, with the root at
/// `dir/root`.
pub fn build(format: Format, dir: &Path, payload: &Payload) -> Result<Packages> {
    let packages = dir.join("packages");
    fs::create_dir_all(&packages).with_context(|| format!("creating {}", packages.display()))?;
    let inside = format.installed(payload.file_name, payload.executable);
    let mut built = Vec::new();
    for (version, bytes) in [(1, payload.old), (2, payload.new)] {
        let tree = packages.join(format!("tree-{version}"));
        if tree.exists() {
            fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
        }
        put(&tree.join(&inside), bytes, 0o755)?;
        built.push(match format {
            Format::Deb => build_deb(&tree, &packages, version)?,
        });
    }
    let new = built.pop().expect("two versions");
    let old = built.pop().expect("two versions");
    let root = dir.join("root");
    Ok(Packages {
        format,
        old,
        new,
        target: root.join(inside),
        root,
    })
}

/// Writes `bytes` at `path` (a new file), creating its parent directories.
fn put(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let parent = path.parent().context("a file has a parent")?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    workfile::write(path, bytes, mode)
}

/// `dpkg-deb --build` of `tree` with a control file for `version`; files owned by root in the
/// package whoever builds it.
fn build_deb(tree: &Path, packages: &Path, version: u32) -> Result<PathBuf> {
    let control = format!(
        "Package: {NAME}\nVersion: {version}\nArchitecture: all\n\
         Maintainer: clobber <clobber@localhost>\n\
         Description: clobber's victim library and executable, version {version}\n"
    );
    put(&tree.join("DEBIAN/control"), control.as_bytes(), 0o644)?;
    let deb = packages.join(format!("{NAME}_{version}_all.deb"));
    apt::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zgzip", "-z1", "--build"])
            .arg(tree)
            .arg(&deb),
    )?;
    Ok(deb)
}

impl Packages {
    /// The scenario's command for installing `package`: `{root}` substituted, then `{new}` (the
    /// package) and `{target}` (the installed target).
    pub fn command(&self, argv: &[String], package: &Path) -> Vec<String> {
        let root = self.root.to_string_lossy();
        let argv: Vec<String> = argv.iter().map(|a| a.replace("{root}", &root)).collect();
        tool::substitute(&argv, package, &self.target)
    }

    /// Prepares a fresh root and installs version 1 into it with `install` (the scenario's
    /// command with `{new}` naming version 1), run in `dir` as [`tool::run`] runs commands.
    pub fn install_old(
        &self,
        install: &[String],
        dir: &Path,
        confine: Option<&Path>,
    ) -> Result<()> {
        match self.format {
            Format::Deb => {
                if self.root.exists() {
                    fs::remove_dir_all(&self.root)
                        .with_context(|| format!("removing {}", self.root.display()))?;
                }
                let admin = self.root.join("var/lib/dpkg");
                for sub in ["info", "updates"] {
                    fs::create_dir_all(admin.join(sub))
                        .with_context(|| format!("creating {}", admin.display()))?;
                }
                for file in ["status", "available"] {
                    workfile::write(&admin.join(file), b"", 0o644)?;
                }
            }
        }
        match tool::run(install, dir, confine)? {
            UpdateResult::Applied => Ok(()),
            failed => bail!(
                "installing version 1 with `{}` failed: {}",
                install.join(" "),
                failed.message().unwrap_or("no message")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_root_the_package_and_the_installed_target() {
        let packages = Packages {
            format: Format::Deb,
            old: "/w/packages/v1.deb".into(),
            new: "/w/packages/v2.deb".into(),
            root: "/w/root".into(),
            target: "/w/root/usr/lib/clobber/libvictim.so".into(),
        };
        let argv: Vec<String> = [
            "dpkg",
            "--admindir={root}/var/lib/dpkg",
            "-i",
            "{new}",
            "{target}",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            packages.command(&argv, &packages.old),
            [
                "dpkg",
                "--admindir=/w/root/var/lib/dpkg",
                "-i",
                "/w/packages/v1.deb",
                "/w/root/usr/lib/clobber/libvictim.so"
            ]
        );
        assert_eq!(
            Format::Deb.installed("victim", true),
            Path::new("usr/bin/victim")
        );
    }
}
