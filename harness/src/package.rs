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

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::Digest;

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
    /// The programs that build packages of this format (the installing tool is the command's).
    pub fn builders(self) -> &'static [&'static str] {
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
    /// named `file_name`: executables in `usr/bin`, libraries in `usr/lib/clobber`, and in the
    /// Python package's directory.
    fn installed(self, file_name: &str, executable: bool) -> PathBuf {
        match (self, executable) {
            (Format::Deb | Format::Rpm, true) => Path::new("usr/bin").join(file_name),
            (Format::Deb | Format::Rpm, false) => Path::new("usr/lib/clobber").join(file_name),
            (Format::Wheel, _) => Path::new(MODULE).join(file_name),
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
        built.push(match format {
            Format::Deb => {
                put(&tree.join(&inside), bytes, 0o755)?;
                build_deb(&tree, &packages, version)?
            }
            Format::Rpm => {
                put(&tree.join("SOURCES").join(payload.file_name), bytes, 0o755)?;
                build_rpm(&tree, &packages, version, payload.file_name, &inside)?
            }
            Format::Wheel => {
                put(&tree.join(&inside), bytes, 0o755)?;
                build_wheel(&tree, &packages, version)?
            }
            Format::Npm => {
                put(&tree.join("package").join(payload.file_name), bytes, 0o755)?;
                build_npm(&tree, &packages, version, payload.file_name)?
            }
            // Cargo compiles the executable from the crate's source itself.
            Format::Crate => write_crate(&tree, payload.file_name, version)?,
        });
    }
    let new = built.pop().expect("two versions");
    let old = built.pop().expect("two versions");
    let root = root(dir);
    let installed_in = match format {
        Format::Deb | Format::Rpm => root.clone(),
        Format::Wheel => venv(&root)?,
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

/// The Python package's name (its directory in the wheel and in site-packages).
const MODULE: &str = "clobber_victim";
/// The package's code: it loads the library beside it with ctypes.
const MODULE_INIT: &str = include_str!("../../victims/python/clobber_victim/__init__.py");
/// The file name of the Python victim, beside the scenario's other support files.
pub const PYTHON_VICTIM: &str = "victim.py";

/// The Python victim program (`victims/python/victim.py`).
pub fn python_victim() -> Vec<u8> {
    include_bytes!("../../victims/python/victim.py").to_vec()
}

/// A wheel of `tree` (which holds the library in the package's directory) for `version`: the
/// package's code and a `.dist-info` are added, every file is listed with its sha256 in
/// `RECORD`, and `python3 -m zipfile` zips it.
fn build_wheel(tree: &Path, packages: &Path, version: u32) -> Result<PathBuf> {
    let info = format!("{MODULE}-{version}.dist-info");
    let metadata = format!("Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n");
    let wheel =
        "Wheel-Version: 1.0\nGenerator: clobber\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let library = fs::read(tree.join(MODULE).join("libvictim.so"))?;
    let files: [(String, &[u8]); 4] = [
        (format!("{MODULE}/__init__.py"), MODULE_INIT.as_bytes()),
        (format!("{MODULE}/libvictim.so"), &library),
        (format!("{info}/METADATA"), metadata.as_bytes()),
        (format!("{info}/WHEEL"), wheel.as_bytes()),
    ];
    let mut record = String::new();
    for (path, bytes) in &files {
        record += &record_line(path, bytes);
    }
    record += &format!("{info}/RECORD,,\n");
    put(&tree.join(&files[0].0), files[0].1, 0o644)?;
    for (path, bytes) in &files[2..] {
        put(&tree.join(path), bytes, 0o644)?;
    }
    put(&tree.join(&info).join("RECORD"), record.as_bytes(), 0o644)?;
    let whl = packages.join(format!("{MODULE}-{version}-py3-none-any.whl"));
    if whl.exists() {
        fs::remove_file(&whl).with_context(|| format!("removing {}", whl.display()))?;
    }
    apt::run(
        Command::new("python3")
            .args(["-m", "zipfile", "-c"])
            .arg(&whl)
            .args([MODULE, &info])
            .current_dir(tree),
    )?;
    Ok(whl)
}

/// A `RECORD` line of a wheel: the path, `sha256=` and the digest in URL-safe base64 without
/// padding, and the size.
fn record_line(path: &str, bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    format!("{path},sha256={},{}\n", base64_url(&digest), bytes.len())
}

/// URL-safe base64 without padding (RFC 4648 §5), as wheels' `RECORD` files write hashes.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(word >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The file name of the Node.js victim, beside the scenario's other support files.
pub const NODE_VICTIM: &str = "victim.js";

/// The Node.js victim program (`victims/node/victim.js`).
pub fn node_victim() -> Vec<u8> {
    include_bytes!("../../victims/node/victim.js").to_vec()
}

/// The installed npm package's directory, in the root of the scenario whose directory is `dir`.
pub fn node_package(dir: &Path) -> PathBuf {
    root(dir).join("node_modules").join(NAME)
}

/// An npm package tarball of version `version` from `tree/package`, which holds the addon
/// `addon`: its `package.json` and an `index.js` that requires the addon are added, and `tar`
/// packs the directory as `npm pack` does (one top directory, `package/`).
fn build_npm(tree: &Path, packages: &Path, version: u32, addon: &str) -> Result<PathBuf> {
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
        Command::new("tar")
            .arg("-C")
            .arg(tree)
            .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
            .arg(&tarball)
            .arg("package"),
    )?;
    Ok(tarball)
}

/// The victim executable's source and the files it includes, by their paths in the crate
/// (`src/main.rs` includes `../common/*.rs`, as `victims/exe/victim_exe.rs` does).
const CRATE_SOURCES: [(&str, &str); 4] = [
    (
        "src/main.rs",
        include_str!("../../victims/exe/victim_exe.rs"),
    ),
    (
        "common/report.rs",
        include_str!("../../victims/common/report.rs"),
    ),
    (
        "common/table.rs",
        include_str!("../../victims/common/table.rs"),
    ),
    (
        "common/layout.rs",
        include_str!("../../victims/common/layout.rs"),
    ),
];

/// Writes the source tree of the crate `clobber-victim` version `version` at `tree`: its binary
/// `bin_name` is the victim executable, built with `--cfg victim_v<version>` by a build script.
fn write_crate(tree: &Path, bin_name: &str, version: u32) -> Result<PathBuf> {
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

/// Makes a fresh venv at `root` with `python3 -m venv` and returns its site-packages.
fn venv(root: &Path) -> Result<PathBuf> {
    if root.exists() {
        fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    }
    apt::run(Command::new("python3").args(["-m", "venv"]).arg(root))?;
    let lib = root.join("lib");
    let python = fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("python"))
        })
        .with_context(|| format!("the venv has no {}/python*", lib.display()))?;
    Ok(python.join("site-packages"))
}

