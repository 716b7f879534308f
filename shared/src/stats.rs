//! Summary statistics with the same definitions as `sglang.bench_serving` (numpy): population
//! standard deviation and linearly interpolated percentiles. An empty series summarises to zeros,
//! as upstream reports it.

use serde::{Deserialize, Serialize};

/// Mean, median, population std and tail percentiles of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Arithmetic mean.
    pub mean: f64,
    /// 50th percentile.
    pub median: f64,
    /// Population standard deviation (numpy `std`, ddof 0).
    pub std: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values` (any order; NaNs are ignored).
    pub fn of(values: &[f64]) -> Summary {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return Summary::default();
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let variance = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Summary {
            mean,
            median: percentile_sorted(&sorted, 50.0),
            std: variance.sqrt(),
            p90: percentile_sorted(&sorted, 90.0),
            p95: percentile_sorted(&sorted, 95.0),
            p99: percentile_sorted(&sorted, 99.0),
            max: sorted[sorted.len() - 1],
        }
    }

    /// The statistic by its bench_serving name (`mean`, `median`, `std`, `p90`, `p95`, `p99`).
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("mean", self.mean),
            ("median", self.median),
            ("std", self.std),
            ("p90", self.p90),
            ("p95", self.p95),
            ("p99", self.p99),
        ]
    }
}

/// numpy's default (`linear`) percentile of an ascending slice; `q` in 0..=100.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        len => {
            let rank = (q / 100.0).clamp(0.0, 1.0) * (len - 1) as f64;
            let low = rank.floor() as usize;
            let high = rank.ceil() as usize;
            let weight = rank - low as f64;
            sorted[low] + (sorted[high] - sorted[low]) * weight
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn matches_numpy() {
        // numpy: np.percentile([1,2,3,4,10], [50,90,95,99]) = [3, 7.6, 8.8, 9.76]; std = 3.1622776601683795
        let s = Summary::of(&[10.0, 2.0, 3.0, 1.0, 4.0]);
        assert!(close(s.mean, 4.0));
        assert!(close(s.median, 3.0));
        assert!(close(s.p90, 7.6));
        assert!(close(s.p95, 8.8));
        assert!(close(s.p99, 9.76));
        assert!(close(s.std, 3.162_277_660_168_379_5));
        assert!(close(s.max, 10.0));
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Summary::of(&[]), Summary::default());
        assert!(close(Summary::of(&[5.0]).p99, 5.0));
    }
}
