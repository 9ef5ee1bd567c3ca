//! Where the writer and the victims run. Whether a victim dies of SIGBUS (it touched a page past
//! the file's end while the writer was between truncating and rewriting it) or of SIGSEGV/SIGILL
//! (it ran the new bytes after the write) depends above all on whether the two run at the same
//! time on different CPUs: on one CPU cp-over-lib is SIGSEGV in nearly every trial, on two mostly
//! SIGBUS. Left to the scheduler, that would depend on accidents of the harness's own wake-ups, so
//! on a machine with two CPUs or more the harness pins itself, and so every update it makes or
//! command it runs, to its first allowed CPU, and its victims to the others: writer and victims
//! run in parallel, as on any multi-core machine. The results' environment records it.

use std::sync::OnceLock;

/// The CPUs victims may run on, once the writer has been pinned.
static VICTIM_CPUS: OnceLock<libc::cpu_set_t> = OnceLock::new();

/// The CPUs this process may run on.
fn allowed() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set, and the call fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } == 0;
    if !ok {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|cpu| unsafe { libc::CPU_ISSET(*cpu, &set) })
        .collect()
}

fn set_of(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in cpus {
        // SAFETY: every allowed CPU is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(*cpu, &mut set) };
    }
    set
}

/// Pins the writer (this process) and sets aside the victims' CPUs, once; returns how, in words,
/// for the results' environment.
pub fn apply() -> String {
    let cpus = allowed();
    let Some((writer, rest)) = cpus.split_first().filter(|(_, rest)| !rest.is_empty()) else {
        return "one CPU: writer and victims take turns on it".into();
    };
    let pinned = set_of(&[*writer]);
    // SAFETY: `pinned` is a valid cpu_set_t of the size passed.
    let ok = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&pinned), &pinned) } == 0;
    if !ok {
        return format!(
            "left to the scheduler ({} CPUs; pinning failed: {})",
            cpus.len(),
            std::io::Error::last_os_error()
        );
    }
    let _ = VICTIM_CPUS.set(set_of(rest));
    let list: Vec<String> = rest.iter().map(usize::to_string).collect();
    format!(
        "writer on CPU {writer}, victims on CPU {}: in parallel",
        list.join(",")
    )
}

/// The CPUs victims are confined to, when the writer was pinned.
pub fn victim_cpus() -> Option<libc::cpu_set_t> {
    VICTIM_CPUS.get().copied()
}
