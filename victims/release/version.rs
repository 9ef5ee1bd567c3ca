//! What every victim of a real library release does with it: print the version the library
//! reports (its first stderr line), and report, in a loop, the version it answers or mixed when
//! the work done through it goes wrong. A version string is reported as a number: up to three
//! numeric components packed as `1_000_000_000 + a·10⁶ + b·10³ + c` ("2.36" → 1_002_036_000), so
//! that it never equals the synthetic victims' versions (1, 2) or their mixed marker (99).

use crate::report::{Report, MIXED};

/// The number of `text`, e.g. `3.46.1`; non-digits end a component.
pub fn number(text: &str) -> u64 {
    let mut packed = 0;
    for (i, part) in text.split('.').take(3).enumerate() {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        let value: u64 = digits.parse().unwrap_or(0);
        packed += value.min(999) * 1000u64.pow(2 - i as u32);
    }
    1_000_000_000 + packed
}

/// Reports ready on the version `name` (e.g. `zlib`) answers, then loops for ever: the version it
/// answers now, or, while that is the first one, mixed whenever `works` fails.
pub fn watch(
    report: &mut Report,
    name: &str,
    version: impl Fn() -> String,
    mut works: impl FnMut() -> bool,
) -> ! {
    let started = version();
    eprintln!("{name} {started}");
    let first = number(&started);
    report.ready(first);
    loop {
        let answered = number(&version());
        let seen = if answered != first {
            answered
        } else if works() {
            first
        } else {
            MIXED
        };
        report.tick(seen);
    }
}
