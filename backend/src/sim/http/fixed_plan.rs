//! The fixed-latency mode's streams: each token's due time (exact at both ends, on a shared grid
//! between) and its SSE payload, with the per-word chunks serialised once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use serde_json::json;

use super::chunks::{Chunks, WORDS, sse};
use super::request::Api;

/// The step of the grid that a fixed-latency stream's middle tokens go out on.
pub(super) const TOKEN_GRID: Duration = Duration::from_millis(1);

/// Where the token grid starts (the first fixed-latency stream).
static GRID_EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// A fixed-latency stream, decided when its request arrives and kept cheap so the simulator is
/// never the bottleneck of a client calibration: token `i` (from 0) is due at
/// `start + ttft + i * itl`, and the last token's payload also carries the tail (the usage chunk
/// when asked for, and `[DONE]`), as one write. OpenAI delta chunks are serialised once per
/// distinct word and then shared; the others are built when due. The fixed-mode server
/// ([`crate::sim::fixed_server`]) hands the plan to its token writers; the response body made from it
/// ([`FixedPlan::into_body`]) serves the same bytes through any other HTTP server.
pub(crate) struct FixedPlan {
    start: Instant,
    ttft: Duration,
    itl: Duration,
    pub(super) chunks: Chunks,
    cached: Vec<Bytes>,
    usage: bool,
}

impl FixedPlan {
    pub(super) fn new(
        chunks: Chunks,
        start: Instant,
        ttft: Duration,
        itl: Duration,
        usage: bool,
    ) -> Self {
        let cached = if chunks.api == Api::Native {
            Vec::new()
        } else {
            word_chunks(&chunks)
        };
        Self {
            start,
            ttft,
            itl,
            chunks,
            cached,
            usage,
        }
    }

    /// How many payloads (tokens) the stream has.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.chunks.output).unwrap_or(usize::MAX)
    }

    /// When payload `index` goes out. The first and the last token go out exactly when due, so
    /// TTFT and TPOT are what the mode promises; the tokens between go out at their due time
    /// rounded up to the next [`TOKEN_GRID`] step, shared by every stream. A real server emits
    /// one token for every running request at each decode step; here the grid does the same,
    /// and bounds the writes' wake-ups (and the client's) to one per step however many streams
    /// run.
    pub(crate) fn due(&self, index: usize) -> Instant {
        let due = self.start + self.ttft + self.itl * u32::try_from(index).unwrap_or(u32::MAX);
        if index == 0 || index + 1 >= self.len() {
            return due;
        }
        let epoch = *GRID_EPOCH.get_or_init(Instant::now);
        let step = TOKEN_GRID.as_nanos();
        let since = due.saturating_duration_since(epoch).as_nanos();
        let steps = u32::try_from(since.div_ceil(step)).unwrap_or(u32::MAX);
        epoch + TOKEN_GRID * steps
    }

    /// The SSE text of payload `index` (token `index + 1`; the last one with the tail).
    pub(crate) fn payload(&self, index: usize) -> Bytes {
        let n = index as u64 + 1;
        if n < self.chunks.output
            && let Some(bytes) = self.cached.get(index % WORDS.len())
        {
            return bytes.clone();
        }
        let token = sse(&self.chunks.chunk(n - 1, n));
        if n < self.chunks.output {
            return token;
        }
        let mut last = token.to_vec();
        last.extend_from_slice(&fixed_tail(&self.chunks, self.usage));
        Bytes::from(last)
    }

    /// The plan as a response body, each payload sent at its due time.
    pub(super) fn into_body(self: Arc<Self>) -> Body {
        let stream = futures_util::stream::unfold(0_usize, move |index| {
            let plan = Arc::clone(&self);
            async move {
                if index >= plan.len() {
                    return None;
                }
                crate::timer::sleep_until(plan.due(index)).await;
                Some((Ok::<_, std::io::Error>(plan.payload(index)), index + 1))
            }
        });
        Body::from_stream(stream)
    }
}

/// One SSE delta chunk per word of [`WORDS`] (not the last, which carries `finish_reason`): one
/// chunk is serialised and the others are made by swapping its word, instead of building a JSON
/// value per word for every request.
fn word_chunks(chunks: &Chunks) -> Vec<Bytes> {
    let key = if chunks.api == Api::Chat {
        "\"content\":"
    } else {
        "\"text\":"
    };
    let first = format!("data: {}\n\n", chunks.chunk(0, 1));
    let needle = format!("{key}\"{}\"", WORDS[0]);
    match first.find(&needle) {
        Some(at) => {
            let (head, tail) = (&first[..at], &first[at + needle.len()..]);
            WORDS
                .iter()
                .map(|word| Bytes::from(format!("{head}{key}\"{word}\"{tail}")))
                .collect()
        }
        None => (0..WORDS.len() as u64)
            .map(|i| sse(&chunks.chunk(i, i + 1)))
            .collect(),
    }
}

/// After the last token: the usage chunk (when asked for) and `[DONE]`.
fn fixed_tail(chunks: &Chunks, usage: bool) -> Vec<u8> {
    let mut tail = Vec::new();
    if usage && chunks.api != Api::Native {
        let final_usage = json!({"id": chunks.id, "object": "chunk", "model": chunks.model, "choices": [], "usage": chunks.usage(chunks.output)});
        tail.extend_from_slice(&sse(&final_usage));
    }
    tail.extend_from_slice(b"data: [DONE]\n\n");
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_plan_is_exact_at_both_ends_and_on_the_grid_between() {
        let chunks = Chunks {
            api: Api::Chat,
            model: "m".into(),
            prompt: 4,
            output: 6,
            id: "c".into(),
        };
        let (ttft, itl) = (Duration::from_micros(20_300), Duration::from_micros(2_100));
        let plan = FixedPlan::new(chunks, Instant::now(), ttft, itl, true);
        let exact = |index: u32| plan.start + ttft + itl * index;
        assert_eq!(plan.due(0), exact(0));
        assert_eq!(plan.due(5), exact(5));
        // A time between the ends sets the grid's epoch (when no earlier test in this process did).
        let _ = plan.due(1);
        let epoch = *GRID_EPOCH
            .get()
            .expect("grid epoch set by the first due time");
        for index in 1..5 {
            let due = plan.due(index as usize);
            assert!(due >= exact(index) && due < exact(index) + TOKEN_GRID);
            assert_eq!((due - epoch).as_nanos() % TOKEN_GRID.as_nanos(), 0);
        }
        let last = String::from_utf8_lossy(&plan.payload(5)).to_string();
        assert!(last.contains("\"finish_reason\":\"length\""), "{last}");
        assert!(last.contains("\"completion_tokens\":6") && last.ends_with("data: [DONE]\n\n"));
        let second = String::from_utf8_lossy(&plan.payload(1)).to_string();
        assert!(second.contains("\"content\":\" model\"") && second.ends_with("}\n\n"));
    }

    #[test]
    fn word_chunks_match_serialising_each_chunk() {
        for api in [Api::Completions, Api::Chat] {
            let chunks = Chunks {
                api,
                model: "m the".into(),
                prompt: 4,
                output: 32,
                id: "cmpl-1".into(),
            };
            let expected: Vec<Bytes> = (0..WORDS.len() as u64)
                .map(|i| sse(&chunks.chunk(i, i + 1)))
                .collect();
            assert_eq!(word_chunks(&chunks), expected);
        }
    }
}
