//! The little ELF reading the harness needs (64-bit little-endian only): the interpreter named by
//! an executable's PT_INTERP, and where a file's GNU build-id note lies, to make a second version
//! of the dynamic loader that differs from the first only in its build-id, and whether a kernel's
//! vmlinux can be booted directly (its PVH entry note).

use std::path::PathBuf;

use anyhow::{Context, Result};

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

fn u16_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?).into())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?).into())
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// (type, file offset, file size) of every program header.
fn segments(bytes: &[u8]) -> Option<Vec<(u32, usize, usize)>> {
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = u64_at(bytes, 0x20)? as usize;
    let phentsize = u16_at(bytes, 0x36)? as usize;
    let phnum = u16_at(bytes, 0x38)? as usize;
    (0..phnum)
        .map(|i| {
            let at = phoff + i * phentsize;
            Some((
                u32_at(bytes, at)? as u32,
                u64_at(bytes, at + 8)? as usize,
                u64_at(bytes, at + 32)? as usize,
            ))
        })
        .collect()
}

/// The path in an executable's PT_INTERP.
pub fn interpreter(executable: &[u8]) -> Result<PathBuf> {
    let segments = segments(executable).context("not a 64-bit little-endian ELF file")?;
    let (_, offset, size) = segments
        .into_iter()
        .find(|(kind, _, _)| *kind == PT_INTERP)
        .context("no PT_INTERP: a static executable")?;
    let raw = executable
        .get(offset..offset + size)
        .context("PT_INTERP outside the file")?;
    let text = raw.split(|b| *b == 0).next().unwrap_or_default();
    Ok(PathBuf::from(String::from_utf8_lossy(text).into_owned()))
}

/// The byte range of the descriptor of the first note of type `kind` whose owner is `owner`
/// (without its NUL), if any.
fn note(bytes: &[u8], owner: &[u8], kind: u32) -> Option<std::ops::Range<usize>> {
    for (_, offset, size) in segments(bytes)?
        .into_iter()
        .filter(|(k, _, _)| *k == PT_NOTE)
    {
        let mut at = offset;
        while at + 12 <= offset + size {
            let namesz = u32_at(bytes, at)? as usize;
            let descsz = u32_at(bytes, at + 4)? as usize;
            let this_kind = u32_at(bytes, at + 8)? as u32;
            let name = bytes.get(at + 12..at + 12 + namesz)?;
            let desc = at + 12 + namesz.div_ceil(4) * 4;
            if this_kind == kind
                && name.strip_suffix(b"\0").unwrap_or(name) == owner
                && desc + descsz <= bytes.len()
            {
                return Some(desc..desc + descsz);
            }
            at = desc + descsz.div_ceil(4) * 4;
        }
    }
    None
}

/// The byte range of the GNU build-id in an ELF file.
pub fn build_id(bytes: &[u8]) -> Result<std::ops::Range<usize>> {
    segments(bytes).context("not a 64-bit little-endian ELF file")?;
    note(bytes, b"GNU", NT_GNU_BUILD_ID).context("no GNU build-id note")
}

/// Whether an ELF kernel image has the Xen PVH entry point note, which qemu needs to boot it
/// directly (`-kernel vmlinux`).
pub fn has_pvh_entry(bytes: &[u8]) -> bool {
    note(bytes, b"Xen", XEN_ELFNOTE_PHYS32_ENTRY).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_interpreter_and_build_id_of_this_test_binary() {
        let me = std::fs::read("/proc/self/exe").unwrap();
        let interp = interpreter(&me).unwrap();
        assert!(interp.to_string_lossy().contains("ld-linux"), "{interp:?}");
        let loader = std::fs::read(&interp).unwrap();
        let range = build_id(&loader).unwrap();
        assert!(range.len() >= 16);
    }
}
