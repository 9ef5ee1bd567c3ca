//! A library's version string as the number a victim reports on its status page: up to three
//! numeric components packed as `1_000_000_000 + a·10⁶ + b·10³ + c` ("2.36" → 1_002_036_000), so
//! that it never equals the synthetic victims' versions (1, 2) or their mixed marker (99).

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
