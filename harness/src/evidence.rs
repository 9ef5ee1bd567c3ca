//! Evidence of a victim's death: the kernel's own line about it (read from /dev/kmsg), that line
//! parsed into kind, ip and file + offset, the victim's mappings (to find the file offset on kernels
//! that do not print it), what the old and the new version of the target file hold at that offset,
//! and the typed summary the results file carries.
//!
//! The kernel lines (x86-64), as the kernel sources print them:
//! - page faults, arch/x86/mm/fault.c `show_signal_msg()`:
//!   `%s[%d]: segfault at %lx ip %px sp %px error %lx`, then `print_vma_addr(" in ", ip)`, then on
//!   newer kernels (not 5.10) ` likely on CPU %d (core %d, socket %d)`.
//! - traps, arch/x86/kernel/traps.c `show_signal()` (pr_fmt `traps: `):
//!   `traps: %s[%d] %s%s ip:%lx sp:%lx error:%lx`, then `print_vma_addr(" in ", ip)`; the middle
//!   is `trap invalid opcode`, `trap divide error`, … from `do_trap()`, or `general protection
//!   fault` for a #GP in user mode.
//! - `print_vma_addr()`, mm/memory.c:
//!   - 5.10 and 6.1: `%s%s[%lx+%lx]` with `kbasename(file_path())` (so `libvictim.so (deleted)`
//!     once the file is unlinked) and the vma's start + length, found with `find_vma()`: for an ip
//!     in no mapping it names the next mapping above it;
//!   - 6.12 and later: `%s%pD[%lx,%lx+%lx]` with the dentry name, the ip's offset in the file, and
//!     the vma's start + length, found with `vma_lookup()`: nothing when the ip is in no file
//!     mapping;
//!   - both print nothing when the mmap lock cannot be taken at once.
//! - the OOM killer, mm/oom_kill.c `__oom_kill_process()`: `%s: Killed process %d (%s) total-vm:…`
//!   after `Out of memory` or `Memory cgroup out of memory`.
//!
//! The kernel rate-limits these lines (`printk_ratelimit()`, `debug.exception-trace`), so a missing
//! line means "no kernel line", never an error.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use serde::{Deserialize, Serialize};

use crate::elf;
use crate::outcome::signal_name;

/// The largest record /dev/kmsg hands out (the kernel's CONSOLE_EXT_LOG_MAX).
const RECORD_MAX: usize = 8192;

/// The kernel log as /dev/kmsg serves it, from the moment it was opened on.
pub struct KernelLog {
    file: File,
}

impl KernelLog {
    /// Opens /dev/kmsg, non-blocking, at its end, so that only records written afterwards are
    /// read. The error is a short reason when the log cannot be read.
    pub fn open() -> Result<KernelLog, String> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ENOENT) => "no /dev/kmsg".to_string(),
                Some(libc::EPERM | libc::EACCES) => {
                    let restrict = fs::read_to_string("/proc/sys/kernel/dmesg_restrict")
                        .map(|value| value.trim().to_string())
                        .unwrap_or_else(|_| "?".into());
                    format!(
                        "the kernel log is not readable by this user (kernel.dmesg_restrict={restrict})"
                    )
                }
                _ => format!("cannot open /dev/kmsg: {err}"),
            })?;
        file.seek(SeekFrom::End(0))
            .map_err(|err| format!("cannot seek to the end of /dev/kmsg: {err}"))?;
        Ok(KernelLog { file })
    }

    /// The message text of every record written since the last call (or since `open`), oldest
    /// first. Never blocks; records the kernel overwrote before they were read are skipped.
    pub fn read_new(&mut self) -> Vec<String> {
        let mut records = Vec::new();
        let mut buffer = vec![0; RECORD_MAX];
        loop {
            match self.file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => records.extend(message(&buffer[..n])),
                // EPIPE: records were overwritten, the next read goes on with the oldest left.
                Err(err) if matches!(err.raw_os_error(), Some(libc::EPIPE | libc::EINTR)) => {}
                // EAGAIN: nothing more for now; anything else: nothing more to be had.
                Err(_) => break,
            }
        }
        records
    }

    /// The records about process `pid`: `NAME[PID]: segfault at …`, `traps: NAME[PID] …`, the OOM
    /// killer's `Killed process PID (NAME)` and `reaped process PID`, `NAME/PID: potentially
    /// unexpected fatal signal`, and `pid=PID` fields (OOM summary, audit). The pid matches
    /// exactly (12 does not match 123).
    pub fn lines_for(records: &[String], pid: u32) -> Vec<String> {
        records
            .iter()
            .filter(|record| mentions(record, pid))
            .cloned()
            .collect()
    }
}

