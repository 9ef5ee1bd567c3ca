//! The environment block of a results file: what was measured on (kernel, arch, filesystem of the
//! work dir, libc, CPU, memory, virtualization, distribution, clobber version).

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

fn virtualization(cpuinfo: &str) -> String {
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
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

/// Describes this machine, with `workdir` as the place where victims run.
pub fn collect(workdir: &Path) -> Environment {
    let uts = uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
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
        virtualization: virtualization(&cpuinfo),
        distribution: distribution(),
        clobber_version: env!("CARGO_PKG_VERSION").to_string(),
        tools: BTreeMap::new(),
    }
}
