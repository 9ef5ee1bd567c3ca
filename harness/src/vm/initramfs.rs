//! The guest's initramfs: a newc cpio archive (gzip-compressed) with the harness itself as /init,
//! its dynamic loader and libraries, the real tools the tool-* scenarios run (with theirs), the
//! host's /etc/os-release (the guest's userland is the host's), the library releases of the
//! host's cache, /dev/console, and the guest's configuration. A `--fs` guest's initramfs is that shared archive followed by a second one with
//! its kernel's disk and filesystem modules, and a bench guest's one followed by the C floor and
//! its libraries (concatenated archives make one initramfs).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use cpio::newc::Builder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::elf;
use crate::release;
use crate::tool;
use crate::vm::guest::{Config, CACHE_DIR, CONFIG_PATH, GUEST_PATH, MODULES_DIR};
use crate::vm::modules::Module;

/// Tools the scenarios may run; those found on the host go into the guest.
const TOOLS: &[&str] = &[
    "cp", "install", "mv", "rsync", "dd", "sh", "cat", "dash", "sleep",
];

/// Builds the initramfs for `config` at `out`.
pub fn build(config: &Config, out: &Path) -> Result<()> {
    let harness = std::env::current_exe().context("finding the harness binary")?;
    // guest path -> host path
    let mut files: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    add_with_libraries(&mut files, &harness, Path::new("/init"))?;
    for name in TOOLS {
        if let Some(path) = tool::find(name) {
            let real = fs::canonicalize(&path)?;
            add_with_libraries(&mut files, &real, &Path::new(GUEST_PATH).join(name))?;
        }
    }
    // The library releases of the host's cache, where the guest's cache is.
    for (relative, host) in release::cached_files()? {
        files.insert(Path::new(CACHE_DIR).join("clobber").join(relative), host);
    }
    if Path::new("/etc/os-release").exists() {
        files.insert(
            "/etc/os-release".into(),
            fs::canonicalize("/etc/os-release")?,
        );
    }

    let file = fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut archive = Archive {
        out: GzEncoder::new(std::io::BufWriter::new(file), Compression::fast()),
        ino: 0,
    };
    let mut dirs: Vec<PathBuf> = ["/dev", "/proc", "/sys", "/tmp", "/clobber"]
        .iter()
        .map(PathBuf::from)
        .collect();
    for guest in files.keys() {
        dirs.extend(guest.ancestors().skip(1).map(Path::to_path_buf));
    }
    dirs.retain(|d| d != Path::new("/"));
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        archive.entry(dir, 0o040_755, &[], (0, 0))?;
    }
    archive.entry(Path::new("/dev/console"), 0o020_600, &[], (5, 1))?;
    for (guest, host) in &files {
        let data = fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        archive.entry(guest, 0o100_755, &data, (0, 0))?;
    }
    let config = serde_json::to_vec(config)?;
    archive.entry(Path::new(CONFIG_PATH), 0o100_644, &config, (0, 0))?;
    let out_gz = cpio::newc::trailer(archive.out)?;
    out_gz.finish()?.flush()?;
    Ok(())
}

/// Writes to `out` the initramfs `shared` followed by an archive holding `modules` in
/// [`MODULES_DIR`], named so that sorting the names gives their load order.
pub fn with_modules(shared: &Path, modules: &[Module], out: &Path) -> Result<()> {
    let files: Vec<(PathBuf, u32, &[u8])> = modules
        .iter()
        .enumerate()
        .map(|(i, module)| {
            let path = Path::new(MODULES_DIR).join(format!("{i:03}-{}.ko", module.name));
            (path, 0o100_644, module.image.as_slice())
        })
        .collect();
    append(shared, &[PathBuf::from(MODULES_DIR)], &files, out)
}

