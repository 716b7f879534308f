//! Arrival schedules: offsets from the start of a trial, precomputed and seeded, so requests are
//! sent at absolute times (`sleep_until(start + offset)`) and never drift with accumulated sleeps.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;

/// How arrivals are spaced (defined with the other name sets in [`shared::kinds`]).
pub(crate) use shared::kinds::Arrival;

/// Poisson arrivals: cumulative exponential gaps with mean `1/rate`, seeded. The first request goes
/// at its first gap, as in bench_serving. An infinite rate sends everything at once.
pub(crate) fn poisson_offsets(count: usize, rate: f64, seed: u64) -> Vec<f64> {
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

/// Gamma-distributed gaps with shape `burstiness` and mean `1/rate` (vLLM's `--burstiness`):
/// 1.0 is Poisson, below 1 burstier, above 1 more regular. Seeded.
pub(crate) fn gamma_offsets(count: usize, rate: f64, burstiness: f64, seed: u64) -> Vec<f64> {
    if !rate.is_finite() || rate <= 0.0 {
        return vec![0.0; count];
    }
    if (burstiness - 1.0).abs() < 1e-12 {
        return poisson_offsets(count, rate, seed);
    }
    let shape = burstiness.max(1e-3);
    let scale = 1.0 / (rate * shape);
    // rand_distr's gamma (Marsaglia-Tsang, with the shape < 1 boost): it replaced a hand-written
    // copy of the same method, which had no reason to stay.
    // Shape and scale are positive and finite here, so the constructor cannot refuse them.
    let Ok(gamma) = rand_distr::Gamma::new(shape, scale) else {
        return poisson_offsets(count, rate, seed);
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = 0.0;
    (0..count)
        .map(|_| {
            t += gamma.sample(&mut rng);
            t
        })
        .collect()
}

/// Evenly spaced offsets (`i / rate`, the first request at `1/rate` like Poisson's first gap).
pub(crate) fn constant_offsets(count: usize, rate: f64) -> Vec<f64> {
    if !rate.is_finite() || rate <= 0.0 {
        return vec![0.0; count];
    }
    (1..=count).map(|i| i as f64 / rate).collect()
}

/// Trace replay: offsets from `timestamps` (seconds, any origin, any order of magnitude), scaled
/// so that the replay's mean rate equals `rate`; the first request goes at 0.
pub(crate) fn trace_offsets(timestamps: &[f64], rate: f64) -> Vec<f64> {
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

/// Scales random gaps so the schedule offers exactly `rate`: the span from the first to the last
/// arrival becomes `(count - 1) / rate`, keeping the draw's shape (Poisson or gamma). One draw of
/// 60 exponential gaps is easily 14% sparser or denser than nominal; unscaled, the server would
/// see that much less (or more) load than the rate the record names.
pub(crate) fn realise_rate(mut offsets: Vec<f64>, rate: f64) -> Vec<f64> {
    let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) else {
        return offsets;
    };
    let span = last - first;
    if offsets.len() < 2 || span <= 0.0 || !rate.is_finite() || rate <= 0.0 {
        return offsets;
    }
    let scale = (offsets.len() - 1) as f64 / rate / span;
    for offset in &mut offsets {
        *offset *= scale;
    }
    offsets
}

/// Scales random gaps block by block so that every `block_s` seconds offer exactly `rate`: each
/// run of `rate x block_s` consecutive arrivals spans exactly `block_s`, keeping the draw's
/// shape inside it. A steady-state trial uses only its first seconds of a long schedule: scaled
/// as a whole ([`realise_rate`]), a 4-s window of it offered 13.2 req/s for a trial at 17.9, and
/// passed; block by block, every measured window offers the rate its record names.
pub(crate) fn realise_rate_in_blocks(offsets: Vec<f64>, rate: f64, block_s: f64) -> Vec<f64> {
    let per_block = (rate * block_s).round();
    if offsets.len() < 2 || !rate.is_finite() || rate <= 0.0 || per_block < 2.0 {
        return offsets;
    }
    let per_block = per_block as usize;
    let mut gaps: Vec<f64> = Vec::with_capacity(offsets.len());
    let mut previous = 0.0;
    for offset in &offsets {
        gaps.push((offset - previous).max(0.0));
        previous = *offset;
    }
    for block in gaps.chunks_mut(per_block) {
        let span: f64 = block.iter().sum();
        if span > 0.0 {
            let scale = block.len() as f64 / rate / span;
            block.iter_mut().for_each(|gap| *gap *= scale);
        }
    }
    let mut at = 0.0;
    gaps.into_iter()
        .map(|gap| {
            at += gap;
            at
        })
        .collect()
}

/// The rate a schedule offers: arrivals per second between the first and the last arrival
/// (`None` for fewer than two arrivals or a burst).
pub(crate) fn offered_rate(offsets: &[f64]) -> Option<f64> {
    let first = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    let last = offsets.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (offsets.len() >= 2 && last > first).then(|| (offsets.len() - 1) as f64 / (last - first))
}

/// Offsets for `count` requests.
pub(crate) fn offsets(
    arrival: Arrival,
    count: usize,
    rate: f64,
    burstiness: f64,
    seed: u64,
    timestamps: &[Option<f64>],
) -> Result<Vec<f64>, String> {
    match arrival {
        Arrival::Poisson => Ok(realise_rate(
            gamma_offsets(count, rate, burstiness, seed),
            rate,
        )),
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
    fn every_block_of_a_long_schedule_offers_the_rate() {
        // 74 s of Poisson arrivals at 17.9 req/s, of which a trial measures about 4 s: two blocks
        // from a block's edge.
        let rate = 17.92;
        let raw = realise_rate(poisson_offsets(1326, rate, 7), rate);
        // Blocks of a whole number of arrivals: 36 in 36 / 17.92 s.
        let block = 36.0 / rate;
        let blocks = realise_rate_in_blocks(raw.clone(), rate, block);
        let in_window = |offsets: &[f64], from: f64| {
            offsets
                .iter()
                .filter(|o| **o > from && **o <= from + 4.0)
                .count() as f64
                / 4.0
        };
        let mut worst_raw: f64 = 0.0;
        let mut worst_blocks: f64 = 0.0;
        for k in 0..15 {
            let from = block * (1 + 2 * k) as f64;
            worst_raw = worst_raw.max((in_window(&raw, from) / rate - 1.0).abs());
            worst_blocks = worst_blocks.max((in_window(&blocks, from) / rate - 1.0).abs());
        }
        assert!(
            worst_raw > 0.10,
            "whole-schedule scaling leaves windows off: {worst_raw}"
        );
        // 36 arrivals per block of 2 s (17.92 x 2 rounded): 18 req/s in every window.
        assert!(
            worst_blocks < 0.01,
            "every whole-block window offers the rate: {worst_blocks}"
        );
        // The shape inside a block is the draw's: gaps still vary as exponential ones do.
        let gaps: Vec<f64> = blocks.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let cv = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt()
            / mean;
        assert!((0.8..1.2).contains(&cv), "coefficient of variation {cv}");
    }

    #[test]
    fn trace_is_time_scaled_to_the_rate() {
        let offsets = trace_offsets(&[100.0, 101.0, 103.0, 104.0], 3.0);
        // natural rate 3/4 req/s; asked 3 req/s: four times faster.
        assert_eq!(offsets, [0.0, 0.25, 0.75, 1.0]);
        assert_eq!(constant_offsets(3, 2.0), [0.5, 1.0, 1.5]);
        assert!(offsets_err());
    }

    fn offsets_err() -> bool {
        offsets(Arrival::Trace, 2, 1.0, 1.0, 1, &[Some(1.0), None]).is_err()
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
    fn gamma_keeps_the_rate_and_changes_the_spread() {
        let gaps = |b: f64| {
            let o = gamma_offsets(20_000, 10.0, b, 3);
            let g: Vec<f64> = std::iter::once(o[0])
                .chain(o.windows(2).map(|w| w[1] - w[0]))
                .collect();
            let mean = g.iter().sum::<f64>() / g.len() as f64;
            let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
            (mean, var.sqrt() / mean)
        };
        for b in [0.25, 1.0, 4.0] {
            let (mean, cv) = gaps(b);
            assert!(
                (mean - 0.1).abs() < 0.005,
                "burstiness {b}: mean gap {mean}"
            );
            // Gamma's coefficient of variation is 1/sqrt(shape).
            assert!((cv - 1.0 / b.sqrt()).abs() < 0.1, "burstiness {b}: cv {cv}");
        }
    }

    #[test]
    fn every_schedule_offers_exactly_the_requested_rate() {
        for seed in 1..20 {
            for arrival in [Arrival::Poisson, Arrival::Constant] {
                let o = offsets(arrival, 60, 8.125, 1.0, seed, &[]).expect("offsets");
                let offered = offered_rate(&o).expect("rate");
                assert!(
                    (offered - 8.125).abs() < 1e-9,
                    "{arrival:?} seed {seed}: {offered}"
                );
            }
            // The unscaled draw is what made the records overstate the load.
            let raw = offered_rate(&poisson_offsets(60, 8.125, seed)).expect("rate");
            assert!(raw.is_finite());
        }
        let bursty = offsets(Arrival::Poisson, 100, 4.0, 0.25, 7, &[]).expect("offsets");
        assert!((offered_rate(&bursty).expect("rate") - 4.0).abs() < 1e-9);
    }

    #[test]
    fn infinite_rate_is_a_burst() {
        assert_eq!(poisson_offsets(3, f64::INFINITY, 1), [0.0, 0.0, 0.0]);
    }
}