/// `rpmbuild -bb` in `topdir` (which holds `SOURCES/<file_name>`) of version `version`, whose
/// payload installs the source at `inside`; every directory rpmbuild writes is inside `topdir`.
fn build_rpm(
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
    let tmp = topdir.join("tmp");
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    apt::run(
        Command::new("rpmbuild")
            .arg("-bb")
            .arg("--define")
            .arg(format!("_topdir {}", topdir.display()))
            .arg("--define")
            .arg(format!("_tmppath {}", tmp.display()))
            .arg(&spec_path)
            .env("TMPDIR", &tmp),
    )?;
    let name = format!("{NAME}-{version}-1.noarch.rpm");
    let rpm = packages.join(&name);
    fs::rename(topdir.join("RPMS/noarch").join(&name), &rpm)
        .with_context(|| format!("moving {name} into {}", packages.display()))?;
    Ok(rpm)
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
    fn a_crate_tree_builds_its_version_of_the_victim_executable() {
        let dir = tempfile::tempdir().unwrap();
        let tree = write_crate(&dir.path().join("tree-2"), "victim", 2).unwrap();
        let manifest = fs::read_to_string(tree.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("version = \"2.0.0\""), "{manifest}");
        assert!(manifest.contains("name = \"victim\""), "{manifest}");
        let build = fs::read_to_string(tree.join("build.rs")).unwrap();
        assert!(build.contains("cargo::rustc-cfg=victim_v2"), "{build}");
        let main = fs::read_to_string(tree.join("src/main.rs")).unwrap();
        assert!(main.contains("\"../common/report.rs\""));
        assert!(tree.join("common/layout.rs").is_file());
    }

    #[test]
    fn record_lines_carry_url_safe_unpadded_sha256() {
        // sha256 of nothing, as `python3 -c 'import base64, hashlib;
        // print(base64.urlsafe_b64encode(hashlib.sha256(b"").digest()))'` writes it.
        assert_eq!(
            record_line("a/b", b""),
            "a/b,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"
        );
        assert_eq!(base64_url(b"\xfb\xff"), "-_8");
        assert_eq!(base64_url(b"Man"), "TWFu");
    }

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
