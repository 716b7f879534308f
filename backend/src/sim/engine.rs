//! The simulated scheduler loop of one data-parallel replica: admits waiting requests while the
//! batch cap and KV pool allow, runs chunked prefill steps (which pause decoding) before decode
//! steps, sleeps each step's modelled duration on an absolute clock, and streams each request's
//! token count to its HTTP handler. With `--sim-noise-pct`, each step's duration is multiplied by a
//! seeded log-normal factor with mean 1, so repeated measurements of one point differ as on a real
//! GPU. The loop only uses tokio's clock, so under a paused clock it runs in virtual time
//! ([`super::truth`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::model::GpuModel;
use super::speculation::{AcceptStats, Speculation};

/// A request handed to the engine.
#[derive(Debug)]
pub(super) struct SimRequest {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Tokens to generate.
    pub output_tokens: u64,
    /// Receives the cumulative generated-token count after each step that produced a token.
    pub tokens: mpsc::UnboundedSender<u64>,
}

struct Active {
    request: SimRequest,
    prefilled: u64,
    generated: u64,
}

impl Active {
    fn context(&self) -> u64 {
        self.request.prompt_tokens + self.generated
    }
    /// Prompt tokens still to prefill (at least 1, so an empty prompt still takes a step).
    fn unprefilled(&self) -> u64 {
        self.request
            .prompt_tokens
            .saturating_sub(self.prefilled)
            .max(1)
    }
    fn reservation(&self) -> u64 {
        self.request.prompt_tokens + self.request.output_tokens
    }
}

/// Seeded step-duration noise: a log-normal factor with mean 1.
pub(super) struct StepNoise {
    sigma: f64,
    rng: rand::rngs::StdRng,
}

impl StepNoise {
    /// Noise of the model's relative size, seeded with its seed and `stream` (one per replica).
    pub(super) fn new(model: &GpuModel, stream: u64) -> StepNoise {
        use rand::SeedableRng;
        // A log-normal with this sigma has the model's relative standard deviation.
        let sigma = (1.0 + model.noise * model.noise).ln().sqrt();
        StepNoise {
            sigma,
            rng: rand::rngs::StdRng::seed_from_u64(
                model.noise_seed.wrapping_mul(1_000_003) + stream,
            ),
        }
    }

    /// Tokens one sequence's verify step emits under `speculation` (drawn from the same seeded
    /// stream, so a seed replays the same run).
    fn accepted(&mut self, speculation: &Speculation) -> u64 {
        speculation.draw(&mut self.rng)
    }

    /// The next step's factor.
    pub(super) fn factor(&mut self) -> f64 {
        use rand::Rng;
        if self.sigma == 0.0 {
            return 1.0;
        }
        let u1: f64 = self.rng.random_range(f64::MIN_POSITIVE..1.0);
        let u2: f64 = self.rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (self.sigma * z - self.sigma * self.sigma / 2.0).exp()
    }
}

/// Runs the engine until the request channel closes.
pub(super) async fn run(
    model: GpuModel,
    mut arrivals: mpsc::UnboundedReceiver<SimRequest>,
    mut noise: StepNoise,
    accept: Arc<AcceptStats>,
) {
    let mut waiting: VecDeque<Active> = VecDeque::new();
    let mut prefilling: VecDeque<Active> = VecDeque::new();
    let mut running: Vec<Active> = Vec::new();
    let mut kv_used: u64 = 0;
    let mut clock = Instant::now();
    loop {
        while let Ok(request) = arrivals.try_recv() {
            waiting.push_back(Active {
                request,
                prefilled: 0,
                generated: 0,
            });
        }
        drop_abandoned(&mut waiting, &mut prefilling, &mut kv_used);
        if waiting.is_empty() && prefilling.is_empty() && running.is_empty() {
            match arrivals.recv().await {
                Some(request) => waiting.push_back(Active {
                    request,
                    prefilled: 0,
                    generated: 0,
                }),
                None => return,
            }
            clock = Instant::now();
            continue;
        }
        admit(
            &model,
            &mut waiting,
            &mut prefilling,
            running.len(),
            &mut kv_used,
        );
        let step_ms = noise.factor()
            * if prefilling.is_empty() {
                let context: u64 = running.iter().map(Active::context).sum();
                model.decode_ms(running.len(), context, waiting.len())
            } else {
                let pieces = prefill_pieces(&model, &prefilling);
                model.prefill_ms(&pieces, waiting.len())
            };
        clock = (clock + Duration::from_secs_f64(step_ms / 1000.0))
            .max(Instant::now() - Duration::from_millis(2));
        tokio::time::sleep_until(clock).await;
        if prefilling.is_empty() {
            let mut emitted = || match &model.speculation {
                Some(speculation) => {
                    let tokens = noise.accepted(speculation);
                    accept.record(tokens);
                    tokens
                }
                None => 1,
            };
            decode_step(&mut running, &mut kv_used, &mut emitted);
        } else {
            prefill_step(&model, &mut prefilling, &mut running, &mut kv_used);
        }
    }
}

