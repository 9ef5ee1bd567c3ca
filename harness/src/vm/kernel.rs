//! Kernels to boot and their cache: parsing a spec (`debian:5.10`, `debian:6.1`, `debian:6.12`,
//! `debian:7`, or the path of a bzImage someone built), fetching the newest Debian kernel of a
//! series with apt-get on a private sources list and private state dirs (never /etc/apt or
//! /var/lib/apt), unpacking it with dpkg-deb, reading the release from the bzImage's setup header,
//! extracting the uncompressed vmlinux that qemu boots directly (PVH), which skips the
//! decompression that is slow under TCG, and keeping the package's modules tree (`modules/`), from
//! which `--fs` guests get their disk and filesystem drivers.

use std::fmt;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::apt::{run, Apt};
use crate::elf;
use crate::error::BadInput;

/// A kernel named on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    /// The newest Debian kernel of a series.
    Debian(&'static Series),
    /// A bzImage/vmlinuz file someone built.
    Path(PathBuf),
}

/// A Debian kernel series: where it lives in the archive and how its package is named.
#[derive(Debug, PartialEq)]
pub struct Series {
    /// The version in the spec, e.g. `6.1`.
    pub version: &'static str,
    /// The Debian suite that carries it (one of [`crate::apt::SUITES`]).
    suite: &'static str,
    /// Package names of the series (an apt-cache regex).
    pattern: &'static str,
}

/// The Debian series `debian:VERSION` can name.
pub const SERIES: [Series; 4] = [
    Series {
        version: "5.10",
        suite: "bullseye",
        pattern: r"^linux-image-5\.10\.0-[0-9]+-amd64-unsigned$",
    },
    Series {
        version: "6.1",
        suite: "bookworm",
        pattern: r"^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$",
    },
    Series {
        version: "6.12",
        suite: "trixie",
        pattern: r"^linux-image-6\.12\.[0-9]+\+deb13-amd64-unsigned$",
    },
    Series {
        version: "7",
        suite: "sid",
        pattern: r"^linux-binary-7\.[0-9.]+\+deb14-amd64$",
    },
];

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Debian(series) => write!(f, "debian:{}", series.version),
            Spec::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Spec {
    /// Parses `debian:VERSION` or the path of an existing kernel image.
    pub fn parse(text: &str) -> Result<Spec, BadInput> {
        if let Some(version) = text.strip_prefix("debian:") {
            return SERIES
                .iter()
                .find(|s| s.version == version)
                .map(Spec::Debian)
                .ok_or_else(|| {
                    let known: Vec<String> = SERIES
                        .iter()
                        .map(|s| format!("debian:{}", s.version))
                        .collect();
                    BadInput(format!(
                        "unknown kernel {text:?}; known: {}, or the path of a bzImage",
                        known.join(", ")
                    ))
                });
        }
        let path = PathBuf::from(text);
        if path.is_file() {
            Ok(Spec::Path(path))
        } else {
            Err(BadInput(format!(
                "kernel {text:?} is neither debian:5.10|6.1|6.12|7 nor an existing file"
            )))
        }
    }

    /// The directory name of this kernel in the cache, when it can be known without reading it.
    fn cache_key(&self) -> Option<String> {
        match self {
            Spec::Debian(series) => Some(format!("debian-{}", series.version)),
            Spec::Path(_) => None,
        }
    }
}

/// What the cache records about one kernel (`kernel.json` in its directory).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Meta {
    /// The spec it was fetched for, e.g. `debian:6.1` or a path.
    pub spec: String,
    /// The release it reports (`uname -r`), read from its setup header.
    pub release: String,
    /// The Debian package and version, or the source file of a user's kernel.
    pub source: String,
    /// For a user's kernel: size and modification time (Unix seconds) of the source file, to
    /// notice a rebuilt file. Default: none.
    #[serde(default)]
    pub source_stamp: Option<(u64, u64)>,
    /// The file qemu boots, relative to the kernel's directory: `vmlinux` (PVH) or `vmlinuz`.
    pub boot: String,
}

/// A kernel in the cache, ready to boot.
#[derive(Clone, Debug)]
pub struct Cached {
    /// Its cache directory.
    pub dir: PathBuf,
    /// What the cache knows about it.
    pub meta: Meta,
}

impl Cached {
    /// The image to pass to qemu's `-kernel`.
    pub fn image(&self) -> PathBuf {
        self.dir.join(&self.meta.boot)
    }

    /// Its modules tree (the package's `lib/modules/<release>`), when the cache holds one: Debian
    /// kernels fetched by this version of clobber do, a user's bzImage does not.
    pub fn modules(&self) -> Option<PathBuf> {
        Some(self.dir.join(MODULES)).filter(|d| d.is_dir())
    }
}

/// clobber's cache directory: `$XDG_CACHE_HOME/clobber`, else `~/.cache/clobber`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("clobber"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/clobber"))
}

fn kernels_dir() -> Result<PathBuf> {
    Ok(cache_dir()?.join("kernels"))
}