/// The text of one /dev/kmsg record: what follows the `;` of its header up to the end of its
/// first line (the dictionary lines after it are dropped), with the kernel's `\xNN` escapes undone.
fn message(record: &[u8]) -> Option<String> {
    let line = record.split(|b| *b == b'\n').next()?;
    let start = line.iter().position(|b| *b == b';')? + 1;
    let text = &line[start..];
    let mut bytes = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let escaped = text
            .get(i..i + 4)
            .filter(|e| e.starts_with(b"\\x"))
            .and_then(|e| std::str::from_utf8(&e[2..]).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                bytes.push(byte);
                i += 4;
            }
            None => {
                bytes.push(text[i]);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The decimal number `text` starts with.
fn number_at(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// The process a `NAME[PID]: …` or `NAME[PID] …` line is about (the first `[digits]` followed by
/// `:` or a space, so a console timestamp `[ 12.3]` is passed over), and the text after it.
fn subject(line: &str) -> Option<(u32, &str)> {
    line.match_indices('[').find_map(|(at, _)| {
        let inner = &line[at + 1..];
        let pid = number_at(inner)?;
        let after = inner.trim_start_matches(|c: char| c.is_ascii_digit());
        let after = after.strip_prefix(']')?;
        let rest = after
            .strip_prefix(": ")
            .or_else(|| after.strip_prefix(' '))?;
        Some((pid, rest))
    })
}

/// Whether a kernel line is about process `pid` (see [`KernelLog::lines_for`]).
fn mentions(line: &str, pid: u32) -> bool {
    let numbered = |key: &str| {
        line.match_indices(key).any(|(at, _)| {
            let word_start = line[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            word_start && number_at(&line[at + key.len()..]) == Some(pid)
        })
    };
    subject(line).is_some_and(|(subject, _)| subject == pid)
        || numbered("Killed process ")
        || numbered("reaped process ")
        || numbered("pid=")
        || line.contains(&format!("/{pid}: potentially unexpected fatal signal"))
}

/// What a kernel line says killed the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A page fault the process could not be given a page for: SIGSEGV.
    Segfault,
    /// `trap invalid opcode`: SIGILL.
    InvalidOpcode,
    /// `general protection fault`: SIGSEGV.
    GeneralProtection,
    /// The OOM killer: SIGKILL.
    OomKill,
    /// Another trap (`divide error`, `int3`, …).
    Other,
}

/// A kernel fault line, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFault {
    /// What happened.
    pub kind: FaultKind,
    /// The faulting data address (segfaults only).
    pub addr: Option<u64>,
    /// The instruction pointer.
    pub ip: Option<u64>,
    /// The file the kernel named for the ip, as printed: a base name, which on 5.10 and 6.1 ends
    /// in ` (deleted)` for an unlinked file. None when it named none.
    pub file: Option<String>,
    /// The ip's offset in that file (printed from 6.12 on).
    pub file_offset: Option<u64>,
    /// The start of the mapping the kernel named.
    pub vma_start: Option<u64>,
    /// The length of that mapping.
    pub vma_len: Option<u64>,
}

/// The number written in hex digits (no prefix) at the start of `text`.
fn hex_at(text: &str) -> Option<u64> {
    let end = text
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(text.len());
    u64::from_str_radix(&text[..end], 16).ok()
}

/// `text` read as hex digits, all of it.
fn hex(text: &str) -> Option<u64> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// The mapping `print_vma_addr()` printed: `NAME[START+LEN]` (5.10, 6.1) or
/// `NAME[OFFSET,START+LEN]` (6.12 on), at the start of `text`; the name may hold spaces and
/// brackets, so the first bracket group that reads as a mapping ends it.
fn printed_vma(text: &str) -> Option<(String, Option<u64>, u64, u64)> {
    text.match_indices('[').find_map(|(at, _)| {
        let inner = &text[at + 1..];
        let inner = &inner[..inner.find(']')?];
        let (offset, range) = match inner.split_once(',') {
            Some((offset, range)) => (Some(hex(offset)?), range),
            None => (None, inner),
        };
        let (start, len) = range.split_once('+')?;
        Some((text[..at].to_string(), offset, hex(start)?, hex(len)?))
    })
}

/// Parses a kernel line about a fatal fault (see the module documentation for the formats):
/// None for any other line.
pub fn parse_fault(line: &str) -> Option<KernelFault> {
    let bare = |kind| KernelFault {
        kind,
        addr: None,
        ip: None,
        file: None,
        file_offset: None,
        vma_start: None,
        vma_len: None,
    };
    if line.contains("Killed process ") {
        return Some(bare(FaultKind::OomKill));
    }
    let (_, rest) = subject(line)?;
    let (kind, ip_key) = if rest.starts_with("segfault at ") {
        (FaultKind::Segfault, " ip ")
    } else if rest.starts_with("trap invalid opcode ") {
        (FaultKind::InvalidOpcode, " ip:")
    } else if rest.starts_with("general protection fault") {
        (FaultKind::GeneralProtection, " ip:")
    } else if rest.starts_with("trap ") {
        (FaultKind::Other, " ip:")
    } else {
        return None;
    };
    let mut fault = bare(kind);
    if kind == FaultKind::Segfault {
        fault.addr = hex_at(&rest["segfault at ".len()..]);
    }
    let Some(ip_at) = rest.find(ip_key) else {
        return Some(fault);
    };
    let tail = &rest[ip_at + ip_key.len()..];
    fault.ip = hex_at(tail);
    if let Some((name, offset, start, len)) = tail
        .match_indices(" in ")
        .find_map(|(at, _)| printed_vma(&tail[at + " in ".len()..]))
    {
        fault.file = Some(name).filter(|name| !name.is_empty());
        fault.file_offset = offset;
        fault.vma_start = Some(start);
        fault.vma_len = Some(len);
    }
    Some(fault)
}

/// One line of /proc/PID/maps that names something (a file, or `[heap]`, `[stack]`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The first address.
    pub start: u64,
    /// The address after the last.
    pub end: u64,
    /// The file offset mapped at `start`.
    pub offset: u64,
    /// The inode of the mapped file.
    pub inode: u64,
    /// The path as the kernel shows it: it may hold spaces and end in ` (deleted)`.
    pub path: String,
}

/// The mappings of a /proc/PID/maps text that name something; anonymous ones are left out.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut rest = line;
            let mut field = || {
                let trimmed = rest.trim_start();
                let end = trimmed.find(' ').unwrap_or(trimmed.len());
                rest = &trimmed[end..];
                &trimmed[..end]
            };
            let (start, end) = field().split_once('-')?;
            let (start, end) = (hex(start)?, hex(end)?);
            let _perms = field();
            let offset = hex(field())?;
            let _device = field();
            let inode = field().parse().ok()?;
            // The path is the rest after the padding, spaces and all.
            let path = rest.trim_start();
            (!path.is_empty() && start < end).then(|| Mapping {
                start,
                end,
                offset,
                inode,
                path: path.to_string(),
            })
        })
        .collect()
}

