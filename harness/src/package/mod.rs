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
//! - `rpm`: `rpmbuild -bb` of a spec that installs the target (no automatic dependencies, no
//!   post-install processing such as stripping, every rpmbuild directory inside the work dir);
//!   the root is a fresh directory for each trial, and version 1 is installed with the same rpm
//!   command line as the upgrade (rpm keeps its database beneath `--root`).
//! - `wheel`: a wheel of the Python package `clobber_victim` (`victims/python/clobber_victim`,
//!   which loads the library beside it with ctypes), written by hand in the wheel format
//!   (PEP 427: the package, and a `.dist-info` with `METADATA`, `WHEEL` and a `RECORD` of sha256
//!   hashes) and zipped with `python3 -m zipfile`, since building one with pip needs the `wheel`
//!   package; the root is a venv made once per scenario with `python3 -m venv` (its pip is the
//!   one ensurepip bundles), and version 1 is installed before every trial with the scenario's
//!   pip command, which reinstalls an explicitly named wheel file of another version.
//! - `npm`: an npm package tarball (`package/package.json`, an `index.js` that requires the
//!   native addon `victim.node`), made with `tar`; the root is a prefix directory that lives as
//!   long as the scenario (npm's cache inside it), and version 1 is installed before every trial
//!   with the scenario's npm command, which installs an explicitly named tarball of another
//!   version over the installed one.
//! - `crate`: a local path crate (`clobber-victim`, whose binary `victim` is clobber's victim
//!   executable, `victims/exe`, its version chosen by a build script) that the scenario's
//!   `cargo install --path` compiles and installs into the root's `bin`; the root lives as long
//!   as the scenario, and installing version 1 replaces version 2.

mod cargo;
mod deb;
mod npm;
mod rpm;
mod wheel;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::scenario::Target;
use crate::tool;
use crate::trial::UpdateResult;
use crate::workfile;

pub use npm::{node_package, node_victim, NODE_VICTIM};
pub use wheel::{python_victim, PYTHON_VICTIM};

/// The name of the package in every format.
pub const NAME: &str = "clobber-victim";

/// A package format and the tool that installs it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A Debian package, built with `dpkg-deb` and installed with `dpkg`.
    Deb,
    /// An RPM package, built with `rpmbuild` and installed with `rpm`.
    Rpm,
    /// A Python wheel, installed with pip into a venv.
    Wheel,
    /// An npm package tarball, installed with `npm install` into a prefix.
    Npm,
    /// A Rust crate's source tree, compiled and installed with `cargo install --path`.
    Crate,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
            Format::Wheel => "wheel",
            Format::Npm => "npm",
            Format::Crate => "crate",
        })
    }
}