fn read_meta(dir: &Path) -> Option<Meta> {
    let text = fs::read_to_string(dir.join("kernel.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Every kernel in the cache, sorted by directory name.
pub fn list() -> Result<Vec<Cached>> {
    let dir = kernels_dir()?;
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut kernels: Vec<Cached> = entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            read_meta(&dir).map(|meta| Cached { dir, meta })
        })
        .collect();
    kernels.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(kernels)
}

fn stamp(path: &Path) -> Result<(u64, u64)> {
    let metadata = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mtime = metadata
        .modified()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok((metadata.len(), mtime))
}

/// The cached kernel for `spec`, if the cache holds it (and, for a file, the same file).
pub fn cached(spec: &Spec) -> Result<Option<Cached>> {
    match spec {
        Spec::Debian(_) => {
            let dir = kernels_dir()?.join(spec.cache_key().expect("debian specs have a key"));
            Ok(read_meta(&dir).map(|meta| Cached { dir, meta }))
        }
        Spec::Path(path) => {
            let source = fs::canonicalize(path)?;
            let stamp = stamp(&source)?;
            Ok(list()?.into_iter().find(|k| {
                k.meta.source == source.display().to_string() && k.meta.source_stamp == Some(stamp)
            }))
        }
    }
}

/// The cached kernel for `spec`, fetching it first when the cache lacks it.
pub fn ensure(spec: &Spec) -> Result<Cached> {
    match cached(spec)? {
        Some(kernel) => Ok(kernel),
        None => fetch(spec),
    }
}

/// Fetches (or registers) the kernel for `spec` into the cache: the newest of a Debian series, or
/// a copy of a user's file.
pub fn fetch(spec: &Spec) -> Result<Cached> {
    match spec {
        Spec::Debian(series) => fetch_debian(spec, series),
        Spec::Path(path) => {
            let source = fs::canonicalize(path)?;
            let image = fs::read(&source).with_context(|| format!("reading {}", path.display()))?;
            let release =
                release_of(&image).with_context(|| format!("{}: not a bzImage", path.display()))?;
            let meta = Meta {
                spec: spec.to_string(),
                release: release.clone(),
                source: source.display().to_string(),
                source_stamp: Some(stamp(&source)?),
                boot: String::new(),
            };
            install(&format!("custom-{release}"), &image, None, meta)
        }
    }
}

/// The modules tree in a kernel's cache directory.
const MODULES: &str = "modules";

fn fetch_debian(spec: &Spec, series: &Series) -> Result<Cached> {
    let apt = Apt::new()?;
    apt.update()?;
    let package = apt.newest(series.pattern)?;
    let version = apt.version_of(&package)?;
    let source = format!("{package} {version}");
    let cached = cached(spec)?.filter(|k| k.meta.source == source);
    if let Some(kernel) = cached.as_ref().filter(|k| k.modules().is_some()) {
        return Ok(kernel.clone());
    }
    let debs = apt.root.join("debs");
    for old in fs::read_dir(&debs)?.flatten() {
        fs::remove_file(old.path())?;
    }
    // Series 7 ships the modules in a package of their own.
    let mut packages = vec![package.clone()];
    packages.extend(
        package
            .strip_prefix("linux-binary-")
            .map(|release| format!("linux-modules-{release}")),
    );
    run(apt
        .command("apt-get")
        .args(["-qq", "download"])
        .args(&packages)
        .current_dir(&debs))?;
    fs::create_dir_all(kernels_dir()?)?;
    let unpacked = tempfile::tempdir_in(kernels_dir()?)?;
    for deb in fs::read_dir(&debs)?.flatten().map(|e| e.path()) {
        if deb.extension().is_some_and(|e| e == "deb") {
            run(Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(unpacked.path()))?;
            fs::remove_file(&deb)?;
        }
    }
    let image_path =
        find_vmlinuz(unpacked.path()).with_context(|| format!("{package} holds no vmlinuz"))?;
    let image = fs::read(&image_path)?;
    let release =
        release_of(&image).with_context(|| format!("{}: not a bzImage", image_path.display()))?;
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| unpacked.path().join(d).join(&release))
        .find(|d| d.join("kernel").is_dir())
        .with_context(|| format!("{} hold no modules of {release}", packages.join(" and ")))?;
    if let Some(kernel) = cached {
        // Cached by an older clobber without its modules: add them beside the image.
        fs::rename(&modules, kernel.dir.join(MODULES))
            .with_context(|| format!("moving the modules into {}", kernel.dir.display()))?;
        return Ok(kernel);
    }
    let meta = Meta {
        spec: spec.to_string(),
        release,
        source,
        source_stamp: None,
        boot: String::new(),
    };
    install(
        &spec.cache_key().expect("debian specs have a key"),
        &image,
        Some(&modules),
        meta,
    )
}

/// `boot/vmlinuz-*` (older packages) or `usr/lib/modules/*/vmlinuz` (newer ones).
fn find_vmlinuz(root: &Path) -> Option<PathBuf> {
    let boot = fs::read_dir(root.join("boot")).ok().and_then(|entries| {
        entries.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
    });
    boot.or_else(|| {
        fs::read_dir(root.join("usr/lib/modules"))
            .ok()?
            .flatten()
            .map(|e| e.path().join("vmlinuz"))
            .find(|p| p.is_file())
    })
}

