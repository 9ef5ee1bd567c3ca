//! The little ELF reading the harness needs (64-bit little-endian only): the interpreter named by
//! an executable's PT_INTERP, and where a file's GNU build-id note lies, to make a second version
//! of the dynamic loader that differs from the first only in its build-id, whether a kernel's
//! vmlinux can be booted directly (its PVH entry note), what lies at a file offset (the address
//! it is loaded at, its section and the symbol covering it) to explain a crash, and what the
//! dynamic section says about binding (`-z now` flags, the symbols called through PLT slots).

use std::path::PathBuf;

use anyhow::{Context, Result};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const DT_NULL: u64 = 0;
const DT_PLTRELSZ: u64 = 2;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_JMPREL: u64 = 23;
const DT_FLAGS: u64 = 30;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DF_BIND_NOW: u64 = 0x8;
const DF_1_NOW: u64 = 0x1;
/// Size of an Elf64_Rela entry and of an Elf64_Sym entry.
const RELA_SIZE: usize = 24;
const SYM_SIZE: usize = 24;
const NT_GNU_BUILD_ID: u32 = 3;
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const SHT_SYMTAB: u64 = 2;
const SHT_NOBITS: u64 = 8;
const SHT_DYNSYM: u64 = 11;
const SHF_ALLOC: u64 = 2;
const SHN_UNDEF: u64 = 0;
/// The size of the 64-bit ELF header.
pub const HEADER_SIZE: u64 = 64;

fn u16_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?).into())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?).into())
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// One program header: its type, where it lies in the file and the address it is loaded at.
struct Segment {
    kind: u32,
    offset: usize,
    vaddr: u64,
    filesz: usize,
}

/// Every program header, or None when `bytes` is not a 64-bit little-endian ELF file.
fn segments(bytes: &[u8]) -> Option<Vec<Segment>> {
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = u64_at(bytes, 0x20)? as usize;
    let phentsize = u16_at(bytes, 0x36)? as usize;
    let phnum = u16_at(bytes, 0x38)? as usize;
    (0..phnum)
        .map(|i| {
            let at = phoff + i * phentsize;
            Some(Segment {
                kind: u32_at(bytes, at)? as u32,
                offset: u64_at(bytes, at + 8)? as usize,
                vaddr: u64_at(bytes, at + 16)?,
                filesz: u64_at(bytes, at + 32)? as usize,
            })
        })
        .collect()
}

/// The path in an executable's PT_INTERP.
pub fn interpreter(executable: &[u8]) -> Result<PathBuf> {
    let segments = segments(executable).context("not a 64-bit little-endian ELF file")?;
    let interp = segments
        .into_iter()
        .find(|segment| segment.kind == PT_INTERP)
        .context("no PT_INTERP: a static executable")?;
    let raw = executable
        .get(interp.offset..interp.offset + interp.filesz)
        .context("PT_INTERP outside the file")?;
    let text = raw.split(|b| *b == 0).next().unwrap_or_default();
    Ok(PathBuf::from(String::from_utf8_lossy(text).into_owned()))
}