impl Format {
    /// The programs besides the scenario's command that this format needs on PATH: to build its
    /// packages, or to run its victims (node).
    pub fn needs(self) -> &'static [&'static str] {
        match self {
            Format::Deb => &["dpkg-deb"],
            Format::Rpm => &["rpmbuild"],
            Format::Wheel => &["python3"],
            Format::Npm => &["tar", "node"],
            // The source tree is written by clobber; cargo, which compiles it, installs it.
            Format::Crate => &[],
        }
    }

    /// The targets a package of this format carries.
    pub fn targets(self) -> &'static [Target] {
        match self {
            Format::Deb | Format::Rpm => &[Target::Lib, Target::Exe],
            Format::Wheel => &[Target::PythonLib],
            Format::Npm => &[Target::NodeAddon],
            Format::Crate => &[Target::Exe],
        }
    }

    /// The path inside the package (and the root, or a wheel's site-packages) of a target
    /// named `file_name`: for deb and rpm, executables in `usr/bin` and libraries in
    /// `usr/lib/clobber`; the Python package's directory; the npm package's directory in
    /// `node_modules`; cargo's `bin`.
    fn installed(self, file_name: &str, executable: bool) -> PathBuf {
        match (self, executable) {
            (Format::Deb | Format::Rpm, true) => Path::new("usr/bin").join(file_name),
            (Format::Deb | Format::Rpm, false) => Path::new("usr/lib/clobber").join(file_name),
            (Format::Wheel, _) => Path::new(wheel::MODULE).join(file_name),
            (Format::Npm, _) => Path::new("node_modules").join(NAME).join(file_name),
            (Format::Crate, _) => Path::new("bin").join(file_name),
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

/// What goes into a package: the target file's name and both versions' bytes.
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
    let tmp = packages.join("tmp");
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let inside = format.installed(payload.file_name, payload.executable);
    let mut built = Vec::new();
    for (version, bytes) in [(1, payload.old), (2, payload.new)] {
        let tree = packages.join(format!("tree-{version}"));
        if tree.exists() {
            fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
        }
        built.push(match format {
            Format::Deb => {
                put(&tree.join(&inside), bytes, 0o755)?;
                deb::build(&tree, &packages, version)?
            }
            Format::Rpm => {
                put(&tree.join("SOURCES").join(payload.file_name), bytes, 0o755)?;
                rpm::build(&tree, &packages, version, payload.file_name, &inside)?
            }
            Format::Wheel => {
                put(&tree.join(&inside), bytes, 0o755)?;
                wheel::build(&tree, &packages, version)?
            }
            Format::Npm => {
                put(&tree.join("package").join(payload.file_name), bytes, 0o755)?;
                npm::build(&tree, &packages, version, payload.file_name)?
            }
            // Cargo compiles the executable from the crate's source itself.
            Format::Crate => cargo::write(&tree, payload.file_name, version)?,
        });
    }
    let new = built.pop().expect("two versions");
    let old = built.pop().expect("two versions");
    let root = root(dir);
    let installed_in = match format {
        Format::Deb | Format::Rpm => root.clone(),
        Format::Wheel => wheel::venv(&root, &packages)?,
        Format::Npm | Format::Crate => {
            if root.exists() {
                fs::remove_dir_all(&root)
                    .with_context(|| format!("removing {}", root.display()))?;
            }
            fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
            root.clone()
        }
    };
    Ok(Packages {
        format,
        old,
        new,
        target: installed_in.join(inside),
        root,
    })
}

/// The private root of the scenario whose directory is `dir`.
pub fn root(dir: &Path) -> PathBuf {
    dir.join("root")
}

/// `program`, run by the harness to build the packages in `packages`, with its temporary files
/// in `packages/tmp`, inside the work dir.
fn builder(program: &str, packages: &Path) -> Command {
    let mut command = Command::new(program);
    command.env("TMPDIR", packages.join("tmp"));
    command
}

/// Writes `bytes` at `path` (a new file), creating its parent directories.
fn put(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let parent = path.parent().context("a file has a parent")?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    workfile::write(path, bytes, mode)
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
        if matches!(self.format, Format::Deb | Format::Rpm) && self.root.exists() {
            fs::remove_dir_all(&self.root)
                .with_context(|| format!("removing {}", self.root.display()))?;
        }
        match self.format {
            // rpm makes its database itself.
            Format::Rpm => fs::create_dir_all(&self.root)
                .with_context(|| format!("creating {}", self.root.display()))?,
            Format::Deb => {
                let admin = self.root.join("var/lib/dpkg");
                for sub in ["info", "updates"] {
                    fs::create_dir_all(admin.join(sub))
                        .with_context(|| format!("creating {}", admin.display()))?;
                }
                for file in ["status", "available"] {
                    workfile::write(&admin.join(file), b"", 0o644)?;
                }
            }
            // The venv and the crate's root live as long as the scenario: pip and cargo install
            // version 1 over version 2.
            Format::Wheel | Format::Npm | Format::Crate => {}
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
    use crate::status;

    #[test]
    fn the_script_victims_use_the_status_page_layout() {
        let python = String::from_utf8(python_victim()).unwrap();
        let node = String::from_utf8(node_victim()).unwrap();
        let words = [
            ("STATE", status::STATE as u64),
            ("ITERATIONS", status::ITERATIONS as u64),
            ("SEEN", status::SEEN as u64),
            ("FIRST", status::FIRST as u64),
            ("UPDATED", status::UPDATED as u64),
            ("READY", status::READY),
            ("MIXED", status::MIXED),
        ];
        for (name, value) in words {
            let line = format!("\nconst {name} = {value};\n");
            assert!(node.contains(&line), "victim.js lacks `{}`", line.trim());
        }
        for (name, value) in [("SIZE", status::SIZE as u64)].into_iter().chain(words) {
            let line = format!("\n{name} = {value}\n");
            assert!(python.contains(&line), "victim.py lacks `{}`", line.trim());
        }
    }

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