/// Writes `image` (and its vmlinux, when one can be extracted, and the `modules` tree) into
/// `kernels/<key>` atomically.
fn install(key: &str, image: &[u8], modules: Option<&Path>, mut meta: Meta) -> Result<Cached> {
    let kernels = kernels_dir()?;
    fs::create_dir_all(&kernels)?;
    let staging = tempfile::tempdir_in(&kernels)?;
    fs::write(staging.path().join("vmlinuz"), image)?;
    if let Some(modules) = modules {
        fs::rename(modules, staging.path().join(MODULES)).context("moving the modules")?;
    }
    meta.boot = match vmlinux_of(image) {
        Some(vmlinux) => {
            fs::write(staging.path().join("vmlinux"), vmlinux)?;
            "vmlinux".into()
        }
        None => "vmlinuz".into(),
    };
    fs::write(
        staging.path().join("kernel.json"),
        serde_json::to_string_pretty(&meta)?,
    )?;
    let dir = kernels.join(key);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(staging.keep(), &dir)
        .with_context(|| format!("moving the kernel into {}", dir.display()))?;
    Ok(Cached { dir, meta })
}

fn u16_at(bytes: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?).into())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// The release of a bzImage: the first word of the version string its setup header points to
/// (x86 boot protocol: "HdrS" at 0x202, `kernel_version` at 0x20e, relative to 0x200).
pub fn release_of(image: &[u8]) -> Result<String> {
    if image.get(0x202..0x206) != Some(b"HdrS") {
        bail!("no x86 boot protocol header (HdrS)");
    }
    let at = u16_at(image, 0x20e)
        .filter(|p| *p != 0)
        .context("no kernel version string")?
        + 0x200;
    let text = image
        .get(at..)
        .context("kernel version string outside the file")?;
    let text = &text[..text
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(text.len())
        .min(256)];
    let release = String::from_utf8_lossy(text)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    if release.is_empty() || !release.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        bail!(
            "kernel version string {:?} names no release",
            String::from_utf8_lossy(text)
        );
    }
    Ok(release)
}

/// The uncompressed ELF vmlinux inside a bzImage, when its payload is xz, zstd or gzip and the
/// ELF has a PVH entry; `None` means booting the bzImage itself.
pub fn vmlinux_of(image: &[u8]) -> Option<Vec<u8>> {
    let setup_sects = match image.get(0x1f1)? {
        0 => 4,
        n => usize::from(*n),
    };
    let offset = (setup_sects + 1) * 512 + u32_at(image, 0x248)?;
    let length = u32_at(image, 0x24c)?;
    let payload = image.get(offset..offset + length)?;
    let mut out = Vec::new();
    if payload.starts_with(b"\xfd7zXZ\0") {
        // The kernel appends the uncompressed size (4 bytes) after the xz stream.
        let stream = &payload[..payload.len().checked_sub(4)?];
        xz4rust::XzReader::new(std::io::Cursor::new(stream.to_vec()))
            .read_to_end(&mut out)
            .ok()?;
    } else if payload.starts_with(b"\x28\xb5\x2f\xfd") {
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(payload).ok()?;
        decoder.read_to_end(&mut out).ok()?;
    } else if payload.starts_with(b"\x1f\x8b") {
        flate2::read::GzDecoder::new(payload)
            .read_to_end(&mut out)
            .ok()?;
    } else {
        return None;
    }
    elf::has_pvh_entry(&out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::version_key;

    #[test]
    fn specs_parse_and_unknown_series_are_bad_input() {
        assert_eq!(
            Spec::parse("debian:6.12").unwrap().to_string(),
            "debian:6.12"
        );
        assert_eq!(Spec::parse("debian:7").unwrap().to_string(), "debian:7");
        let err = Spec::parse("debian:9").unwrap_err().to_string();
        assert!(err.contains("debian:5.10"), "{err}");
        assert!(Spec::parse("/no/such/vmlinuz").is_err());
    }

    #[test]
    fn every_series_comes_from_a_suite_of_the_private_sources_list() {
        for series in &SERIES {
            assert!(
                crate::apt::SUITES.contains(&series.suite),
                "{}",
                series.suite
            );
        }
    }

    #[test]
    fn newest_package_compares_numbers_as_numbers() {
        let names = [
            "linux-image-6.1.0-9-amd64-unsigned",
            "linux-image-6.1.0-50-amd64-unsigned",
            "linux-image-6.1.0-28-amd64-unsigned",
        ];
        let newest = names.iter().max_by_key(|n| version_key(n)).unwrap();
        assert_eq!(*newest, "linux-image-6.1.0-50-amd64-unsigned");
    }

    #[test]
    fn the_release_comes_from_the_setup_header() {
        let mut image = vec![0u8; 0x400];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let version = b"6.11.0-custom (me@host) #1 SMP\0";
        image[0x300..0x300 + version.len()].copy_from_slice(version);
        assert_eq!(release_of(&image).unwrap(), "6.11.0-custom");
        assert!(release_of(&[0u8; 0x400]).is_err());
        assert!(vmlinux_of(&image).is_none());
    }
}
