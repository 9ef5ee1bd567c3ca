//! The kernel modules a `--fs` guest needs for its disk: the virtio PCI transport, virtio-blk and
//! the filesystem, each with what it depends on, taken from the kernel's own modules tree in the
//! cache. Debian ships no modules.dep, so the dependencies come from each module's `.modinfo`
//! section (`depends=a,b`), and the modules are returned in an order that loads dependencies
//! first. Compressed modules (`.ko.xz`) are decompressed here, so the guest only has to hand the
//! bytes to init_module(2). A module absent from the tree is taken to be built into the kernel.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::filesystem::FsKind;

/// The modules to load for a disk of `kind`, roots of the dependency walk, in load order.
fn roots(kind: FsKind) -> &'static [&'static str] {
    match kind {
        // crc32c is asked for through the crypto API (request_module, which a guest without
        // modprobe cannot answer), so its generic driver is loaded beforehand.
        FsKind::Ext4 => &["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"],
        FsKind::Xfs => &["virtio_pci", "virtio_blk", "crc32c_generic", "xfs"],
        FsKind::Btrfs => &["virtio_pci", "virtio_blk", "crc32c_generic", "btrfs"],
        FsKind::Tmpfs | FsKind::Overlay => &[],
    }
}

/// A module to load: its name and its (uncompressed) ELF bytes.
pub struct Module {
    /// The module's name, e.g. `virtio_blk`.
    pub name: String,
    /// The ELF object to hand to init_module(2).
    pub image: Vec<u8>,
}

/// The modules of `tree` (a `lib/modules/<release>` directory) that a disk of `kind` needs, in
/// load order.
pub fn needed(tree: &Path, kind: FsKind) -> Result<Vec<Module>> {
    let mut index = BTreeMap::new();
    index_tree(&tree.join("kernel"), &mut index)?;
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for root in roots(kind) {
        if index.contains_key(*root) {
            visit(root, &index, &mut seen, &mut order, &mut Vec::new())?;
        }
    }
    Ok(order)
}

/// A module's name from its file name: `crc32c-intel.ko.xz` is `crc32c_intel`.
fn module_name(file: &str) -> Option<String> {
    let stem = file
        .strip_suffix(".ko")
        .or_else(|| file.strip_suffix(".ko.xz"))?;
    Some(stem.replace('-', "_"))
}

fn index_tree(dir: &Path, index: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            index_tree(&path, index)?;
        } else if let Some(name) = module_name(&entry.file_name().to_string_lossy()) {
            index.insert(name, path);
        }
    }
    Ok(())
}

/// Adds `name` after its dependencies to `order`; `path` is the chain that led here.
fn visit(
    name: &str,
    index: &BTreeMap<String, PathBuf>,
    seen: &mut HashSet<String>,
    order: &mut Vec<Module>,
    path: &mut Vec<String>,
) -> Result<()> {
    if seen.contains(name) {
        return Ok(());
    }
    if path.iter().any(|p| p == name) {
        bail!(
            "modules depend on each other in a cycle: {} -> {name}",
            path.join(" -> ")
        );
    }
    let file = index.get(name).with_context(|| {
        format!(
            "module {name} (needed by {}) is not in the modules tree",
            path.last().map_or("the disk", String::as_str)
        )
    })?;
    let image = read_module(file)?;
    let depends = depends(&image).with_context(|| format!("reading {}", file.display()))?;
    path.push(name.to_string());
    for dependency in &depends {
        visit(dependency, index, seen, order, path)?;
    }
    path.pop();
    seen.insert(name.to_string());
    order.push(Module {
        name: name.to_string(),
        image,
    });
    Ok(())
}

/// The module's ELF bytes, decompressed when it is a `.ko.xz`.
fn read_module(file: &Path) -> Result<Vec<u8>> {
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    if file.extension().is_some_and(|e| e == "xz") {
        let mut image = Vec::new();
        xz4rust::XzReader::new(std::io::Cursor::new(bytes))
            .read_to_end(&mut image)
            .with_context(|| format!("decompressing {}", file.display()))?;
        return Ok(image);
    }
    Ok(bytes)
}

/// The `depends=` list of a module's `.modinfo` section.
fn depends(image: &[u8]) -> Result<Vec<String>> {
    let modinfo = section(image, ".modinfo")?.context("no .modinfo section")?;
    Ok(modinfo
        .split(|b| *b == 0)
        .filter_map(|field| field.strip_prefix(b"depends="))
        .flat_map(|list| list.split(|b| *b == b','))
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).replace('-', "_"))
        .collect())
}

/// The contents of the section called `wanted` of a little-endian ELF64 object.
fn section<'a>(image: &'a [u8], wanted: &str) -> Result<Option<&'a [u8]>> {
    let u16_at = |at: usize| -> Option<usize> {
        Some(u16::from_le_bytes(image.get(at..at + 2)?.try_into().ok()?).into())
    };
    let u32_at = |at: usize| -> Option<usize> {
        usize::try_from(u32::from_le_bytes(image.get(at..at + 4)?.try_into().ok()?)).ok()
    };
    let u64_at = |at: usize| -> Option<usize> {
        usize::try_from(u64::from_le_bytes(image.get(at..at + 8)?.try_into().ok()?)).ok()
    };
    if image.get(..6) != Some(b"\x7fELF\x02\x01") {
        bail!("not a little-endian ELF64 object");
    }
    let parse = || -> Option<Option<&'a [u8]>> {
        let (shoff, shentsize) = (u64_at(0x28)?, u16_at(0x3a)?);
        let (shnum, shstrndx) = (u16_at(0x3c)?, u16_at(0x3e)?);
        let header = |i: usize| shoff + i * shentsize;
        let names_at = u64_at(header(shstrndx) + 0x18)?;
        for i in 0..shnum {
            let name_at = names_at + u32_at(header(i))?;
            let name = image.get(name_at..)?.split(|b| *b == 0).next()?;
            if name == wanted.as_bytes() {
                let (offset, size) = (u64_at(header(i) + 0x18)?, u64_at(header(i) + 0x20)?);
                return Some(Some(image.get(offset..offset.checked_add(size)?)?));
            }
        }
        Some(None)
    };
    parse().context("truncated ELF section headers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_come_from_file_names() {
        assert_eq!(module_name("ext4.ko").as_deref(), Some("ext4"));
        assert_eq!(
            module_name("crc32c-intel.ko.xz").as_deref(),
            Some("crc32c_intel")
        );
        assert_eq!(module_name("modules.order"), None);
    }

    #[test]
    fn depends_are_read_from_the_modinfo_section() {
        // A minimal ELF64 with sections: null, .shstrtab, .modinfo.
        let names = b"\0.shstrtab\0.modinfo\0";
        let modinfo = b"license=GPL\0depends=jbd2,mbcache,crc16\0vermagic=6.1\0";
        let mut image = vec![0u8; 64];
        image[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let names_at = image.len();
        image.extend_from_slice(names);
        let modinfo_at = image.len();
        image.extend_from_slice(modinfo);
        let shoff = image.len();
        let mut header = |name: u32, offset: usize, size: usize| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(offset as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            image.extend_from_slice(&h);
        };
        header(0, 0, 0);
        header(1, names_at, names.len());
        header(11, modinfo_at, modinfo.len());
        image[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        image[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        image[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        image[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(depends(&image).unwrap(), ["jbd2", "mbcache", "crc16"]);
    }
}
