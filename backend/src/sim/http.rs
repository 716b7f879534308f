//! The simulated server's HTTP API, in SGLang's shapes: `/health`, `/v1/models`,
//! `/get_model_info`, `/server_info`, `/flush_cache`, native `/generate`, and OpenAI
//! `/v1/completions` and `/v1/chat/completions` with SSE streaming and `usage`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::engine::SimRequest;

/// Shared server state.
pub struct SimState {
    /// Model path as launched.
    pub model_path: String,
    /// Name served in `/v1/models`.
    pub served_name: String,
    /// Launch flags for `/server_info`.
    pub flags: Value,
    /// One sender per data-parallel replica.
    pub replicas: Vec<mpsc::UnboundedSender<SimRequest>>,
    /// Round-robin cursor.
    pub next_replica: AtomicUsize,
    /// Tokenizer for prompt lengths, when the model folder has one.
    pub tokenizer: Option<tokenizers::Tokenizer>,
    /// Fixed-latency mode: (TTFT, inter-token delay).
    pub fixed: Option<(Duration, Duration)>,
    /// Behave like `transformers serve`: no SGLang endpoints, an empty `/v1/models`, 422 for
    /// unknown request fields, no `usage` while streaming.
    pub strict_openai: bool,
    /// Every Nth generation request fails with a CUDA out-of-memory error (logged, and an error
    /// chunk in the stream), as a real server can OOM mid-run on a long prompt.
    pub runtime_oom_every: Option<u64>,
    /// Generation requests served so far.
    pub served: AtomicUsize,
}

/// Request fields a strict OpenAI server (`transformers serve`) accepts; others get a 422.
const STRICT_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "n",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "user",
];

/// The router.
pub fn router(state: Arc<SimState>) -> Router {
    if state.strict_openai {
        return Router::new()
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route(
                "/v1/models",
                get(|| async { Json(json!({"object": "list", "data": []})) }),
            )
            .route("/v1/completions", post(completions))
            .route("/v1/chat/completions", post(chat))
            .with_state(state);
    }
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/health_generate", get(|| async { StatusCode::OK }))
        .route("/v1/models", get(models))
        .route("/get_model_info", get(model_info))
        .route("/server_info", get(server_info))
        .route("/get_server_info", get(server_info))
        .route(
            "/flush_cache",
            post(|| async { "Cache flushed.\n" }).get(|| async { "Cache flushed.\n" }),
        )
        .route("/generate", post(generate))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .with_state(state)
}

async fn models(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": state.served_name, "object": "model", "owned_by": "sglang", "root": state.model_path}]}),
    )
}

async fn model_info(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(
        json!({"model_path": state.model_path, "tokenizer_path": state.model_path, "is_generation": true}),
    )
}

async fn server_info(State(state): State<Arc<SimState>>) -> Json<Value> {
    let mut info = state.flags.clone();
    info["version"] = json!(concat!("autobench-sim ", env!("CARGO_PKG_VERSION")));
    info["internal_states"] = json!([{"avg_spec_accept_length": null}]);
    Json(info)
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Native,
    Completions,
    Chat,
}

fn count_tokens(state: &SimState, text: &str) -> u64 {
    match &state.tokenizer {
        // Fixed-latency mode measures the client: keep the server's per-request work minimal.
        Some(_) if state.fixed.is_some() => (text.len() / 4).max(1) as u64,
        Some(tokenizer) => tokenizer
            .encode(text, false)
            .map_or(text.len() / 4, |e| e.get_ids().len()) as u64,
        None => (text.len() / 4).max(1) as u64,
    }
}

fn prompt_tokens(state: &SimState, api: Api, body: &Value) -> Result<u64, String> {
    let text_or_ids = |v: &Value| match v {
        Value::String(text) => Ok(count_tokens(state, text)),
        Value::Array(ids) => Ok(ids.len() as u64),
        _ => Err("prompt must be a string or a list of token ids".to_string()),
    };
    let tokens = match api {
        Api::Native => match (body.get("text"), body.get("input_ids")) {
            (Some(text), _) => text_or_ids(text)?,
            (None, Some(ids)) => text_or_ids(ids)?,
            _ => return Err("either text or input_ids must be provided".into()),
        },
        Api::Completions => text_or_ids(body.get("prompt").ok_or("prompt is required")?)?,
        Api::Chat => {
            let messages = body
                .get("messages")
                .and_then(Value::as_array)
                .ok_or("messages is required")?;
            messages
                .iter()
                .map(|m| count_tokens(state, &crate::dataset::content_text(m.get("content"))) + 4)
                .sum::<u64>()
                + 3
        }
    };
    Ok(tokens.max(1))
}

