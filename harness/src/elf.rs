//! The little ELF reading the harness needs (64-bit little-endian only): the interpreter named by
//! an executable's PT_INTERP, and where a file's GNU build-id note lies, to make a second version
//! of the dynamic loader that differs from the first only in its build-id.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;

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

/// The byte range of the GNU build-id in an ELF file.
pub fn build_id(bytes: &[u8]) -> Result<std::ops::Range<usize>> {
    let segments = segments(bytes).context("not a 64-bit little-endian ELF file")?;
    for (_, offset, size) in segments.into_iter().filter(|(k, _, _)| *k == PT_NOTE) {
        let mut note = offset;
        while note + 12 <= offset + size {
            let namesz = u32_at(bytes, note).context("truncated note")? as usize;
            let descsz = u32_at(bytes, note + 4).context("truncated note")? as usize;
            let kind = u32_at(bytes, note + 8).context("truncated note")? as u32;
            let desc = note + 12 + namesz.div_ceil(4) * 4;
            if kind == NT_GNU_BUILD_ID && desc + descsz <= bytes.len() {
                return Ok(desc..desc + descsz);
            }
            note = desc + descsz.div_ceil(4) * 4;
        }
    }
    bail!("no GNU build-id note")
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