/// The byte range of the descriptor of the first note of type `kind` whose owner is `owner`
/// (without its NUL), if any.
fn note(bytes: &[u8], owner: &[u8], kind: u32) -> Option<std::ops::Range<usize>> {
    for segment in segments(bytes)?.into_iter().filter(|s| s.kind == PT_NOTE) {
        let (offset, size) = (segment.offset, segment.filesz);
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

/// The address the byte at file offset `offset` is loaded at, when a PT_LOAD segment holds it.
pub fn vaddr_of_offset(bytes: &[u8], offset: u64) -> Option<u64> {
    let offset = usize::try_from(offset).ok()?;
    segments(bytes)?
        .into_iter()
        .find(|s| s.kind == PT_LOAD && s.offset <= offset && offset < s.offset + s.filesz)
        .map(|s| s.vaddr + (offset - s.offset) as u64)
}

/// The byte range of the program header table in the file.
pub fn program_headers(bytes: &[u8]) -> Option<std::ops::Range<u64>> {
    segments(bytes)?;
    let phoff = u64_at(bytes, 0x20)?;
    Some(phoff..phoff + u16_at(bytes, 0x36)? * u16_at(bytes, 0x38)?)
}

/// One section header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Its name, e.g. `.text`.
    pub name: String,
    /// Its SHT_* type.
    pub kind: u64,
    /// Its SHF_* flags.
    pub flags: u64,
    /// The address it is loaded at (SHF_ALLOC sections).
    pub addr: u64,
    /// Where it lies in the file (meaningless for SHT_NOBITS).
    pub offset: u64,
    /// Its size in memory (and in the file, unless SHT_NOBITS).
    pub size: u64,
    /// The section index of its string table (symbol tables).
    pub link: u64,
}

impl Section {
    /// Whether the section is loaded from the file and holds the address `vaddr`.
    pub fn holds_vaddr(&self, vaddr: u64) -> bool {
        self.flags & SHF_ALLOC != 0
            && self.kind != SHT_NOBITS
            && self.addr <= vaddr
            && vaddr < self.addr + self.size
    }

    /// Whether the section has bytes in the file and they include file offset `offset`.
    pub fn holds_offset(&self, offset: u64) -> bool {
        self.kind != SHT_NOBITS && self.offset <= offset && offset < self.offset + self.size
    }
}

/// Every section header (none when the file has no section header table), or None when `bytes`
/// is not a 64-bit little-endian ELF file.
pub fn sections(bytes: &[u8]) -> Option<Vec<Section>> {
    segments(bytes)?;
    let shoff = u64_at(bytes, 0x28)? as usize;
    let shentsize = u16_at(bytes, 0x3a)? as usize;
    let shnum = u16_at(bytes, 0x3c)? as usize;
    let shstrndx = u16_at(bytes, 0x3e)? as usize;
    if shoff == 0 {
        return Some(Vec::new());
    }
    let raw: Vec<(u64, Section)> = (0..shnum)
        .map(|i| {
            let at = shoff + i * shentsize;
            Some((
                u32_at(bytes, at)?,
                Section {
                    name: String::new(),
                    kind: u32_at(bytes, at + 4)?,
                    flags: u64_at(bytes, at + 8)?,
                    addr: u64_at(bytes, at + 0x10)?,
                    offset: u64_at(bytes, at + 0x18)?,
                    size: u64_at(bytes, at + 0x20)?,
                    link: u32_at(bytes, at + 0x28)?,
                },
            ))
        })
        .collect::<Option<_>>()?;
    let names = raw.get(shstrndx).map(|(_, s)| s.offset as usize);
    Some(
        raw.into_iter()
            .map(|(name, section)| Section {
                name: names
                    .and_then(|table| string_at(bytes, table + name as usize))
                    .unwrap_or_default(),
                ..section
            })
            .collect(),
    )
}

/// The NUL-terminated string at `at`.
fn string_at(bytes: &[u8], at: usize) -> Option<String> {
    let tail = bytes.get(at..)?;
    let text = tail.split(|b| *b == 0).next()?;
    Some(String::from_utf8_lossy(text).into_owned())
}

/// A defined symbol that has a size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Its name, as stored (not demangled).
    pub name: String,
    /// Its address.
    pub value: u64,
    /// Its size in bytes.
    pub size: u64,
}

impl Symbol {
    /// Whether the symbol covers the address `vaddr`.
    pub fn covers(&self, vaddr: u64) -> bool {
        self.value <= vaddr && vaddr < self.value + self.size
    }
}

/// The defined, sized symbols of .dynsym and (when the file still has it) .symtab.
pub fn symbols(bytes: &[u8]) -> Vec<Symbol> {
    let Some(sections) = sections(bytes) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for table in sections
        .iter()
        .filter(|s| s.kind == SHT_DYNSYM || s.kind == SHT_SYMTAB)
    {
        let Some(strings) = sections.get(table.link as usize) else {
            continue;
        };
        for at in (table.offset..table.offset + table.size).step_by(24) {
            let at = at as usize;
            let (Some(name), Some(shndx), Some(value), Some(size)) = (
                u32_at(bytes, at),
                u16_at(bytes, at + 6),
                u64_at(bytes, at + 8),
                u64_at(bytes, at + 16),
            ) else {
                break;
            };
            if shndx == SHN_UNDEF || size == 0 {
                continue;
            }
            let Some(name) = string_at(bytes, strings.offset as usize + name as usize) else {
                continue;
            };
            let symbol = Symbol { name, value, size };
            if !found.contains(&symbol) {
                found.push(symbol);
            }
        }
    }
    found
}

/// The binding flags of an object's dynamic section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DynamicFlags {
    /// DT_FLAGS (0 when absent).
    pub flags: u64,
    /// DT_FLAGS_1 (0 when absent).
    pub flags_1: u64,
}

impl DynamicFlags {
    /// Whether the loader binds every symbol at load time (`-z now`): DF_BIND_NOW in DT_FLAGS or
    /// DF_1_NOW in DT_FLAGS_1. Without either, PLT slots are bound at each function's first call.
    pub fn bind_now(&self) -> bool {
        self.flags & DF_BIND_NOW != 0 || self.flags_1 & DF_1_NOW != 0
    }
}

