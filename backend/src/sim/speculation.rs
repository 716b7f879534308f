//! Speculative decoding in the simulator (EAGLE and friends): each verify step runs the draft
//! model for `--speculative-num-steps` tokens, and the target model accepts a prefix of them plus
//! one token of its own. Each drafted token is accepted with a probability that a wider draft tree
//! (`--speculative-eagle-topk`) raises, and the first rejection ends the step, so every sequence's
//! accept length varies from step to step around a mean of 2.3 (3 steps, top-k 1) to 3.7 (5 steps,
//! top-k 4), the range EAGLE reports on chat models. The engine counts what it accepts
//! ([`AcceptStats`]) and the server reports the average as SGLang does
//! (`/server_info` → `internal_states[0].avg_spec_accept_length`) and as vLLM does (its
//! `spec_decode` counters on `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;

use super::args::SimArgs;

/// A speculative-decoding setting as the simulator models it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Speculation {
    /// Draft tokens proposed per verify step (`--speculative-num-steps`).
    pub steps: u32,
    /// The chance that each drafted token is accepted, given the ones before it were.
    pub accept_prob: f64,
    /// At most this many drafted tokens are accepted (`--speculative-num-draft-tokens` - 1).
    pub max_accepted: u32,
    /// A verify step's cost over a plain decode step (the draft model's passes).
    pub cost_factor: f64,
}

impl Speculation {
    /// The setting of a launch, `None` without `--speculative-algorithm`.
    pub(crate) fn from_args(args: &SimArgs) -> Option<Speculation> {
        args.text("speculative-algorithm")?;
        let steps = args.number("speculative-num-steps").unwrap_or(3.0).max(1.0);
        let draft_tokens = args
            .number("speculative-num-draft-tokens")
            .unwrap_or(steps + 1.0)
            .max(2.0);
        let topk = args
            .number("speculative-eagle-topk")
            .unwrap_or(1.0)
            .max(1.0);
        Some(Speculation {
            steps: steps as u32,
            accept_prob: 0.6 + 0.05 * topk.min(4.0),
            max_accepted: (steps.min(draft_tokens - 1.0)) as u32,
            cost_factor: 1.0 + 0.15 * steps + 0.02 * draft_tokens,
        })
    }

    /// Tokens one verify step emits for one sequence: the accepted prefix of its drafts, then
    /// the target model's own token.
    pub(crate) fn draw(&self, rng: &mut impl Rng) -> u64 {
        let mut accepted = 0;
        while accepted < self.max_accepted && rng.random::<f64>() < self.accept_prob {
            accepted += 1;
        }
        1 + u64::from(accepted)
    }

    /// The mean of [`Speculation::draw`]: 1 + p + p² + ... up to the cap.
    #[cfg(test)]
    pub(crate) fn mean_accept_length(&self) -> f64 {
        1.0 + (1..=self.max_accepted)
            .map(|k| self.accept_prob.powi(k as i32))
            .sum::<f64>()
    }
}

/// What the engine accepted since the server started: verify steps of sequences and the tokens
/// they emitted (shared between the engine and the HTTP handlers).
#[derive(Debug, Default)]
pub(crate) struct AcceptStats {
    steps: AtomicU64,
    tokens: AtomicU64,
}

impl AcceptStats {
    /// One sequence's verify step that emitted `tokens`.
    pub(crate) fn record(&self, tokens: u64) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// The average accept length (tokens per verify step), `None` before the first step.
    pub(crate) fn average(&self) -> Option<f64> {
        let steps = self.steps.load(Ordering::Relaxed);
        (steps > 0).then(|| self.tokens.load(Ordering::Relaxed) as f64 / steps as f64)
    }

    /// vLLM's counters: drafts (verify steps) and accepted draft tokens.
    pub(crate) fn vllm_counters(&self) -> (u64, u64) {
        let steps = self.steps.load(Ordering::Relaxed);
        let tokens = self.tokens.load(Ordering::Relaxed);
        (steps, tokens.saturating_sub(steps))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn setting(flags: &str) -> Option<Speculation> {
        let argv: Vec<String> = flags.split(' ').map(String::from).collect();
        Speculation::from_args(&SimArgs::parse(&argv).expect("flags"))
    }

    #[test]
    fn accept_lengths_vary_around_a_mean_that_deeper_wider_drafts_raise() {
        assert_eq!(setting("--model-path m"), None);
        let small = setting("--model-path m --speculative-algorithm EAGLE").expect("eagle");
        let big = setting(
            "--model-path m --speculative-algorithm EAGLE --speculative-num-steps 5 --speculative-eagle-topk 4 --speculative-num-draft-tokens 8",
        )
        .expect("eagle");
        assert!(
            (2.2..2.5).contains(&small.mean_accept_length()),
            "{small:?}"
        );
        assert!((3.5..3.9).contains(&big.mean_accept_length()), "{big:?}");
        let stats = AcceptStats::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws: Vec<u64> = (0..20_000).map(|_| small.draw(&mut rng)).collect();
        for tokens in &draws {
            stats.record(*tokens);
        }
        assert!(draws.iter().all(|t| (1..=4).contains(t)));
        assert!(draws.contains(&1) && draws.contains(&4), "it varies");
        let average = stats.average().expect("steps");
        assert!(
            (average - small.mean_accept_length()).abs() < 0.03,
            "{average}"
        );
        let (drafts, accepted) = stats.vllm_counters();
        assert_eq!(drafts, 20_000);
        assert!((1.0 + accepted as f64 / drafts as f64 - average).abs() < 1e-9);
    }
}
