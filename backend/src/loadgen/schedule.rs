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

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    /// Exponential gaps (bench_serving's default).
    #[default]
    Poisson,
    /// Evenly spaced, `1/rate` apart.
    Constant,
    /// The rows' `timestamp`s, time-scaled so the mean rate is the requested one.
    Trace,
}

/// Evenly spaced offsets (`i / rate`, the first request at `1/rate` like Poisson's first gap).
pub fn constant_offsets(count: usize, rate: f64) -> Vec<f64> {
    if !rate.is_finite() || rate <= 0.0 {
        return vec![0.0; count];
    }
    (1..=count).map(|i| i as f64 / rate).collect()
}

/// Trace replay: offsets from `timestamps` (seconds, any origin, any order of magnitude), scaled
/// so that the replay's mean rate equals `rate`; the first request goes at 0.
pub fn trace_offsets(timestamps: &[f64], rate: f64) -> Vec<f64> {
    let first = timestamps.iter().copied().fold(f64::INFINITY, f64::min);
    let last = timestamps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = last - first;
    if timestamps.len() < 2 || span <= 0.0 || !rate.is_finite() || rate <= 0.0 {
        return vec![0.0; timestamps.len()];
    }
    let natural_rate = (timestamps.len() - 1) as f64 / span;
    let scale = natural_rate / rate;
    timestamps.iter().map(|t| (t - first) * scale).collect()
}

/// Offsets for `count` requests.
pub fn offsets(
    arrival: Arrival,
    count: usize,
    rate: f64,
    seed: u64,
    timestamps: &[Option<f64>],
) -> Result<Vec<f64>, String> {
    match arrival {
        Arrival::Poisson => Ok(poisson_offsets(count, rate, seed)),
        Arrival::Constant => Ok(constant_offsets(count, rate)),
        Arrival::Trace => {
            let stamps: Option<Vec<f64>> = timestamps.iter().copied().collect();
            match stamps {
                Some(stamps) if stamps.len() == count => Ok(trace_offsets(&stamps, rate)),
                _ => Err(
                    "benchmark.arrival is trace but some dataset rows have no `timestamp`".into(),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_is_time_scaled_to_the_rate() {
        let offsets = trace_offsets(&[100.0, 101.0, 103.0, 104.0], 3.0);
        // natural rate 3/4 req/s; asked 3 req/s: four times faster.
        assert_eq!(offsets, [0.0, 0.25, 0.75, 1.0]);
        assert_eq!(constant_offsets(3, 2.0), [0.5, 1.0, 1.5]);
        assert!(offsets_err());
    }

    fn offsets_err() -> bool {
        offsets(Arrival::Trace, 2, 1.0, 1, &[Some(1.0), None]).is_err()
    }

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