/// The (tag, value) entries of the dynamic section, up to DT_NULL.
fn dynamic(bytes: &[u8]) -> Result<Vec<(u64, u64)>> {
    let segments = segments(bytes).context("not a 64-bit little-endian ELF file")?;
    let dynamic = segments
        .iter()
        .find(|segment| segment.kind == PT_DYNAMIC)
        .context("no PT_DYNAMIC: not dynamically linked")?;
    let mut entries = Vec::new();
    for at in (dynamic.offset..dynamic.offset + dynamic.filesz).step_by(16) {
        let tag = u64_at(bytes, at).context("PT_DYNAMIC outside the file")?;
        if tag == DT_NULL {
            break;
        }
        entries.push((
            tag,
            u64_at(bytes, at + 8).context("PT_DYNAMIC outside the file")?,
        ));
    }
    Ok(entries)
}

/// The file offset of virtual address `vaddr`, through the PT_LOAD segment that holds it.
fn file_offset(segments: &[Segment], vaddr: u64) -> Option<usize> {
    segments
        .iter()
        .filter(|segment| segment.kind == PT_LOAD)
        .find(|segment| (segment.vaddr..segment.vaddr + segment.filesz as u64).contains(&vaddr))
        .map(|segment| segment.offset + (vaddr - segment.vaddr) as usize)
}

/// The binding flags (DT_FLAGS, DT_FLAGS_1) of a dynamically linked ELF file.
pub fn dynamic_flags(bytes: &[u8]) -> Result<DynamicFlags> {
    let mut flags = DynamicFlags::default();
    for (tag, value) in dynamic(bytes)? {
        match tag {
            DT_FLAGS => flags.flags = value,
            DT_FLAGS_1 => flags.flags_1 = value,
            _ => {}
        }
    }
    Ok(flags)
}

/// The names of the symbols an object calls through PLT slots: those of its PLT relocations
/// (DT_JMPREL, e.g. R_X86_64_JUMP_SLOT), in table order. Calls through the GOT (Rust's default
/// with full RELRO) have none.
pub fn plt_symbols(bytes: &[u8]) -> Result<Vec<String>> {
    let segments = segments(bytes).context("not a 64-bit little-endian ELF file")?;
    let entries = dynamic(bytes)?;
    let value = |wanted| entries.iter().find(|(tag, _)| *tag == wanted).map(|e| e.1);
    let (Some(jmprel), Some(size)) = (value(DT_JMPREL), value(DT_PLTRELSZ)) else {
        return Ok(Vec::new());
    };
    let at = |tag, name| {
        value(tag)
            .and_then(|vaddr| file_offset(&segments, vaddr))
            .with_context(|| format!("no {name} in the file"))
    };
    let (relocs, symtab, strtab) = (
        file_offset(&segments, jmprel).context("DT_JMPREL outside the file")?,
        at(DT_SYMTAB, "DT_SYMTAB")?,
        at(DT_STRTAB, "DT_STRTAB")?,
    );
    (relocs..relocs + size as usize)
        .step_by(RELA_SIZE)
        .filter_map(|rela| {
            let symbol = u64_at(bytes, rela + 8).map(|info| (info >> 32) as usize);
            symbol.filter(|index| *index != 0).map(|index| {
                let name = u32_at(bytes, symtab + index * SYM_SIZE)
                    .context("symbol outside the file")? as usize;
                let raw = bytes
                    .get(strtab + name..)
                    .context("symbol name outside the file")?;
                let name = raw.split(|b| *b == 0).next().unwrap_or_default();
                Ok(String::from_utf8_lossy(name).into_owned())
            })
        })
        .collect()
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

    #[test]
    fn finds_the_exported_functions_and_sections_of_the_victim_library() {
        let lib = crate::embedded::LIB_V1;
        let work = symbols(lib)
            .into_iter()
            .find(|s| s.name == "victim_work")
            .expect("victim_work in .dynsym");
        assert!(work.size > 0);
        let text = sections(lib)
            .unwrap()
            .into_iter()
            .find(|s| s.name == ".text")
            .expect(".text");
        assert!(text.holds_vaddr(work.value));
        // The file offset of victim_work's first byte maps back to its address.
        let offset = text.offset + (work.value - text.addr);
        assert_eq!(vaddr_of_offset(lib, offset), Some(work.value));
        assert!(symbols(b"not an elf file").is_empty());
        assert_eq!(vaddr_of_offset(lib, lib.len() as u64), None);
    }
}
