//! The environment block of a results file: what was measured on (kernel, arch, filesystem of the
//! work dir, libc, CPU, memory, virtualization, distribution, clobber version, and a short stable
//! machine id so that runs of one kernel release on different machines stay apart).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::path::Path;

use nix::sys::utsname::uname;
use serde::{Deserialize, Serialize};

/// Where and on what a set of results was measured.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Environment {
    /// `uname -r`, e.g. `6.1.0-28-amd64`.
    pub kernel_release: String,
    /// `uname -v`, the kernel's build string.
    pub kernel_version: String,
    /// `uname -m`.
    pub arch: String,
    /// Filesystem type of the work directory, from /proc/self/mountinfo, e.g. `tmpfs`, `ext4`.
    pub filesystem: String,
    /// The C library and its version, e.g. `glibc 2.36`.
    pub libc: String,
    /// CPU model name from /proc/cpuinfo.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// `none`, `qemu-tcg`, `qemu-kvm`, or `other-vm` when a hypervisor is present but not ours.
    pub virtualization: String,
    /// PRETTY_NAME from /etc/os-release, or `unknown`.
    pub distribution: String,
    /// Version of clobber that measured.
    pub clobber_version: String,
    /// The first line of `--version` of each real tool that the scenarios ran, by name.
    #[serde(default)]
    pub tools: BTreeMap<String, String>,
    /// Short stable id of the machine: 8 hex digits of a hash of /etc/machine-id (never the id
    /// itself), or the `clobber.machine=` kernel parameter in a VM, or `unknown`. Default (files
    /// written before it existed): empty.
    #[serde(default)]
    pub machine_id: String,
    /// How update commands were confined: `landlock ABI <n>`, or `none: <why>`. Default (files
    /// written before it existed): empty.
    #[serde(default)]
    pub confinement: String,
    /// Where the writer and the victims ran (see `placement`), e.g. `writer on CPU 0, victims on
    /// CPU 1: in parallel`. Default (files written before it existed): empty, left to the
    /// scheduler.
    #[serde(default)]
    pub placement: String,
}

fn mount_fstype(path: &Path) -> Option<String> {
    let path = fs::canonicalize(path).ok()?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(mount_point), Some(dash)) =
            (fields.get(4), fields.iter().position(|f| *f == "-"))
        else {
            continue;
        };
        let Some(fstype) = fields.get(dash + 1) else {
            continue;
        };
        let mount_point = mount_point.replace("\\040", " ");
        if path.starts_with(&mount_point)
            && best
                .as_ref()
                .is_none_or(|(len, _)| mount_point.len() >= *len)
        {
            best = Some((mount_point.len(), fstype.to_string()));
        }
    }
    best.map(|(_, fstype)| fstype)
}

fn libc_version() -> String {
    extern "C" {
        fn gnu_get_libc_version() -> *const libc::c_char;
    }
    // SAFETY: glibc returns a pointer to a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(gnu_get_libc_version()) };
    format!("glibc {}", version.to_string_lossy())
}

fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn memory_mib() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map(|kib| kib / 1024)
        .unwrap_or(0)
}

fn virtualization(cpuinfo: &str, cmdline: &str) -> String {
    if let Some(virt) = cmdline
        .split_whitespace()
        .find_map(|word| word.strip_prefix("clobber.virt="))
    {
        return virt.to_string();
    }
    let hypervisor = cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .any(|line| line.split_whitespace().any(|flag| flag == "hypervisor"));
    if hypervisor {
        "other-vm".into()
    } else {
        "none".into()
    }
}

fn distribution() -> String {
    fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("PRETTY_NAME="))
                .map(|value| value.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// 64-bit FNV-1a: a small hash whose value is fixed by its definition, unlike std's hashers.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The short id of a machine whose systemd machine id is `machine_id`: the top 32 bits of a hash
/// of it, keyed by the application as machine-id(5) asks, in 8 hex digits.
pub fn short_machine_id(machine_id: &str) -> String {
    let mut keyed = b"clobber machine id\0".to_vec();
    keyed.extend_from_slice(machine_id.trim().as_bytes());
    format!("{:08x}", fnv1a64(&keyed) >> 32)
}

/// The machine id of this machine: given on the kernel command line of a VM the harness booted
/// (`clobber.machine=`, the host's short id), or derived from /etc/machine-id.
fn machine_id(cmdline: &str) -> String {
    if let Some(id) = cmdline
        .split_whitespace()
        .find_map(|word| word.strip_prefix("clobber.machine="))
    {
        return id.to_string();
    }
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .find(|id| !id.trim().is_empty())
        .map(|id| short_machine_id(&id))
        .unwrap_or_else(|| "unknown".into())
}

/// The short id of this machine, as results files record it.
pub fn this_machine_id() -> String {
    machine_id(&fs::read_to_string("/proc/cmdline").unwrap_or_default())
}

/// Describes this machine, with `workdir` as the place where victims run.
pub fn collect(workdir: &Path) -> Environment {
    let uts = uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
    Environment {
        kernel_release: field(|u| u.release()),
        kernel_version: field(|u| u.version()),
        arch: field(|u| u.machine()),
        filesystem: mount_fstype(workdir).unwrap_or_else(|| "unknown".into()),
        libc: libc_version(),
        cpu: cpu_model(&cpuinfo),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory_mib: memory_mib(),
        virtualization: virtualization(&cpuinfo, &cmdline),
        distribution: distribution(),
        clobber_version: env!("CARGO_PKG_VERSION").to_string(),
        tools: BTreeMap::new(),
        machine_id: machine_id(&cmdline),
        confinement: crate::confine::describe(),
        placement: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn machine_ids_are_short_stable_and_keyed() {
        let id = short_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda4\n");
        assert_eq!(id, short_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda4"));
        assert_eq!(id.len(), 8);
        assert!(!id.contains("3d1219c7"));
        assert_ne!(id, short_machine_id("00000000000000000000000000000000"));
        assert_eq!(machine_id("quiet clobber.machine=ab12cd34 x"), "ab12cd34");
    }
}