/// Writes to `out` the initramfs `shared` followed by an archive holding `files` (guest path,
/// host path) and the loader and libraries they need.
pub fn with_files(shared: &Path, files: &[(PathBuf, PathBuf)], out: &Path) -> Result<()> {
    let mut all: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for (guest, host) in files {
        add_with_libraries(&mut all, host, guest)?;
    }
    let data = all
        .iter()
        .map(|(guest, host)| {
            let bytes = fs::read(host).with_context(|| format!("reading {}", host.display()))?;
            Ok((guest.clone(), bytes))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut dirs: Vec<PathBuf> = all
        .keys()
        .flat_map(|guest| guest.ancestors().skip(1).map(Path::to_path_buf))
        .filter(|dir| dir != Path::new("/"))
        .collect();
    dirs.sort();
    dirs.dedup();
    let files: Vec<(PathBuf, u32, &[u8])> = data
        .iter()
        .map(|(guest, bytes)| (guest.clone(), 0o100_755, bytes.as_slice()))
        .collect();
    append(shared, &dirs, &files, out)
}

/// Writes to `out` the initramfs `shared` followed by an archive of `dirs` and `files` (path,
/// mode, contents): concatenated archives make one initramfs, the later entries winning.
fn append(
    shared: &Path,
    dirs: &[PathBuf],
    files: &[(PathBuf, u32, &[u8])],
    out: &Path,
) -> Result<()> {
    let mut bytes = fs::read(shared).with_context(|| format!("reading {}", shared.display()))?;
    // The kernel skips the zeros between archives; each archive starts 4-aligned.
    bytes.resize(bytes.len().next_multiple_of(4), 0);
    let mut archive = Archive {
        out: GzEncoder::new(bytes, Compression::fast()),
        ino: 1_000_000,
    };
    for dir in dirs {
        archive.entry(dir, 0o040_755, &[], (0, 0))?;
    }
    for (path, mode, data) in files {
        archive.entry(path, *mode, data, (0, 0))?;
    }
    let bytes = cpio::newc::trailer(archive.out)?.finish()?;
    fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))
}

struct Archive<W: Write> {
    out: W,
    ino: u32,
}

impl<W: Write> Archive<W> {
    fn entry(&mut self, path: &Path, mode: u32, data: &[u8], rdev: (u32, u32)) -> Result<()> {
        self.ino += 1;
        let name = path.to_string_lossy();
        let size = u32::try_from(data.len()).context("file too large for cpio")?;
        let mut writer = Builder::new(name.trim_start_matches('/'))
            .ino(self.ino)
            .mode(mode)
            .nlink(1)
            .rdev_major(rdev.0)
            .rdev_minor(rdev.1)
            .write(&mut self.out, size);
        writer.write_all(data)?;
        writer.finish()?;
        Ok(())
    }
}

/// Adds `host` at `guest` and the loader and libraries it needs at their own paths.
fn add_with_libraries(
    files: &mut BTreeMap<PathBuf, PathBuf>,
    host: &Path,
    guest: &Path,
) -> Result<()> {
    files.insert(guest.to_path_buf(), host.to_path_buf());
    let head = fs::read(host).with_context(|| format!("reading {}", host.display()))?;
    let Ok(loader) = elf::interpreter(&head) else {
        return Ok(()); // static (or a script): nothing else to carry
    };
    for library in libraries(&loader, host)? {
        let real = fs::canonicalize(&library)
            .with_context(|| format!("resolving {}", library.display()))?;
        files.insert(library, real);
    }
    let real = fs::canonicalize(&loader)?;
    files.insert(loader, real);
    Ok(())
}

/// The libraries `LOADER --list BINARY` says the binary loads.
fn libraries(loader: &Path, binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new(loader)
        .arg("--list")
        .arg(binary)
        .output()
        .with_context(|| format!("running {} --list", loader.display()))?;
    if !out.status.success() {
        bail!(
            "{} --list {} failed: {}",
            loader.display(),
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_list(&String::from_utf8_lossy(&out.stdout)))
}

/// Absolute paths in `ld.so --list` output: `libc.so.6 => /lib/.../libc.so.6 (0x...)` and
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no path.
fn parse_list(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=> ").map_or(line, |(_, right)| right);
            let path = path.split(" (").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_lists_are_parsed_into_paths() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_list(text),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }
}
