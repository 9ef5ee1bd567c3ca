//! Python wheels, written by hand in the wheel format (PEP 427: the package, and a `.dist-info`
//! with `METADATA`, `WHEEL` and a `RECORD` of sha256 hashes) and zipped with `python3 -m
//! zipfile`, since building one with pip needs the `wheel` package; the venv they are installed
//! into; and the Python victim that imports the package.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::Digest;

use super::{builder, put, NAME};
use crate::apt;

/// The Python package's name (its directory in the wheel and in site-packages).
pub const MODULE: &str = "clobber_victim";
/// The package's code: it loads the library beside it with ctypes.
const MODULE_INIT: &str = include_str!("../../../victims/python/clobber_victim/__init__.py");
/// The file name of the Python victim, beside the scenario's other support files.
pub const PYTHON_VICTIM: &str = "victim.py";

/// The Python victim program (`victims/python/victim.py`).
pub fn python_victim() -> Vec<u8> {
    include_bytes!("../../../victims/python/victim.py").to_vec()
}

/// A wheel of `tree` (which holds the library in the package's directory) for `version`: the
/// package's code and a `.dist-info` are added, every file is listed with its sha256 in
/// `RECORD`, and `python3 -m zipfile` zips it.
pub fn build(tree: &Path, packages: &Path, version: u32) -> Result<PathBuf> {
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
        builder("python3", packages)
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

/// Makes a fresh venv at `root` with `python3 -m venv` (its temporary files in `packages/tmp`)
/// and returns its site-packages.
pub fn venv(root: &Path, packages: &Path) -> Result<PathBuf> {
    if root.exists() {
        fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    }
    apt::run(builder("python3", packages).args(["-m", "venv"]).arg(root))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