fn max_tokens(api: Api, body: &Value) -> u64 {
    let value = match api {
        Api::Native => body.pointer("/sampling_params/max_new_tokens"),
        Api::Completions => body.get("max_tokens"),
        Api::Chat => body
            .get("max_completion_tokens")
            .or_else(|| body.get("max_tokens")),
    };
    value.and_then(Value::as_u64).unwrap_or(16).max(1)
}

/// When the kernel received a request, where the server read it with receive timestamps
/// ([`super::fixed_server`]): a fixed-latency stream's TTFT counts from there.
#[derive(Clone, Copy, Debug)]
pub struct RequestArrival(pub Instant);

type Arrival = Option<Extension<RequestArrival>>;

async fn generate(State(state): State<Arc<SimState>>, arrival: Arrival, body: Bytes) -> Response {
    serve(state, Api::Native, body, arrival).await
}

async fn completions(
    State(state): State<Arc<SimState>>,
    arrival: Arrival,
    body: Bytes,
) -> Response {
    serve(state, Api::Completions, body, arrival).await
}

async fn chat(State(state): State<Arc<SimState>>, arrival: Arrival, body: Bytes) -> Response {
    serve(state, Api::Chat, body, arrival).await
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"object": "error", "message": message, "code": 400})),
    )
        .into_response()
}

async fn serve(state: Arc<SimState>, api: Api, body: Bytes, arrival: Arrival) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("request body is not valid JSON");
    };
    if state.strict_openai
        && let Some(unexpected) = unexpected_fields(&body)
    {
        let detail = format!("Unexpected fields in the request: {{{unexpected}}}");
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "detail": detail })),
        )
            .into_response();
    }
    let prompt = match prompt_tokens(&state, api, &body) {
        Ok(tokens) => tokens,
        Err(message) => return bad_request(&message),
    };
    let nth = state.served.fetch_add(1, Ordering::Relaxed) as u64 + 1;
    if state
        .runtime_oom_every
        .is_some_and(|every| every > 0 && nth.is_multiple_of(every))
    {
        return runtime_oom(prompt);
    }
    let output = max_tokens(api, &body);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let usage = !state.strict_openai
        && body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let chunks = Chunks {
        api,
        model: state.served_name.clone(),
        prompt,
        output,
        id: request_id(),
    };
    if let Some((ttft, itl)) = state.fixed {
        let start = arrival.map_or_else(Instant::now, |Extension(RequestArrival(at))| at);
        let plan = Arc::new(FixedPlan::new(chunks, start, ttft, itl, usage));
        if !stream {
            // The whole answer when its last token is due.
            crate::timer::sleep_until(plan.due(plan.len().saturating_sub(1))).await;
            return Json(plan.chunks.whole(output)).into_response();
        }
        let mut response = sse_response(Arc::clone(&plan).into_body());
        response.extensions_mut().insert(plan);
        return response;
    }
    let tokens = start_generation(&state, prompt, output);
    if stream {
        streaming_response(chunks, tokens, usage)
    } else {
        whole_response(chunks, tokens).await
    }
}

#[expect(
    clippy::print_stderr,
    reason = "the simulated server logs to stderr like a real one"
)]
fn runtime_oom(prompt: u64) -> Response {
    eprintln!(
        "[sim] ERROR - Error in generation loop: CUDA out of memory. Tried to allocate 7.58 GiB (prompt of {prompt} tokens)\ntorch.OutOfMemoryError: CUDA out of memory."
    );
    let chunk = json!({"error": {"message": "CUDA out of memory", "type": "internal_error"}});
    sse_response(Body::from(format!("data: {chunk}\n\ndata: [DONE]\n\n")))
}

fn unexpected_fields(body: &Value) -> Option<String> {
    let names: Vec<String> = body
        .as_object()?
        .keys()
        .filter(|k| !STRICT_FIELDS.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

fn start_generation(
    state: &SimState,
    prompt_tokens: u64,
    output_tokens: u64,
) -> mpsc::UnboundedReceiver<u64> {
    let (tx, rx) = mpsc::unbounded_channel();
    let index = state.next_replica.fetch_add(1, Ordering::Relaxed) % state.replicas.len().max(1);
    if let Some(replica) = state.replicas.get(index) {
        let _ = replica.send(SimRequest {
            prompt_tokens,
            output_tokens,
            tokens: tx,
        });
    }
    rx
}

fn request_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}")
}

/// Formats response chunks for one request.
struct Chunks {
    api: Api,
    model: String,
    prompt: u64,
    output: u64,
    id: String,
}

const WORDS: [&str; 8] = [
    " the",
    " model",
    " answers",
    " with",
    " simulated",
    " tokens",
    " of",
    " text",
];

