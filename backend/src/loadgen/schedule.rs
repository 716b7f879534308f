//! Arrival schedules: offsets from the start of a trial, precomputed and seeded, so requests are
//! sent at absolute times (`sleep_until(start + offset)`) and never drift with accumulated sleeps.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Poisson arrivals: cumulative exponential gaps with mean `1/rate`, seeded. The first request goes
/// at its first gap, as in bench_serving. An infinite rate sends everything at once.
pub fn poisson_offsets(count: usize, rate: f64, seed: u64) -> Vec<f64> {
    if !rate.is_finite() || rate <= 0.0 {
        return vec![0.0; count];
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = 0.0;
    (0..count)
        .map(|_| {
            let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            t += -u.ln() / rate;
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_increasing() {
        let a = poisson_offsets(1000, 10.0, 1);
        assert_eq!(a, poisson_offsets(1000, 10.0, 1));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        let mean_gap = a[999] / 1000.0;
        assert!((mean_gap - 0.1).abs() < 0.01, "mean gap {mean_gap}");
        assert_ne!(a, poisson_offsets(1000, 10.0, 2));
    }

    #[test]
    fn infinite_rate_is_a_burst() {
        assert_eq!(poisson_offsets(3, f64::INFINITY, 1), [0.0, 0.0, 0.0]);
    }
}
