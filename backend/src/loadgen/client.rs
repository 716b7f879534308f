//! Sends one request and times it: the scheduled time, the actual send time (after any
//! `max_concurrency` wait), the first token, every token gap, and the end.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::h1;
use super::request::PreparedRequest;
use super::stream::{RequestError, StreamFormat, StreamParser, parse_whole};

/// Timings and counts of one request, in seconds on the trial clock (0 = dispatch start).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestResult {
    /// When the schedule said to send.
    pub scheduled_at: f64,
    /// When it was actually sent.
    pub sent_at: f64,
    /// First content, if any.
    pub first_token_at: Option<f64>,
    /// Last byte received (or failure time).
    pub end_at: f64,
    /// Inter-token gaps.
    pub itl: Vec<f64>,
    /// Output tokens: server-reported (`usage`, `meta_info`), else streamed content chunks, else
    /// the requested length (a non-streaming answer without `usage`).
    pub output_tokens: u64,
    /// Input tokens (server-reported, else dataset).
    pub input_tokens: u64,
    /// Failure, if the request failed.
    pub error: Option<RequestError>,
    /// How long the first token's bytes waited in the socket before the client read them (0
    /// where the kernel gives no receive time: TLS, proxies, other platforms). Token times are
    /// the kernel's receive times, so this bounds how far a read that brought several packets
    /// at once can have moved the first token's time.
    pub read_lag: f64,
}

impl RequestResult {
    /// The same request with every time `offset` seconds later (durations unchanged).
    pub(crate) fn shifted(mut self, offset: f64) -> RequestResult {
        self.scheduled_at += offset;
        self.sent_at += offset;
        self.first_token_at = self.first_token_at.map(|t| t + offset);
        self.end_at += offset;
        self
    }
}

/// What a request needs besides its body.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// HTTP client (connection pool shared by all requests).
    pub client: reqwest::Client,
    /// Server base URL without a trailing slash.
    pub base_url: String,
    /// Stream tokens.
    pub stream: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Bearer token from OPENAI_API_KEY / API_KEY, when set.
    pub api_key: Option<String>,
    /// The lean HTTP/1.1 client for plain `http://` servers ([`h1`]); `None` uses `client`.
    pub fast: Option<Arc<h1::Pool>>,
}

impl Target {
    /// A target; plain `http://` servers get the lean HTTP/1.1 client.
    pub(crate) fn new(
        client: reqwest::Client,
        base_url: String,
        stream: bool,
        timeout: Duration,
        api_key: Option<String>,
    ) -> Target {
        let fast = h1::Pool::for_base_url(&base_url).map(Arc::new);
        Target {
            client,
            base_url,
            stream,
            timeout,
            api_key,
            fast,
        }
    }
}

fn format_of(path: &str) -> StreamFormat {
    match path {
        "/generate" => StreamFormat::Native,
        "/v1/chat/completions" => StreamFormat::Chat,
        _ => StreamFormat::Completions,
    }
}

/// Sends `request` now; `origin` is the trial clock's zero, `scheduled_at` its scheduled time.
/// A multi-turn request sends its rounds one after another (each carrying the earlier replies)
/// and yields one result per round; later rounds are "scheduled" when the previous one ended.
pub(super) async fn send(
    target: &Target,
    request: &PreparedRequest,
    origin: Instant,
    scheduled_at: f64,
) -> Vec<RequestResult> {
    let Some(rounds) = &request.rounds else {
        return vec![
            send_body(target, request, request.body.clone(), origin, scheduled_at)
                .await
                .0,
        ];
    };
    let mut history: Vec<serde_json::Value> = Vec::new();
    let mut results = Vec::with_capacity(rounds.turns.len());
    let mut scheduled = scheduled_at;
    for turn in &rounds.turns {
        history.extend(turn.iter().cloned());
        let (result, text) =
            send_body(target, request, rounds.body(&history), origin, scheduled).await;
        let failed = result.error.is_some();
        scheduled = result.end_at;
        results.push(result);
        if failed {
            break;
        }
        history.push(serde_json::json!({"role": "assistant", "content": text}));
    }
    results
}

