//! What every victim does first: never dump core (a crash is the expected outcome, and a core file
//! would be written outside the work dir or handed to the system's crash collector).

/// Sets RLIMIT_CORE to 0 so that a fatal signal leaves no core dump behind. The process stays
/// dumpable: a harness running as an ordinary user must be able to read its /proc/PID/maps.
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain setrlimit call with a valid argument.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
}