/// The path of the mapping that holds address `ip` and the file offset `ip` stands for.
pub fn locate(maps: &[Mapping], ip: u64) -> Option<(String, u64)> {
    maps.iter()
        .find(|m| m.start <= ip && ip < m.end)
        .map(|m| (m.path.clone(), ip - m.start + m.offset))
}

/// The base name of a path from maps or a kernel line, without a ` (deleted)` suffix.
fn file_name(path: &str) -> &str {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    path.rsplit('/').next().unwrap_or(path)
}

/// What an ELF file holds at a file offset: the symbol covering it (`` `name`+0x12 ``), else the
/// section (`.rodata bytes`), else a part of the file; Err(its length) when the file ends before.
fn describe(bytes: &[u8], offset: u64) -> Result<String, u64> {
    let len = bytes.len() as u64;
    if offset >= len {
        return Err(len);
    }
    let Some(sections) = elf::sections(bytes) else {
        return Ok("bytes of a file that is not a 64-bit ELF file".into());
    };
    if let Some(vaddr) = elf::vaddr_of_offset(bytes, offset) {
        // The smallest symbols covering it; functions the compiler merged (same address and
        // size) are all named, e.g. "`victim_late` = `victim_version`".
        let covering: Vec<elf::Symbol> = elf::symbols(bytes)
            .into_iter()
            .filter(|symbol| symbol.covers(vaddr))
            .collect();
        let smallest = covering.iter().map(|symbol| symbol.size).min();
        let mut names: Vec<&elf::Symbol> = covering
            .iter()
            .filter(|symbol| Some(symbol.size) == smallest)
            .collect();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        names.dedup_by(|a, b| a.name == b.name);
        if let Some(first) = names.first() {
            let named: Vec<String> = names.iter().map(|s| format!("`{}`", s.name)).collect();
            let named = named.join(" = ");
            return Ok(match vaddr - first.value {
                0 => named,
                delta if names.len() == 1 => format!("{named}+{delta:#x}"),
                delta => format!("({named})+{delta:#x}"),
            });
        }
        if let Some(section) = sections.iter().find(|s| s.holds_vaddr(vaddr)) {
            return Ok(format!("{} bytes", section.name));
        }
    } else if let Some(section) = sections.iter().find(|s| s.holds_offset(offset)) {
        return Ok(format!("{} bytes (not loaded)", section.name));
    }
    Ok(if offset < elf::HEADER_SIZE {
        "the ELF header".into()
    } else if elf::program_headers(bytes).is_some_and(|range| range.contains(&offset)) {
        "the program headers".into()
    } else {
        "bytes outside any section".into()
    })
}