async fn send_body(
    target: &Target,
    request: &PreparedRequest,
    body: bytes::Bytes,
    origin: Instant,
    scheduled_at: f64,
) -> (RequestResult, String) {
    let sent_at = origin.elapsed().as_secs_f64();
    let mut result = RequestResult {
        scheduled_at,
        sent_at,
        first_token_at: None,
        end_at: sent_at,
        itl: Vec::new(),
        output_tokens: request.output_len,
        input_tokens: request.input_len,
        error: None,
        read_lag: 0.0,
    };
    let keep_text = request.rounds.is_some();
    let outcome = tokio::time::timeout(
        target.timeout,
        exchange(target, request, body, origin, keep_text),
    )
    .await;
    let mut text = String::new();
    match outcome {
        Ok(Ok(measured)) => {
            result.first_token_at = Some(measured.first_token_at);
            result.end_at = measured.end_at;
            result.itl = measured.itl;
            result.read_lag = measured.read_lag;
            if let Some(tokens) = measured.output_tokens {
                result.output_tokens = tokens;
            }
            if let Some(tokens) = measured.prompt_tokens.filter(|_| request.input_len == 0) {
                result.input_tokens = tokens;
            }
            text = measured.text;
        }
        Ok(Err(error)) => {
            result.error = Some(error);
            result.end_at = origin.elapsed().as_secs_f64();
        }
        Err(_) => {
            result.error = Some(RequestError::Timeout);
            result.end_at = origin.elapsed().as_secs_f64();
        }
    }
    (result, text)
}

struct Measured {
    first_token_at: f64,
    end_at: f64,
    itl: Vec<f64>,
    output_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
    text: String,
    /// How long the first token's bytes waited in the socket before the client read them.
    read_lag: f64,
}