fn text_for(from: u64, to: u64) -> String {
    (from..to)
        .map(|i| WORDS[(i % WORDS.len() as u64) as usize])
        .collect()
}

impl Chunks {
    fn usage(&self, generated: u64) -> Value {
        json!({"prompt_tokens": self.prompt, "completion_tokens": generated, "total_tokens": self.prompt + generated})
    }

    fn chunk(&self, previous: u64, generated: u64) -> Value {
        let finish = (generated >= self.output).then_some("length");
        match self.api {
            Api::Native => {
                json!({"text": text_for(0, generated), "meta_info": {"id": self.id, "prompt_tokens": self.prompt,
                "completion_tokens": generated, "finish_reason": finish.map(|_| json!({"type": "length", "length": self.output}))}, "index": 0})
            }
            Api::Completions => {
                json!({"id": self.id, "object": "text_completion", "model": self.model,
                "choices": [{"index": 0, "text": text_for(previous, generated), "logprobs": null, "finish_reason": finish}], "usage": null})
            }
            Api::Chat => {
                json!({"id": self.id, "object": "chat.completion.chunk", "model": self.model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": text_for(previous, generated)}, "finish_reason": finish}], "usage": null})
            }
        }
    }

    fn whole(&self, generated: u64) -> Value {
        let text = text_for(0, generated);
        match self.api {
            Api::Native => {
                json!({"text": text, "meta_info": {"id": self.id, "prompt_tokens": self.prompt, "completion_tokens": generated,
                "finish_reason": {"type": "length", "length": generated}}})
            }
            Api::Completions => {
                json!({"id": self.id, "object": "text_completion", "model": self.model,
                "choices": [{"index": 0, "text": text, "finish_reason": "length"}], "usage": self.usage(generated)})
            }
            Api::Chat => json!({"id": self.id, "object": "chat.completion", "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}], "usage": self.usage(generated)}),
        }
    }
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn streaming_response(
    chunks: Chunks,
    mut tokens: mpsc::UnboundedReceiver<u64>,
    usage: bool,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut previous = 0;
        while let Some(generated) = tokens.recv().await {
            if tx
                .send(Ok(sse(&chunks.chunk(previous, generated))))
                .await
                .is_err()
            {
                return;
            }
            previous = generated;
        }
        if usage && chunks.api != Api::Native {
            let final_usage = json!({"id": chunks.id, "object": "chunk", "model": chunks.model, "choices": [], "usage": chunks.usage(previous)});
            let _ = tx.send(Ok(sse(&final_usage))).await;
        }
        let _ = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    sse_response(Body::from_stream(stream))
}

fn sse_response(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The step of the grid that a fixed-latency stream's middle tokens go out on.
pub const TOKEN_GRID: Duration = Duration::from_millis(1);

/// Where the token grid starts (the first fixed-latency stream).
static GRID_EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// A fixed-latency stream, decided when its request arrives and kept cheap so the simulator is
/// never the bottleneck of a client calibration: token `i` (from 0) is due at
/// `start + ttft + i * itl`, and the last token's payload also carries the tail (the usage chunk
/// when asked for, and `[DONE]`), as one write. OpenAI delta chunks are serialised once per
/// distinct word and then shared; the others are built when due. The fixed-mode server
/// ([`super::fixed_server`]) hands the plan to its token writers; the response body made from it
/// ([`FixedPlan::into_body`]) serves the same bytes through any other HTTP server.
pub struct FixedPlan {
    start: Instant,
    ttft: Duration,
    itl: Duration,
    chunks: Chunks,
    cached: Vec<Bytes>,
    usage: bool,
}

impl FixedPlan {
    fn new(chunks: Chunks, start: Instant, ttft: Duration, itl: Duration, usage: bool) -> Self {
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
    pub fn len(&self) -> usize {
        usize::try_from(self.chunks.output).unwrap_or(usize::MAX)
    }

    /// When payload `index` goes out. The first and the last token go out exactly when due, so
    /// TTFT and TPOT are what the mode promises; the tokens between go out at their due time
    /// rounded up to the next [`TOKEN_GRID`] step, shared by every stream. A real server emits
    /// one token for every running request at each decode step; here the grid does the same,
    /// and bounds the writes' wake-ups (and the client's) to one per step however many streams
    /// run.
    pub fn due(&self, index: usize) -> Instant {
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
    pub fn payload(&self, index: usize) -> Bytes {
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
    fn into_body(self: Arc<Self>) -> Body {
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

async fn whole_response(chunks: Chunks, mut tokens: mpsc::UnboundedReceiver<u64>) -> Response {
    let mut generated = 0;
    while let Some(count) = tokens.recv().await {
        generated = count;
    }
    Json(chunks.whole(generated)).into_response()
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