/// Drops the queued and prefilling requests whose client went away, as SGLang's and vLLM's
/// schedulers abort a request on disconnect: a trial that stopped early leaves no backlog of
/// abandoned work to slow the next one. (Running requests are dropped at their next token.)
fn drop_abandoned(
    waiting: &mut VecDeque<Active>,
    prefilling: &mut VecDeque<Active>,
    kv_used: &mut u64,
) {
    waiting.retain(|active| !active.request.tokens.is_closed());
    prefilling.retain(|active| {
        let alive = !active.request.tokens.is_closed();
        if !alive {
            *kv_used = kv_used.saturating_sub(active.reservation());
        }
        alive
    });
}

fn admit(
    model: &GpuModel,
    waiting: &mut VecDeque<Active>,
    prefilling: &mut VecDeque<Active>,
    running: usize,
    kv_used: &mut u64,
) {
    while let Some(next) = waiting.front() {
        let batch = running + prefilling.len();
        let need = next.reservation();
        let fits = *kv_used + need <= model.kv_capacity || (batch == 0 && *kv_used == 0);
        if batch >= model.max_running || !fits {
            break;
        }
        *kv_used += need;
        if let Some(active) = waiting.pop_front() {
            prefilling.push_back(active);
        }
    }
}

/// The (cached, new) token pieces the next prefill step processes, up to the chunk budget.
fn prefill_pieces(model: &GpuModel, prefilling: &VecDeque<Active>) -> Vec<(u64, u64)> {
    let mut budget = model.chunk_tokens;
    let mut pieces = Vec::new();
    for active in prefilling {
        if budget == 0 {
            break;
        }
        let remaining = active.unprefilled();
        let take = remaining.min(budget);
        pieces.push((active.prefilled, take));
        budget -= take;
    }
    pieces
}

fn prefill_step(
    model: &GpuModel,
    prefilling: &mut VecDeque<Active>,
    running: &mut Vec<Active>,
    kv_used: &mut u64,
) {
    let mut budget = model.chunk_tokens;
    while budget > 0 {
        let Some(active) = prefilling.front_mut() else {
            break;
        };
        let remaining = active.unprefilled();
        let take = remaining.min(budget);
        active.prefilled += take;
        budget -= take;
        if active.prefilled < active.request.prompt_tokens {
            break;
        }
        if let Some(mut done) = prefilling.pop_front() {
            done.generated = 1;
            if done.request.tokens.send(1).is_ok() && done.request.output_tokens > 1 {
                running.push(done);
            } else {
                *kv_used = kv_used.saturating_sub(done.reservation());
            }
        }
    }
}

/// One decode (or verify) step of every running sequence; `emitted()` is how many tokens a
/// sequence gets from it.
fn decode_step(running: &mut Vec<Active>, kv_used: &mut u64, emitted: &mut impl FnMut() -> u64) {
    running.retain_mut(|active| {
        active.generated = (active.generated + emitted()).min(active.request.output_tokens);
        let alive = active.request.tokens.send(active.generated).is_ok();
        let keep = alive && active.generated < active.request.output_tokens;
        if !keep {
            *kv_used = kv_used.saturating_sub(active.reservation());
        }
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Virtual seconds until the first token of a request sent after `abandoned` requests whose
    /// clients went away before they were served.
    async fn first_token_after(abandoned: usize) -> f64 {
        let argv: Vec<String> =
            "--model-path m --chunked-prefill-size 512 --max-running-requests 1"
                .split(' ')
                .map(String::from)
                .collect();
        let model = super::super::truth::model(&argv).expect("model");
        let noise = StepNoise::new(&model, 0);
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = tokio::spawn(run(model, rx, noise, Arc::default()));
        let request = |tokens| SimRequest {
            prompt_tokens: 4096,
            output_tokens: 4,
            tokens,
        };
        // One request keeps the batch busy, so the abandoned ones wait in the queue.
        let (busy_tx, mut busy_rx) = mpsc::unbounded_channel();
        tx.send(request(busy_tx)).expect("send");
        for _ in 0..abandoned {
            let (gone_tx, gone_rx) = mpsc::unbounded_channel();
            drop(gone_rx);
            tx.send(request(gone_tx)).expect("send");
        }
        let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
        let sent = Instant::now();
        tx.send(request(probe_tx)).expect("send");
        while busy_rx.recv().await.is_some() {}
        probe_rx.recv().await.expect("a first token");
        engine.abort();
        sent.elapsed().as_secs_f64()
    }

    #[tokio::test(start_paused = true)]
    async fn requests_whose_client_went_away_are_not_served() {
        let alone = first_token_after(0).await;
        let behind_abandoned = first_token_after(20).await;
        assert!(alone > 0.0);
        assert!(
            (behind_abandoned - alone).abs() < 1e-6,
            "20 abandoned prefills must not delay the next request: {alone} s alone, {behind_abandoned} s behind them"
        );
    }
}
