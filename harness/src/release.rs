//! Real library releases from Debian's archive: the old (bookworm) and new (trixie) release of the
//! C library with its dynamic loader, zlib and SQLite, downloaded through the private apt state
//! ([`crate::apt`]), unpacked with `dpkg-deb -x` into a scratch directory and kept in the cache as
//! plain files (`releases/<package>/<suite>/`, with `release.json` naming the package version and
//! the sha256 of every file). Nothing is installed and the system's own files are never read for
//! them: victims run on private copies of these.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apt::{output, run, Apt};
use crate::vm::kernel::cache_dir;

/// The suite of the old release.
const OLD_SUITE: &str = "bookworm";
/// The suite of the new release.
const NEW_SUITE: &str = "trixie";

/// A real library whose releases scenarios update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Library {
    /// The GNU C library (`libc6`): `libc.so.6` and its dynamic loader.
    Libc,
    /// zlib (`zlib1g`): `libz.so.1`.
    Zlib,
    /// SQLite (`libsqlite3-0`): `libsqlite3.so.0`.
    Sqlite,
}

impl fmt::Display for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Library::Libc => "libc",
            Library::Zlib => "zlib",
            Library::Sqlite => "sqlite",
        })
    }
}

/// Every library, for `clobber lib fetch` without arguments.
pub const LIBRARIES: [Library; 3] = [Library::Libc, Library::Zlib, Library::Sqlite];

/// The C library's file name.
pub const LIBC: &str = "libc.so.6";
/// The dynamic loader's file name.
pub const LOADER: &str = "ld-linux-x86-64.so.2";
/// The maths library's file name (part of glibc; trixie's SQLite needs its 2.38 symbols).
pub const LIBM: &str = "libm.so.6";

impl Library {
    /// Debian's binary package.
    pub fn package(self) -> &'static str {
        match self {
            Library::Libc => "libc6",
            Library::Zlib => "zlib1g",
            Library::Sqlite => "libsqlite3-0",
        }
    }

    /// The files scenarios use, by the name programs load them by (the soname); the first is the
    /// one the scenarios overwrite.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Library::Libc => &[LIBC, LOADER, LIBM],
            Library::Zlib => &["libz.so.1"],
            Library::Sqlite => &["libsqlite3.so.0"],
        }
    }

    /// The other library whose new release its victims run on, if the system's may be too old:
    /// trixie's SQLite needs glibc 2.38, so SQLite's victims run on trixie's glibc (2.41).
    pub fn runs_on(self) -> Option<Library> {
        match self {
            Library::Sqlite => Some(Library::Libc),
            Library::Libc | Library::Zlib => None,
        }
    }

    /// Parses `libc`, `zlib` or `sqlite`.
    pub fn parse(text: &str) -> Option<Library> {
        LIBRARIES.into_iter().find(|l| l.to_string() == text)
    }
}

/// One file of a release, as kept in the cache.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct ReleaseFile {
    /// The soname, e.g. `libc.so.6`.
    pub name: String,
    /// The path inside the package it came from (a symlink resolved), e.g.
    /// `usr/lib/x86_64-linux-gnu/libz.so.1.3.1`.
    pub from: String,
    /// Its sha256, hex.
    pub sha256: String,
}

/// One release of a library, as kept in the cache.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Release {
    /// The Debian package, e.g. `libc6`.
    pub package: String,
    /// The package's version, e.g. `2.36-9+deb12u14`.
    pub version: String,
    /// The suite it was taken from.
    pub suite: String,
    /// The files used.
    pub files: Vec<ReleaseFile>,
}

/// The old and new release of a library in the cache.
#[derive(Clone, Debug)]
pub struct Pair {
    /// Which library.
    pub library: Library,
    /// The old release and its directory.
    pub old: (Release, PathBuf),
    /// The new release and its directory.
    pub new: (Release, PathBuf),
}