/// What the old (v1) and the new (v2) version of a library have at file offset `offset`, e.g.
/// "v1 had `victim_work`+0x12 there, v2 has .rodata bytes", from their PT_LOAD segments, symbols
/// (.dynsym, and .symtab when present) and section headers.
pub fn explain(offset: u64, old: &[u8], new: &[u8]) -> String {
    const PAST: &str = "(the page was past the new end of file)";
    let at = offset as usize;
    let (old_bytes, new_bytes) = (
        old.get(at..at.saturating_add(16)),
        new.get(at..at.saturating_add(16)),
    );
    let same = old_bytes.is_some() && old_bytes == new_bytes;
    match (describe(old, offset), describe(new, offset)) {
        (Ok(had), Ok(has)) if same => {
            format!("v1 had {had} there, v2 has {has} (the same bytes)")
        }
        (Ok(had), Ok(has)) => format!("v1 had {had} there, v2 has {has}"),
        (Ok(had), Err(len)) => {
            format!("v1 had {had} there, v2 ends at {len:#x}, before it {PAST}")
        }
        (Err(len), Ok(has)) => format!("v1 ends at {len:#x}, before it, v2 has {has} there"),
        (Err(old_len), Err(new_len)) => {
            format!("v1 ends at {old_len:#x} and v2 at {new_len:#x}, both before it {PAST}")
        }
    }
}

/// What is known about one victim's death, as the results file carries it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// The signal that killed it, e.g. `SIGSEGV`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// The kernel's own line about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_line: Option<String>,
    /// Where its ip was: `file+0xoffset` (e.g. `libvictim.so+0x1062a`), just `file` when the offset
    /// is unknown, or `0x… (no file mapping)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// What the old and the new version of the target have there (see [`explain`]), and how the
    /// place was found when the kernel line did not name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// Where a fault's ip lay.
struct Place {
    /// The file's base name.
    name: String,
    /// The ip's offset in the file, when known.
    offset: Option<u64>,
    /// Whether only the mappings read at start (not the kernel line) put it there.
    from_maps: bool,
}

/// Where `fault`'s ip lay: the file and offset the kernel printed; or the file it printed with
/// the offset from `maps`; or, when it printed no file (or, on 5.10 and 6.1, a mapping that does not
/// hold the ip), whatever `maps` says.
fn place(fault: &KernelFault, maps: &[Mapping]) -> Option<Place> {
    let ip = fault.ip?;
    if let Some(file) = &fault.file {
        let name = file_name(file).to_string();
        if let Some(offset) = fault.file_offset {
            return Some(Place {
                name,
                offset: Some(offset),
                from_maps: false,
            });
        }
        let holds_ip = match (fault.vma_start, fault.vma_len) {
            (Some(start), Some(len)) => start <= ip && ip - start < len,
            _ => true,
        };
        if holds_ip {
            let offset = locate(maps, ip)
                .filter(|(path, _)| file_name(path) == name)
                .map(|(_, offset)| offset);
            return Some(Place {
                name,
                offset,
                from_maps: false,
            });
        }
    }
    let (path, offset) = locate(maps, ip)?;
    Some(Place {
        name: file_name(&path).to_string(),
        offset: Some(offset),
        from_maps: true,
    })
}

