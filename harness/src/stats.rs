//! Statistics for racy outcomes: rates with 95% Wilson score intervals, and nearest-rank
//! percentiles of durations.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// A proportion k/n with its 95% Wilson score interval.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
pub struct Rate {
    /// Trials with this outcome.
    pub k: u64,
    /// All trials.
    pub n: u64,
    /// k/n.
    pub rate: f64,
    /// Lower bound of the 95% Wilson interval.
    pub ci95_low: f64,
    /// Upper bound of the 95% Wilson interval.
    pub ci95_high: f64,
}

impl Rate {
    /// The rate of `k` successes in `n` trials (n > 0).
    pub fn new(k: u64, n: u64) -> Rate {
        let (low, high) = wilson(k, n);
        Rate {
            k,
            n,
            rate: k as f64 / n as f64,
            ci95_low: low,
            ci95_high: high,
        }
    }
}

/// The 95% Wilson score interval of k successes in n trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = Z95 * Z95;
    let centre = p + z2 / (2.0 * n);
    let spread = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    (
        ((centre - spread) / denominator).max(0.0),
        ((centre + spread) / denominator).min(1.0),
    )
}

/// Percentiles of a set of durations in microseconds.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
pub struct Percentiles {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// Largest sample.
    pub max: u64,
}

impl Percentiles {
    /// Percentiles of `samples`, or None when there are none.
    pub fn of(samples: &[u64]) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank =
            |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Some(Percentiles {
            n: sorted.len(),
            p50: rank(0.5),
            p90: rank(0.9),
            max: *sorted.last().unwrap(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // 8/10: Wilson 95% interval is [0.490, 0.943].
        let (low, high) = wilson(8, 10);
        assert!((low - 0.4902).abs() < 1e-3, "{low}");
        assert!((high - 0.9433).abs() < 1e-3, "{high}");
        let (low, high) = wilson(0, 20);
        assert_eq!(low, 0.0);
        assert!((high - 0.1611).abs() < 1e-3, "{high}");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of(&[5, 1, 4, 2, 3, 6, 7, 8, 9, 10]).unwrap();
        assert_eq!((p.n, p.p50, p.p90, p.max), (10, 5, 9, 10));
        assert!(Percentiles::of(&[]).is_none());
    }
}