async fn exchange(
    target: &Target,
    request: &PreparedRequest,
    body: bytes::Bytes,
    origin: Instant,
    keep_text: bool,
) -> Result<Measured, RequestError> {
    if let Some(pool) = &target.fast {
        return exchange_h1(pool, target, request, &body, origin, keep_text).await;
    }
    let mut builder = target
        .client
        .post(format!("{}{}", target.base_url, request.path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = &target.api_key {
        builder = builder.bearer_auth(key);
    }
    if let Some(routing_key) = &request.routing_key {
        builder = builder.header("X-SMG-Routing-Key", routing_key);
    }
    let response = builder.send().await.map_err(|e| {
        if e.is_connect() {
            RequestError::Connect
        } else {
            RequestError::Other
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(RequestError::Http(status.as_u16()));
    }
    let format = format_of(request.path);
    if !target.stream {
        let body = response
            .bytes()
            .await
            .map_err(|_| RequestError::Truncated)?;
        return whole_body(format, &body, origin.elapsed().as_secs_f64());
    }
    read_stream(response, format, origin, keep_text).await
}

async fn exchange_h1(
    pool: &h1::Pool,
    target: &Target,
    request: &PreparedRequest,
    body: &[u8],
    origin: Instant,
    keep_text: bool,
) -> Result<Measured, RequestError> {
    let bearer = target.api_key.as_ref().map(|key| format!("Bearer {key}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    if let Some(routing_key) = &request.routing_key {
        headers.push(("x-smg-routing-key", routing_key));
    }
    if headers
        .iter()
        .any(|(_, value)| value.bytes().any(|b| b == b'\r' || b == b'\n'))
    {
        return Err(RequestError::Other);
    }
    let mut response = pool.post(request.path, &headers, body).await?;
    if !(200..300).contains(&response.status) {
        return Err(RequestError::Http(response.status));
    }
    let format = format_of(request.path);
    if !target.stream {
        let body = response.read_to_end().await?;
        return whole_body(format, &body, origin.elapsed().as_secs_f64());
    }
    let mut lines = Lines::new(format, keep_text);
    let mut data = Vec::with_capacity(4096);
    let mut read_lag = None;
    loop {
        let more = response.read_into(&mut data).await?;
        // Timed from when the kernel received the bytes: the client's own delay in reading them
        // is not the server's latency. (As an age, so it also holds on tokio's paused clock.)
        let read_at = origin.elapsed();
        let waited = response
            .arrived_at()
            .map_or(Duration::ZERO, |at| at.elapsed());
        lines.feed(&data, read_at.saturating_sub(waited).as_secs_f64())?;
        if read_lag.is_none() && lines.parser.has_first_token() {
            read_lag = Some(waited);
        }
        data.clear();
        if !more {
            break;
        }
    }
    let mut measured = lines.finish(origin.elapsed().as_secs_f64())?;
    measured.read_lag = read_lag.unwrap_or_default().as_secs_f64();
    Ok(measured)
}

async fn read_stream(
    response: reqwest::Response,
    format: StreamFormat,
    origin: Instant,
    keep_text: bool,
) -> Result<Measured, RequestError> {
    let mut lines = Lines::new(format, keep_text);
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| RequestError::Truncated)?;
        lines.feed(&chunk, origin.elapsed().as_secs_f64())?;
    }
    lines.finish(origin.elapsed().as_secs_f64())
}

/// A non-streamed answer that arrived whole at `at`: first token and end are the same moment.
fn whole_body(format: StreamFormat, body: &[u8], at: f64) -> Result<Measured, RequestError> {
    let (output_tokens, prompt_tokens, text) = parse_whole(format, body)?;
    Ok(Measured {
        first_token_at: at,
        end_at: at,
        itl: Vec::new(),
        output_tokens,
        prompt_tokens,
        text,
        read_lag: 0.0,
    })
}

/// Splits streamed body bytes into lines for the SSE parser, whatever the chunk boundaries.
struct Lines {
    parser: StreamParser,
    /// Bytes after the last newline, waiting for the rest of their line.
    pending: Vec<u8>,
}

impl Lines {
    fn new(format: StreamFormat, keep_text: bool) -> Lines {
        let parser = StreamParser::new(format);
        Lines {
            parser: if keep_text {
                parser.keep_text()
            } else {
                parser
            },
            pending: Vec::new(),
        }
    }

    /// Feeds body bytes that arrived at `at`.
    fn feed(&mut self, chunk: &[u8], at: f64) -> Result<(), RequestError> {
        if self.pending.is_empty() {
            let used = feed_lines(&mut self.parser, chunk, at)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let used = feed_lines(&mut self.parser, &self.pending, at)?;
            self.pending.drain(..used);
        }
        Ok(())
    }

    /// The body ended at `at`.
    fn finish(mut self, at: f64) -> Result<Measured, RequestError> {
        if !self.pending.is_empty() {
            let text = std::str::from_utf8(&self.pending).map_err(|_| RequestError::Malformed)?;
            self.parser.feed_line(text, at)?;
        }
        let outcome = self.parser.finish()?;
        Ok(Measured {
            first_token_at: outcome.first_token_at.unwrap_or(outcome.last_at),
            end_at: outcome.last_at,
            itl: outcome.itl,
            // Without `usage` (servers that ignore `stream_options`), each content chunk counts
            // as one token, as servers that stream token by token send them.
            output_tokens: outcome
                .reported_output_tokens
                .or(Some(outcome.content_chunks)),
            prompt_tokens: outcome.reported_prompt_tokens,
            text: outcome.text,
            read_lag: 0.0,
        })
    }
}

/// Feeds every complete line of `buf`; returns how many bytes that used.
fn feed_lines(parser: &mut StreamParser, buf: &[u8], at: f64) -> Result<usize, RequestError> {
    let mut used = 0;
    for newline in memchr::memchr_iter(b'\n', buf) {
        let line = std::str::from_utf8(&buf[used..newline]).map_err(|_| RequestError::Malformed)?;
        parser.feed_line(line, at)?;
        used = newline + 1;
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};

    use super::*;
    use crate::config::ApiBackend;
    use crate::dataset::DatasetRow;
    use crate::loadgen::request::{BodyOptions, build};

    /// A fake chat server that records every body and answers "reply N" as a stream.
    async fn fake_chat() -> (String, Arc<Mutex<Vec<Value>>>) {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let seen = Arc::clone(&seen);
                async move {
                    let n = {
                        let mut bodies = seen.lock().expect("lock");
                        bodies.push(body);
                        bodies.len()
                    };
                    let chunk = json!({"choices": [{"delta": {"content": format!("reply {n}")}, "finish_reason": "stop"}]});
                    format!("data: {chunk}\n\ndata: {}\n\ndata: [DONE]\n\n", json!({"choices": [], "usage": {"completion_tokens": 2, "prompt_tokens": 9}}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, bodies)
    }

    #[tokio::test]
    async fn multi_turn_rounds_carry_earlier_replies() {
        let (url, bodies) = fake_chat().await;
        let row = DatasetRow {
            prompt: json!(["first", "second"]),
            output_len: 2,
            prompt_len: None,
            extra_request_body: None,
            image_data: None,
            timestamp: None,
            routing_key: None,
            metadata: None,
        };
        let options = BodyOptions {
            backend: ApiBackend::SglangOaiChat,
            model: "m".into(),
            stream: true,
            ignore_eos: true,
            extensions: true,
            extra: Default::default(),
        };
        let request = build(&row, &options, None).expect("request");
        let target = Target::new(
            reqwest::Client::new(),
            url,
            true,
            std::time::Duration::from_secs(5),
            None,
        );
        let results = send(&target, &request, Instant::now(), 0.0).await;
        assert_eq!(results.len(), 2);
        assert!(
            results
                .iter()
                .all(|r| r.error.is_none() && r.output_tokens == 2 && r.input_tokens == 9)
        );
        let bodies = bodies.lock().expect("lock").clone();
        assert_eq!(
            bodies[0]["messages"],
            json!([{"role": "user", "content": "first"}])
        );
        assert_eq!(
            bodies[1]["messages"],
            json!([{"role": "user", "content": "first"}, {"role": "assistant", "content": "reply 1"}, {"role": "user", "content": "second"}])
        );
        assert_eq!(bodies[1]["max_completion_tokens"], 2);
        assert_eq!(bodies[1]["stream_options"]["include_usage"], true);
    }
}