impl Pair {
    /// The bytes of file `name` of the old and the new release.
    pub fn bytes(&self, name: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        let read = |dir: &Path| {
            let path = dir.join(name);
            fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        Ok((read(&self.old.1)?, read(&self.new.1)?))
    }
}

/// A release as a scenario used it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Used {
    /// The release.
    #[serde(flatten)]
    pub release: Release,
    /// What a victim running on it said it was (its first stderr line, e.g. `glibc 2.36`).
    pub reported: String,
}

/// The two releases of a library a scenario used, recorded in its results.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Releases {
    /// Which library.
    pub library: Library,
    /// The release the victims started on.
    pub old: Used,
    /// The release the update put in its place.
    pub new: Used,
}

impl fmt::Display for Releases {
    /// `PACKAGE OLD (reported) → NEW (reported)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}) → {} ({})",
            self.old.release.package,
            self.old.release.version,
            self.old.reported,
            self.new.release.version,
            self.new.reported
        )
    }
}

impl Pair {
    /// The record of this pair, with what victims reported for each release.
    pub fn used(&self, old: String, new: String) -> Releases {
        Releases {
            library: self.library,
            old: Used {
                release: self.old.0.clone(),
                reported: old,
            },
            new: Used {
                release: self.new.0.clone(),
                reported: new,
            },
        }
    }
}

/// Where the releases of the cache live.
fn releases_dir() -> Result<PathBuf> {
    Ok(cache_dir()?.join("releases"))
}

/// The release of `library` from `suite` in the cache, if it is there and intact.
fn cached_release(library: Library, suite: &str) -> Option<(Release, PathBuf)> {
    let dir = releases_dir().ok()?.join(library.package()).join(suite);
    let text = fs::read_to_string(dir.join("release.json")).ok()?;
    let release: Release = serde_json::from_str(&text).ok()?;
    let intact = release
        .files
        .iter()
        .all(|f| fs::read(dir.join(&f.name)).is_ok_and(|bytes| sha256(&bytes) == f.sha256));
    intact.then_some((release, dir))
}

/// The files of every release in the cache, as (path relative to the cache dir, path): what a
/// guest's cache needs to hold.
pub fn cached_files() -> Result<Vec<(PathBuf, PathBuf)>> {
    let root = cache_dir()?;
    let mut files = Vec::new();
    for pair in LIBRARIES.into_iter().filter_map(cached) {
        for (release, dir) in [&pair.old, &pair.new] {
            let names = release.files.iter().map(|f| f.name.as_str());
            for name in names.chain(["release.json"]) {
                let path = dir.join(name);
                let relative = path.strip_prefix(&root)?.to_path_buf();
                files.push((relative, path));
            }
        }
    }
    Ok(files)
}

/// Both releases of `library`, if the cache has them.
pub fn cached(library: Library) -> Option<Pair> {
    Some(Pair {
        library,
        old: cached_release(library, OLD_SUITE)?,
        new: cached_release(library, NEW_SUITE)?,
    })
}

/// Both releases of `library`: from the cache, or fetched from Debian's archive with a progress
/// line on stderr. An error says why they could not be had (e.g. the archive is unreachable).
pub fn ensure(library: Library) -> Result<Pair> {
    if let Some(runtime) = library.runs_on() {
        ensure(runtime)?;
    }
    if let Some(pair) = cached(library) {
        return Ok(pair);
    }
    eprintln!(
        "clobber: fetching {} from Debian {OLD_SUITE} and {NEW_SUITE} into {}",
        library.package(),
        releases_dir()?.display()
    );
    fetch(library)
}

/// Downloads and unpacks both releases of `library` into the cache, replacing what it held.
pub fn fetch(library: Library) -> Result<Pair> {
    let apt = Apt::new()?;
    apt.update()
        .context("updating the private package lists from deb.debian.org")?;
    for suite in [OLD_SUITE, NEW_SUITE] {
        fetch_release(&apt, library, suite)
            .with_context(|| format!("fetching {}/{suite}", library.package()))?;
    }
    cached(library).with_context(|| format!("{} vanished from the cache", library.package()))
}

