//! How sure a verdict is: distribution-free confidence bounds for the statistics an SLA limits.
//!
//! - A percentile limit "p99 ≤ L" holds when the share `p` of requests above `L` is at most 1%.
//!   With `k` of `n` requests above `L`, the exact (Clopper-Pearson) binomial bounds on `p` say
//!   whether that is shown, refuted, or not decided at the chosen confidence. No assumption about
//!   the latency distribution is made (this is the order-statistic argument in another form).
//! - The same binomial bounds give a distribution-free interval for the percentile itself: the
//!   order statistics `X(r) ≤ ξq ≤ X(s)`.
//! - A success-rate floor uses the Wilson score interval.
//! - A mean limit uses the normal approximation of the sample mean (`mean ± z·sd/√n`).
//!
//! All bounds here are one-sided at the given confidence (e.g. 0.95), so "shown to pass" and
//! "shown to fail" are each wrong at most 5% of the time.

use serde::{Deserialize, Serialize};

/// Whether a limit holds, as far as the sample can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Shown to hold at the confidence level.
    Pass,
    /// Shown to be broken at the confidence level.
    Fail,
    /// The sample cannot tell.
    Inconclusive,
}

/// `ln C(n, k)`.
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Lanczos approximation of `ln Γ(x)` for `x > 0` (about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let sum = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// `P(Bin(n, p) ≤ k)`, from `statrs` (the regularised incomplete beta function). The exact sum it
/// replaced agreed to 7.4e-12 on 204 cases (n from 10 to 20,000, p from 0.001 to 0.5, k up to
/// three times the mean) and took 85 times as long (727 ms against 8.5 ms for 40,800 calls, release
/// build, 2026-12-08): the verdict's stop rules call it on every check of a long trial.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    use statrs::distribution::{Binomial, DiscreteCDF};
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    // `p` is strictly inside (0, 1) here, which the constructor accepts.
    Binomial::new(p, n).map_or(1.0, |b| b.cdf(k).clamp(0.0, 1.0))
}