/// The evidence for a death by `signal` (None: it exited), from the kernel lines about the victim
/// (see [`KernelLog::lines_for`]), its mappings read when it became ready, and the old and new
/// version of the target file, whose base name is `target_name` (e.g. `libvictim.so`): the first
/// line that parses as a fault (else the first line), the file and offset of its ip, and, when that
/// file is the target, what the two versions have there.
pub fn for_death(
    signal: Option<i32>,
    kernel_lines: &[String],
    maps: &[Mapping],
    target_name: &str,
    old: &[u8],
    new: &[u8],
) -> Evidence {
    let parsed = kernel_lines
        .iter()
        .find_map(|line| Some((line, parse_fault(line)?)));
    let mut evidence = Evidence {
        signal: signal.map(signal_name),
        kernel_line: parsed
            .as_ref()
            .map(|(line, _)| line.to_string())
            .or_else(|| kernel_lines.first().cloned()),
        fault: None,
        explanation: None,
    };
    let Some((_, fault)) = parsed else {
        return evidence;
    };
    let Some(place) = place(&fault, maps) else {
        evidence.fault = fault.ip.map(|ip| format!("{ip:#x} (no file mapping)"));
        return evidence;
    };
    let at = match place.offset {
        Some(offset) => format!("{}+{offset:#x}", place.name),
        None => place.name.clone(),
    };
    let explained = place
        .offset
        .filter(|_| place.name == target_name)
        .map(|offset| explain(offset, old, new));
    evidence.explanation = if place.from_maps {
        let how =
            format!("the kernel line names no file; the mappings read at start put the ip in {at}");
        Some(match explained {
            Some(explained) => format!("{how}: {explained}"),
            None => how,
        })
    } else {
        explained
    };
    evidence.fault = Some(at);
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::{LIB_V1, LIB_V2};

    /// The real line this host (Linux 6.18) printed for a write to address 8.
    const HOST_6_18: &str = "sf[3602]: segfault at 8 ip 0000565293da6132 sp 00007fff1306e390 error 6 in sf[1132,565293da6000+1000] likely on CPU 1 (core 1, socket 0)";

    /// The file offset of `name`'s first byte in an embedded library, from its .dynsym.
    fn offset_of(lib: &[u8], name: &str) -> u64 {
        let symbol = elf::symbols(lib)
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} in .dynsym"));
        let text = elf::sections(lib)
            .unwrap()
            .into_iter()
            .find(|s| s.holds_vaddr(symbol.value))
            .unwrap();
        text.offset + (symbol.value - text.addr)
    }

    #[test]
    fn parses_the_segfault_line_of_this_host() {
        let fault = parse_fault(HOST_6_18).unwrap();
        assert_eq!(
            fault,
            KernelFault {
                kind: FaultKind::Segfault,
                addr: Some(8),
                ip: Some(0x5652_93da_6132),
                file: Some("sf".into()),
                file_offset: Some(0x1132),
                vma_start: Some(0x5652_93da_6000),
                vma_len: Some(0x1000),
            }
        );
    }

    #[test]
    fn parses_the_older_formats_without_a_file_offset() {
        // 5.10: no CPU, and file_path()'s " (deleted)" for a replaced file.
        let line = "victim-linked[4242]: segfault at 0 ip 00007f3a9c211612 sp 00007ffc0d6b1e48 error 4 in libvictim.so (deleted)[7f3a9c211000+1000]";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.kind, FaultKind::Segfault);
        assert_eq!(fault.addr, Some(0));
        assert_eq!(fault.ip, Some(0x7f3a_9c21_1612));
        assert_eq!(fault.file.as_deref(), Some("libvictim.so (deleted)"));
        assert_eq!(fault.file_offset, None);
        assert_eq!(fault.vma_start, Some(0x7f3a_9c21_1000));
        assert_eq!(fault.vma_len, Some(0x1000));
        // 6.1: the CPU after the mapping.
        let line = "victim-linked[4242]: segfault at 0 ip 00007f3a9c211612 sp 00007ffc0d6b1e48 error 4 in libvictim.so[7f3a9c211000+1000] likely on CPU 0 (core 0, socket 0)";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.file.as_deref(), Some("libvictim.so"));
        assert_eq!(fault.vma_start, Some(0x7f3a_9c21_1000));
        assert_eq!(fault.file_offset, None);
    }

    #[test]
    fn parses_traps_and_general_protection_faults() {
        let line = "traps: victim[123] trap invalid opcode ip:7f0a1b2c3d4e sp:7ffd3c2b1a00 error:0 in libvictim.so[7f0a1b2c0000+4000]";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.kind, FaultKind::InvalidOpcode);
        assert_eq!(fault.addr, None);
        assert_eq!(fault.ip, Some(0x7f0a_1b2c_3d4e));
        assert_eq!(fault.file.as_deref(), Some("libvictim.so"));
        assert_eq!(fault.vma_start, Some(0x7f0a_1b2c_0000));
        assert_eq!(fault.vma_len, Some(0x4000));

        let line = "traps: victim-linked[4242] general protection fault ip:7f3a9c211612 sp:7ffc0d6b1e48 error:0 in libvictim.so[10612,7f3a9c211000+1000]";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.kind, FaultKind::GeneralProtection);
        assert_eq!(fault.file_offset, Some(0x10612));

        // Real lines from this host (6.18), printed for victims of the harness's own trials.
        let line = "traps: victim-linked[26165] trap invalid opcode ip:7fbba1fc45f0 sp:7ffe74094ec8 error:0 in libvictim.so[105f0,7fbba1fc4000+1000]";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.kind, FaultKind::InvalidOpcode);
        assert_eq!(fault.ip, Some(0x7fbb_a1fc_45f0));
        assert_eq!(fault.file.as_deref(), Some("libvictim.so"));
        assert_eq!(fault.file_offset, Some(0x105f0));
        assert_eq!(fault.vma_start, Some(0x7fbb_a1fc_4000));
        let line = "traps: victim-linked[26240] general protection fault ip:7fc22e47462e sp:7ffc0b5ecaf8 error:0 in libvictim.so[1062e,7fc22e474000+1000]";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.kind, FaultKind::GeneralProtection);
        assert_eq!(fault.file_offset, Some(0x1062e));

        let line = "traps: victim[123] trap divide error ip:401136 sp:7ffd5c1f0a30 error:0 in victim[401000+1000]";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.kind, FaultKind::Other);
        assert_eq!(fault.ip, Some(0x40_1136));
        assert_eq!(fault.file.as_deref(), Some("victim"));
    }

    #[test]
    fn a_fault_outside_any_file_mapping_names_no_file() {
        let line = "victim-linked[4242]: segfault at 7f3a9c300000 ip 00007f3a9c300000 sp 00007ffc0d6b1e48 error 14 likely on CPU 1 (core 1, socket 0)";
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.ip, Some(0x7f3a_9c30_0000));
        assert_eq!(fault.file, None);
        assert_eq!(fault.vma_start, None);
    }

    #[test]
    fn parses_oom_kills_and_ignores_other_lines() {
        for line in [
            "Out of memory: Killed process 4242 (victim-linked) total-vm:10340kB, anon-rss:1024kB, file-rss:2048kB, shmem-rss:0kB, UID:0 pgtables:48kB oom_score_adj:0",
            "Memory cgroup out of memory: Killed process 4242 (victim-linked) total-vm:10340kB, anon-rss:1024kB, file-rss:2048kB, shmem-rss:0kB, UID:0 pgtables:48kB oom_score_adj:0",
        ] {
            let fault = parse_fault(line).unwrap();
            assert_eq!(fault.kind, FaultKind::OomKill);
            assert_eq!(fault.ip, None);
        }
        for line in [
            "Code: 00 00 48 89 c7 e8 <c7> 04 25 08 00 00 00 01 00 00 00",
            "victim/4242: potentially unexpected fatal signal 11.",
            "EXT4-fs (vda): mounted filesystem",
            "",
        ] {
            assert_eq!(parse_fault(line), None, "{line}");
        }
    }

    #[test]
    fn lines_for_matches_the_pid_exactly() {
        let records: Vec<String> = [
            "sf[12]: segfault at 8 ip 0000565293da6132 sp 00007fff1306e390 error 6",
            "sf[123]: segfault at 8 ip 0000565293da6132 sp 00007fff1306e390 error 6",
            "traps: victim[12] trap invalid opcode ip:7f0a1b2c3d4e sp:7ffd3c2b1a00 error:0",
            "traps: victim[112] trap invalid opcode ip:7f0a1b2c3d4e sp:7ffd3c2b1a00 error:0",
            "Out of memory: Killed process 12 (victim) total-vm:10340kB",
            "Memory cgroup out of memory: Killed process 120 (victim) total-vm:10340kB",
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),task=victim,pid=12,uid=0",
            "audit: type=1701 audit(1.2:3): auid=0 uid=0 ses=1 ppid=12 pid=99 comm=\"x\" sig=11",
            "oom_reaper: reaped process 12 (victim), now anon-rss:0kB",
            "victim/12: potentially unexpected fatal signal 11.",
            "victim/123: potentially unexpected fatal signal 11.",
            "[   12.000000] x[12345]: segfault at 0",
        ]
        .map(String::from)
        .to_vec();
        let found = KernelLog::lines_for(&records, 12);
        assert_eq!(
            found,
            [
                &records[0],
                &records[2],
                &records[4],
                &records[6],
                &records[8],
                &records[9]
            ]
            .map(String::clone)
        );
        assert_eq!(KernelLog::lines_for(&records, 99), [records[7].clone()]);
        assert_eq!(KernelLog::lines_for(&records, 12345), [records[11].clone()]);
        assert!(KernelLog::lines_for(&records, 1).is_empty());
    }

    #[test]
    fn takes_the_message_of_a_kmsg_record() {
        let record = b"6,1234,5678901,-;sf[3602]: segfault at 8\n SUBSYSTEM=x\n DEVICE=y\n";
        assert_eq!(message(record).as_deref(), Some("sf[3602]: segfault at 8"));
        let record = b"6,1235,5678902,-,caller=T1;a\\x5cb \\xc3\\xa9 in \\x\n";
        assert_eq!(message(record).as_deref(), Some("a\\b \u{e9} in \\x"));
        assert_eq!(message(b"no header"), None);
    }

    #[test]
    fn parses_maps_with_spaces_and_deleted_files() {
        let maps = "\
5652936a5000-5652936a6000 r--p 00000000 08:01 131 /usr/bin/sf
7f3a9c200000-7f3a9c211000 r--p 00000000 00:2a 77                         /tmp/clobber x/libvictim.so (deleted)
7f3a9c211000-7f3a9c212000 r-xp 00010000 00:2a 77                         /tmp/clobber x/libvictim.so (deleted)
7f3a9c212000-7f3a9c214000 rw-p 00000000 00:00 0 
7ffc0d692000-7ffc0d6b3000 rw-p 00000000 00:00 0                          [stack]
";
        let parsed = parse_maps(maps);
        assert_eq!(parsed.len(), 4);
        assert_eq!(
            parsed[2],
            Mapping {
                start: 0x7f3a_9c21_1000,
                end: 0x7f3a_9c21_2000,
                offset: 0x10000,
                inode: 77,
                path: "/tmp/clobber x/libvictim.so (deleted)".into(),
            }
        );
        assert_eq!(parsed[3].path, "[stack]");
        assert_eq!(
            locate(&parsed, 0x7f3a_9c21_1612),
            Some(("/tmp/clobber x/libvictim.so (deleted)".into(), 0x10612))
        );
        assert_eq!(locate(&parsed, 0x7f3a_9c21_2010), None);
        assert_eq!(file_name(&parsed[2].path), "libvictim.so");
    }

    #[test]
    fn explains_what_each_version_has_at_an_offset() {
        let work = offset_of(LIB_V1, "victim_work");
        assert_eq!(
            explain(work + 0x12, LIB_V1, LIB_V2),
            "v1 had `victim_work`+0x12 there, v2 has .rodata bytes"
        );
        assert_eq!(
            explain(work, LIB_V1, LIB_V1),
            "v1 had `victim_work` there, v2 has `victim_work` (the same bytes)"
        );
        assert_eq!(
            explain(work + 0x12, LIB_V1, &LIB_V2[..0x3000]),
            "v1 had `victim_work`+0x12 there, v2 ends at 0x3000, before it (the page was past the new end of file)"
        );
        let feature = offset_of(LIB_V2, "victim_feature");
        assert_eq!(
            explain(feature + 4, &LIB_V1[..0x3000], LIB_V2),
            "v1 ends at 0x3000, before it, v2 has `victim_feature`+0x4 there"
        );
        assert_eq!(
            explain(0x10, LIB_V1, b"#!/bin/sh\nexit 0\n"),
            "v1 had the ELF header there, v2 has bytes of a file that is not a 64-bit ELF file"
        );
        let shstrtab = elf::sections(LIB_V1)
            .unwrap()
            .into_iter()
            .find(|s| s.name == ".shstrtab")
            .unwrap();
        assert!(explain(shstrtab.offset, LIB_V1, LIB_V1)
            .starts_with("v1 had .shstrtab bytes (not loaded) there"));
    }

    #[test]
    fn the_evidence_for_a_death_in_the_target() {
        let work = offset_of(LIB_V1, "victim_work");
        let base = 0x7f3a_9c20_0000_u64;
        let vma = base + (work & !0xfff);
        let ip = vma + (work & 0xfff) + 0x12;
        let offset = work + 0x12;
        let expected = |line: &str| Evidence {
            signal: Some("SIGSEGV".into()),
            kernel_line: Some(line.into()),
            fault: Some(format!("libvictim.so+{offset:#x}")),
            explanation: Some("v1 had `victim_work`+0x12 there, v2 has .rodata bytes".into()),
        };

        // 6.12 and later: the offset is in the line, no maps needed.
        let line = format!("victim-linked[4242]: segfault at 0 ip {ip:016x} sp 00007ffc0d6b1e48 error 4 in libvictim.so[{offset:x},{vma:x}+1000] likely on CPU 0 (core 0, socket 0)");
        let lines = vec!["Code: 00 00".to_string(), line.clone()];
        let evidence = for_death(Some(11), &lines, &[], "libvictim.so", LIB_V1, LIB_V2);
        assert_eq!(evidence, expected(&line));

        // 5.10: the offset comes from the maps read at start.
        let maps = parse_maps(&format!(
            "{base:x}-{vma:x} r--p 00000000 00:2a 77 /tmp/w/libvictim.so\n{vma:x}-{:x} r-xp {:08x} 00:2a 77 /tmp/w/libvictim.so\n",
            vma + 0x1000,
            work & !0xfff
        ));
        let line = format!("victim-linked[4242]: segfault at 0 ip {ip:016x} sp 00007ffc0d6b1e48 error 4 in libvictim.so (deleted)[{vma:x}+1000]");
        let evidence = for_death(
            Some(11),
            std::slice::from_ref(&line),
            &maps,
            "libvictim.so",
            LIB_V1,
            LIB_V2,
        );
        assert_eq!(evidence, expected(&line));

        // No file in the line, but the maps read at start had the library there.
        let line = format!("victim-linked[4242]: segfault at 0 ip {ip:016x} sp 00007ffc0d6b1e48 error 4 likely on CPU 0 (core 0, socket 0)");
        let evidence = for_death(Some(11), &[line], &maps, "libvictim.so", LIB_V1, LIB_V2);
        assert_eq!(evidence.fault, expected("").fault);
        assert_eq!(
            evidence.explanation.unwrap(),
            format!("the kernel line names no file; the mappings read at start put the ip in libvictim.so+{offset:#x}: v1 had `victim_work`+0x12 there, v2 has .rodata bytes")
        );

        // No file and no mapping: freed or unmapped memory.
        let evidence = for_death(
            Some(11),
            &["x[1]: segfault at 10 ip 0000000000000010 sp 00007ffc0d6b1e48 error 14".into()],
            &maps,
            "libvictim.so",
            LIB_V1,
            LIB_V2,
        );
        assert_eq!(evidence.fault.as_deref(), Some("0x10 (no file mapping)"));
        assert_eq!(evidence.explanation, None);

        // Another file: where, but no explanation.
        let evidence = for_death(
            Some(4),
            &[HOST_6_18.into()],
            &[],
            "libvictim.so",
            LIB_V1,
            LIB_V2,
        );
        assert_eq!(evidence.signal.as_deref(), Some("SIGILL"));
        assert_eq!(evidence.fault.as_deref(), Some("sf+0x1132"));
        assert_eq!(evidence.explanation, None);
    }

    #[test]
    fn the_evidence_without_a_fault_line() {
        let none = for_death(Some(7), &[], &[], "libvictim.so", LIB_V1, LIB_V2);
        assert_eq!(
            none,
            Evidence {
                signal: Some("SIGBUS".into()),
                kernel_line: None,
                fault: None,
                explanation: None,
            }
        );
        let oom = "Out of memory: Killed process 4242 (victim) total-vm:10340kB".to_string();
        let killed = for_death(
            Some(9),
            std::slice::from_ref(&oom),
            &[],
            "libvictim.so",
            LIB_V1,
            LIB_V2,
        );
        assert_eq!(killed.kernel_line, Some(oom));
        assert_eq!(killed.fault, None);
        let other = "victim/4242: potentially unexpected fatal signal 11.".to_string();
        let unparsed = for_death(
            None,
            std::slice::from_ref(&other),
            &[],
            "libvictim.so",
            LIB_V1,
            LIB_V2,
        );
        assert_eq!(unparsed.signal, None);
        assert_eq!(unparsed.kernel_line, Some(other));
        let json = serde_json::to_string(&killed).unwrap();
        assert_eq!(serde_json::from_str::<Evidence>(&json).unwrap(), killed);
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"signal":"SIGBUS"}"#
        );
    }

    #[test]
    fn a_real_segfault_is_found_in_the_kernel_log_and_parsed() {
        use nix::sys::signal::Signal;
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        use std::time::{Duration, Instant};

        let mut log = KernelLog::open().unwrap_or_else(|why| {
            panic!("this test reads /dev/kmsg: it needs root, or kernel.dmesg_restrict=0 ({why})")
        });
        // The kernel rate-limits these lines globally (printk_ratelimit(): 10 per 5 s by default),
        // and other crashing processes may use up a window: fault again in the next windows.
        let started = Instant::now();
        let lines = loop {
            // SAFETY: the child of this multithreaded process only makes the faulting write (and
            // _exits should it survive): no allocation, no lock.
            let child = match unsafe { fork() }.expect("fork") {
                ForkResult::Child => unsafe {
                    std::ptr::write_volatile(8usize as *mut u8, 1);
                    libc::_exit(0)
                },
                ForkResult::Parent { child } => child,
            };
            let status = waitpid(child, None).expect("waitpid");
            assert!(
                matches!(status, WaitStatus::Signaled(_, Signal::SIGSEGV, _)),
                "{status:?}"
            );
            let pid = child.as_raw() as u32;
            let lines = KernelLog::lines_for(&log.read_new(), pid);
            if lines.iter().any(|line| line.contains("segfault at 8 ")) {
                break lines;
            }
            let trace = fs::read_to_string("/proc/sys/debug/exception-trace").unwrap_or_default();
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no `segfault at 8` line for pid {pid} in 30 s (debug.exception-trace={}, else \
                 rate-limited by other crashes): {lines:?}",
                trace.trim()
            );
            std::thread::sleep(Duration::from_secs(1));
        };
        let line = lines
            .iter()
            .find(|line| line.contains("segfault at 8 "))
            .unwrap();
        let fault = parse_fault(line).unwrap();
        assert_eq!(fault.kind, FaultKind::Segfault);
        assert_eq!(fault.addr, Some(8));
        let ip = fault.ip.expect("an ip");
        // The ip is in this test binary; the child's mappings were ours.
        let maps = parse_maps(&fs::read_to_string("/proc/self/maps").unwrap());
        let (path, offset) = locate(&maps, ip).expect("the ip in our mappings");
        let exe = fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(file_name(&path), file_name(&exe.to_string_lossy()));
        if let Some(file) = &fault.file {
            assert_eq!(file_name(file), file_name(&path), "{line}");
        }
        if let Some(printed) = fault.file_offset {
            assert_eq!(printed, offset, "{line}");
        }
        let me = fs::read("/proc/self/exe").unwrap();
        let evidence = for_death(Some(11), &lines, &maps, file_name(&path), &me, &me);
        assert_eq!(
            evidence.fault,
            Some(format!("{}+{offset:#x}", file_name(&path)))
        );
        let explanation = evidence.explanation.expect("an explanation");
        assert!(explanation.starts_with("v1 had `"), "{explanation}");
        assert!(explanation.ends_with("(the same bytes)"), "{explanation}");
    }
}