fn fetch_release(apt: &Apt, library: Library, suite: &str) -> Result<()> {
    let parent = releases_dir()?.join(library.package());
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let scratch = tempfile::tempdir_in(&parent)?;
    let debs = scratch.path().join("debs");
    let tree = scratch.path().join("tree");
    let keep = scratch.path().join("release");
    for dir in [&debs, &tree, &keep] {
        fs::create_dir(dir)?;
    }
    run(apt
        .command("apt-get")
        .args(["-qq", "download"])
        .arg(format!("{}/{suite}", library.package()))
        .current_dir(&debs))?;
    let deb = fs::read_dir(&debs)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download left no .deb in {}", debs.display()))?;
    let version = output(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"))?
        .trim()
        .to_string();
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree))?;
    let mut files = Vec::new();
    for name in library.files() {
        let (from, bytes) = find_file(&tree, name)?;
        crate::workfile::write(&keep.join(name), &bytes, 0o755)?;
        files.push(ReleaseFile {
            name: name.to_string(),
            from,
            sha256: sha256(&bytes),
        });
    }
    let release = Release {
        package: library.package().into(),
        version,
        suite: suite.into(),
        files,
    };
    fs::write(
        keep.join("release.json"),
        serde_json::to_string_pretty(&release)?,
    )?;
    let dest = parent.join(suite);
    if dest.exists() {
        fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    fs::rename(&keep, &dest).with_context(|| format!("moving into {}", dest.display()))?;
    Ok(())
}

/// The library directories of Debian packages, before and after the merged /usr.
const LIB_DIRS: [&str; 2] = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"];

/// File `name` of an unpacked package: its path in the package and its bytes. A symlink (a
/// soname link) is followed one step, only to a file name in the same directory of the tree.
fn find_file(tree: &Path, name: &str) -> Result<(String, Vec<u8>)> {
    for dir in LIB_DIRS {
        let path = tree.join(dir).join(name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let real = if meta.file_type().is_symlink() {
            let link = fs::read_link(&path)?;
            let file = link.file_name().filter(|f| Path::new(f) == link);
            let Some(file) = file else {
                bail!(
                    "{dir}/{name} links outside its directory: {}",
                    link.display()
                );
            };
            file.to_string_lossy().into_owned()
        } else {
            name.to_string()
        };
        let from = format!("{dir}/{real}");
        let meta = fs::symlink_metadata(tree.join(&from))?;
        if !meta.file_type().is_file() {
            bail!("{from} is not a regular file");
        }
        return Ok((from.clone(), fs::read(tree.join(&from))?));
    }
    bail!("the package holds no {name} in {}", LIB_DIRS.join(" or "))
}

/// The sha256 of `bytes`, hex.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_parse_by_name_and_name_their_packages() {
        for library in LIBRARIES {
            assert_eq!(Library::parse(&library.to_string()), Some(library));
            assert!(!library.files().is_empty());
        }
        assert_eq!(Library::parse("openssl"), None);
        assert_eq!(Library::Libc.files()[0], LIBC);
    }

    #[test]
    fn a_soname_link_is_followed_within_its_directory_only() {
        let tree = tempfile::tempdir().unwrap();
        let dir = tree.path().join(LIB_DIRS[1]);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("libz.so.1.3.1"), b"zlib").unwrap();
        std::os::unix::fs::symlink("libz.so.1.3.1", dir.join("libz.so.1")).unwrap();
        let (from, bytes) = find_file(tree.path(), "libz.so.1").unwrap();
        assert_eq!(from, "usr/lib/x86_64-linux-gnu/libz.so.1.3.1");
        assert_eq!(bytes, b"zlib");
        std::os::unix::fs::symlink("/etc/passwd", dir.join("libsqlite3.so.0")).unwrap();
        let err = find_file(tree.path(), "libsqlite3.so.0").unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(find_file(tree.path(), "libc.so.6").is_err());
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