/// Solves a monotone decreasing `f(p) = target` on `[0, 1]` by bisection.
fn solve_decreasing(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// One-sided upper confidence bound on a proportion after `k` events in `n` trials (exact).
pub fn proportion_upper(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    solve_decreasing(|p| binomial_cdf(k, n, p), 1.0 - confidence)
}

/// One-sided lower confidence bound on a proportion after `k` events in `n` trials (exact).
pub fn proportion_lower(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k == 0 {
        return 0.0;
    }
    // P(Bin(n, p) ≥ k) = 1 - P(Bin ≤ k-1) rises with p; the bound is where it reaches 1 - c.
    solve_decreasing(|p| binomial_cdf(k - 1, n, p), confidence)
}

/// Whether "at most `allowed_share` of requests exceed the limit" holds, with `exceeding` of `n`
/// over it.
pub fn share_decision(exceeding: u64, n: u64, allowed_share: f64, confidence: f64) -> Decision {
    if proportion_upper(exceeding, n, confidence) <= allowed_share {
        Decision::Pass
    } else if proportion_lower(exceeding, n, confidence) > allowed_share {
        Decision::Fail
    } else {
        Decision::Inconclusive
    }
}

/// `P(Bin(n, p) = k)`.
fn binomial_pmf(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if p >= 1.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    (ln_choose(n, k) + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp()
}

/// The two-sided distribution-free interval for the `q`-quantile of a sorted sample (each side
/// at `(1 + confidence) / 2`): order statistics `X(r) ≤ ξq ≤ X(s)`. A side is `None` when the
/// sample is too small to bound it (a p99 from 60 requests has no upper bound).
pub fn quantile_interval(sorted: &[f64], q: f64, confidence: f64) -> (Option<f64>, Option<f64>) {
    let n = sorted.len() as u64;
    if n == 0 {
        return (None, None);
    }
    let tail = (1.0 - confidence) / 2.0;
    // cdf[i] = P(Bin(n, q) ≤ i), accumulated once.
    let mut cdf = Vec::with_capacity(sorted.len() + 1);
    let mut total = 0.0;
    for i in 0..=n {
        total += binomial_pmf(i, n, q);
        cdf.push(total.min(1.0));
    }
    let at = |rank: u64| {
        sorted
            .get(usize::try_from(rank.checked_sub(1)?).ok()?)
            .copied()
    };
    // Lower: the largest r with P(X(r) > ξ) = P(Bin(n, q) ≤ r - 1) ≤ tail.
    let lower = (1..=n).take_while(|r| cdf[(r - 1) as usize] <= tail).last();
    // Upper: the smallest s with P(X(s) < ξ) = P(Bin(n, q) ≥ s) ≤ tail.
    let upper = (1..=n).find(|s| 1.0 - cdf[(s - 1) as usize] <= tail);
    (lower.and_then(at), upper.and_then(at))
}

/// The standard normal quantile, from `statrs` (it agreed with the Acklam approximation it
/// replaced to 2.9e-9 over p = 0.001..0.999).
pub fn normal_quantile(p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    Normal::standard().inverse_cdf(p)
}

/// One-sided Wilson score bounds `(lower, upper)` on a success proportion.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = normal_quantile(confidence);
    let n = n as f64;
    let p = successes as f64 / n;
    let centre = p + z * z / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z * z / n;
    (
        ((centre - spread) / denominator).max(0.0),
        ((centre + spread) / denominator).min(1.0),
    )
}

/// One-sided bounds `(lower, upper)` on a mean from the sample's mean, population std and size.
pub fn mean_bounds(mean: f64, std: f64, n: usize, confidence: f64) -> (f64, f64) {
    if n < 2 {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    let n = n as f64;
    // Sample (n - 1) standard deviation from the population one.
    let sd = std * (n / (n - 1.0)).sqrt();
    let half = normal_quantile(confidence) * sd / n.sqrt();
    (mean - half, mean + half)
}

/// How strongly successive values cluster: the variance inflation of their mean, `τ = m ·
/// Var(batch means) / Var(values)` over ten consecutive batches of `m = n / 10` values (the
/// batch-means estimate of the integrated autocorrelation time). Independent values give about 1;
/// latencies of requests that shared a congested moment (an LLM server's batch) give more, and a
/// sample of `n` such values carries about as much information as `n / τ` independent ones.
/// Never below 1, at most `m`; 1 when the sample is too small to tell (under 40 values).
pub fn clustering(values_in_order: &[f64]) -> f64 {
    const BATCHES: usize = 10;
    let m = values_in_order.len() / BATCHES;
    if m < 4 {
        return 1.0;
    }
    let used = &values_in_order[..BATCHES * m];
    let mean = used.iter().sum::<f64>() / used.len() as f64;
    let variance = used.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (used.len() - 1) as f64;
    if variance <= 0.0 || !variance.is_finite() {
        return 1.0;
    }
    let between = used
        .chunks(m)
        .map(|c| (c.iter().sum::<f64>() / m as f64 - mean).powi(2))
        .sum::<f64>()
        / (BATCHES - 1) as f64;
    (m as f64 * between / variance).clamp(1.0, m as f64)
}

/// [`share_decision`] for a clustered sample: `exceeding` of `n` values over the limit, with
/// clustering `tau` ([`clustering`]), judged as `exceeding / τ` of `n / τ` independent values
/// (rounded against the claim being made, so clustering never makes a verdict bolder).
pub fn clustered_share_decision(
    exceeding: u64,
    n: u64,
    tau: f64,
    allowed_share: f64,
    confidence: f64,
) -> Decision {
    let tau = tau.max(1.0);
    let scaled = |count: u64| count as f64 / tau;
    // Pass needs a small upper bound: round the events up and the sample down.
    let pass_k = (scaled(exceeding).ceil() as u64).min(n);
    let pass_n = (scaled(n).floor() as u64).max(pass_k);
    // Fail needs a large lower bound: round the events down and the sample up.
    let fail_k = scaled(exceeding).floor() as u64;
    let fail_n = (scaled(n).ceil() as u64).max(fail_k);
    if pass_n > 0 && proportion_upper(pass_k, pass_n, confidence) <= allowed_share {
        Decision::Pass
    } else if fail_k > 0 && proportion_lower(fail_k, fail_n, confidence) > allowed_share {
        Decision::Fail
    } else {
        Decision::Inconclusive
    }
}

/// [`quantile_interval`] for a clustered sample: the ranks are those of `n / τ` independent values,
/// scaled back to the sample (so the interval widens by about `√τ`).
pub fn clustered_quantile_interval(
    sorted: &[f64],
    q: f64,
    confidence: f64,
    tau: f64,
) -> (Option<f64>, Option<f64>) {
    let n = sorted.len();
    let effective = ((n as f64 / tau.max(1.0)).floor() as usize).clamp(1.min(n), n);
    if effective == n {
        return quantile_interval(sorted, q, confidence);
    }
    // The effective sample's order statistics, read at the same quantile positions of the sample.
    let thinned: Vec<f64> = (1..=effective)
        .map(|rank| {
            let position = rank as f64 / (effective + 1) as f64 * (n + 1) as f64;
            sorted[(position.round() as usize).clamp(1, n) - 1]
        })
        .collect();
    quantile_interval(&thinned, q, confidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_bounds_match_known_values() {
        // Zero events in n: the exact one-sided 95% upper bound is 1 - 0.05^(1/n).
        for n in [60_u64, 299, 1000] {
            let exact = 1.0 - 0.05_f64.powf(1.0 / n as f64);
            assert!((proportion_upper(0, n, 0.95) - exact).abs() < 1e-9, "n={n}");
        }
        // 10 of 100: Clopper-Pearson one-sided 95% bounds are about 0.0553 and 0.1637.
        assert!((proportion_lower(10, 100, 0.95) - 0.0553).abs() < 5e-4);
        assert!((proportion_upper(10, 100, 0.95) - 0.1637).abs() < 5e-4);
        assert!((binomial_cdf(3, 10, 0.5) - 0.171_875).abs() < 1e-12);
    }

    #[test]
    fn a_p99_needs_enough_requests_to_be_shown() {
        // With 60 requests even zero slow ones cannot show that at most 1% are slow.
        assert_eq!(share_decision(0, 60, 0.01, 0.95), Decision::Inconclusive);
        // 299 clean requests can.
        assert_eq!(share_decision(0, 299, 0.01, 0.95), Decision::Pass);
        // 5 of 60 over the limit is a clear failure.
        assert_eq!(share_decision(5, 60, 0.01, 0.95), Decision::Fail);
        // A median limit decides fast.
        assert_eq!(share_decision(10, 60, 0.5, 0.95), Decision::Pass);
    }

    #[test]
    fn the_quantile_interval_brackets_the_estimate() {
        let sample: Vec<f64> = (1..=1000).map(f64::from).collect();
        let (lo, hi) = quantile_interval(&sample, 0.5, 0.95);
        let (lo, hi) = (lo.expect("lower"), hi.expect("upper"));
        assert!(lo < 500.5 && 500.5 < hi, "{lo}..{hi}");
        assert!(
            (lo - 469.0).abs() <= 2.0 && (hi - 532.0).abs() <= 2.0,
            "{lo}..{hi}"
        );
        // 60 samples cannot bound a p99 from above.
        let small: Vec<f64> = (1..=60).map(f64::from).collect();
        assert_eq!(quantile_interval(&small, 0.99, 0.95).1, None);
    }

    #[test]
    fn clustering_is_about_one_for_independent_values_and_large_for_runs() {
        // A fixed pseudo-random sequence (a linear congruential generator).
        let mut state = 12_345_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1_u64 << 53) as f64
        };
        let independent: Vec<f64> = (0..2000).map(|_| next()).collect();
        let tau = clustering(&independent);
        assert!((0.99..2.0).contains(&tau), "{tau}");
        // Each value repeated 20 times: 20 requests that shared one moment.
        let runs: Vec<f64> = (0..100)
            .flat_map(|_| std::iter::repeat_n(next(), 20))
            .collect();
        let tau = clustering(&runs);
        assert!(tau > 10.0, "{tau}");
        assert_eq!(clustering(&[1.0; 30]), 1.0);
    }

    #[test]
    fn clustered_samples_decide_on_their_effective_size() {
        // (over the limit, of n, τ, decision on a p99 at 95%): 0 of 600 shows a p99 with
        // independent requests, not with τ = 20; one burst of 20 slow requests is shown to fail
        // if independent, not if clustered; many bursts still fail.
        let cases = [
            (0, 600, 1.0, Decision::Pass),
            (0, 600, 20.0, Decision::Inconclusive),
            (20, 600, 1.0, Decision::Fail),
            (20, 600, 20.0, Decision::Inconclusive),
            (200, 600, 20.0, Decision::Fail),
        ];
        for (over, n, tau, expected) in cases {
            assert_eq!(
                clustered_share_decision(over, n, tau, 0.01, 0.95),
                expected,
                "{over} of {n}, tau {tau}"
            );
        }
        assert_eq!(share_decision(20, 600, 0.01, 0.95), Decision::Fail);
        let sample: Vec<f64> = (1..=1000).map(f64::from).collect();
        let (lo, hi) = quantile_interval(&sample, 0.5, 0.95);
        let (clo, chi) = clustered_quantile_interval(&sample, 0.5, 0.95, 10.0);
        let width = hi.expect("hi") - lo.expect("lo");
        let clustered = chi.expect("hi") - clo.expect("lo");
        assert!(clustered > 2.5 * width, "{width} vs {clustered}");
        assert_eq!(
            clustered_quantile_interval(&sample, 0.5, 0.95, 1.0),
            (lo, hi)
        );
    }

    #[test]
    fn normal_and_wilson() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.95) - 1.644_854).abs() < 1e-6);
        let (lo, hi) = wilson(95, 100, 0.95);
        assert!(
            lo > 0.90 && lo < 0.95 && hi > 0.95 && hi <= 1.0,
            "{lo} {hi}"
        );
        let (lo, hi) = mean_bounds(100.0, 10.0, 100, 0.95);
        assert!((hi - 100.0 - 1.644_854 * 10.0 * (100.0_f64 / 99.0).sqrt() / 10.0).abs() < 1e-6);
        assert!(lo < 100.0);
    }
}
