//! What every victim does first: never dump core (a crash is the expected outcome, and a core file
//! would be written outside the work dir or handed to the system's crash collector).

/// Makes the calling process non-dumpable so that a fatal signal leaves no core dump behind.
pub fn no_core_dumps() {
    // SAFETY: plain prctl/setrlimit calls with valid arguments.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
    }
}
