//! Streaming response parsing for the three request paths, as a pure state machine fed with
//! `(line, time)` pairs, so every stream shape is testable without a server.
//!
//! Timing rules (bench_serving's, except where noted): the first chunk with content sets TTFT;
//! later content chunks add inter-token gaps. Native `/generate` chunks carry cumulative text and a
//! completion-token count, so a chunk's gap is spread evenly over its new tokens (one ITL entry per
//! token). OpenAI chunks carry no per-chunk count; when the final `usage` reports more tokens than
//! content chunks, each gap is spread over the average tokens per chunk (upstream kept one entry per
//! chunk, which overstates ITL when the server batches tokens into chunks). Reasoning content
//! counts as output.

use serde_json::Value;

/// The most output tokens one response may claim, far above any output length in use. A larger
/// count comes from a broken server, and believing it would allocate one inter-token gap per
/// claimed token (a count of 10^12 aborted the client): the response is malformed.
pub(crate) const MAX_REPORTED_OUTPUT_TOKENS: u64 = 1 << 20;

/// The most prompt tokens one response may claim, far above any context window; larger counts
/// would overflow the trial's token sums.
pub(crate) const MAX_REPORTED_PROMPT_TOKENS: u64 = 1 << 32;

/// A server-reported token count, refused above `limit`.
fn count(reported: Option<u64>, limit: u64) -> Result<Option<u64>, RequestError> {
    match reported {
        Some(tokens) if tokens > limit => Err(RequestError::Malformed),
        other => Ok(other),
    }
}

/// Which stream format to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamFormat {
    /// SGLang `/generate`: cumulative `text`, `meta_info.completion_tokens`.
    Native,
    /// OpenAI completions: `choices[0].text` deltas.
    Completions,
    /// OpenAI chat: `choices[0].delta.content` / `reasoning_content` deltas.
    Chat,
}

/// Why a request failed, by category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestError {
    /// The server answered with a non-200 status.
    Http(u16),
    /// Could not connect.
    Connect,
    /// The per-request timeout expired.
    Timeout,
    /// The stream carried an error object.
    StreamError,
    /// A chunk was not valid JSON.
    Malformed,
    /// The stream ended before the response was complete.
    Truncated,
    /// Any other transport failure.
    Other,
}

impl RequestError {
    /// Category name used in metrics (`http_503`, `connect`, ...).
    pub(crate) fn category(&self) -> String {
        match self {
            RequestError::Http(status) => format!("http_{status}"),
            RequestError::Connect => "connect".into(),
            RequestError::Timeout => "timeout".into(),
            RequestError::StreamError => "stream_error".into(),
            RequestError::Malformed => "malformed_chunk".into(),
            RequestError::Truncated => "truncated_stream".into(),
            RequestError::Other => "transport".into(),
        }
    }
}

/// What a finished stream measured (times in seconds on the trial clock).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StreamOutcome {
    /// Time of the first content.
    pub first_token_at: Option<f64>,
    /// Time of the last line received.
    pub last_at: f64,
    /// Inter-token gaps in seconds.
    pub itl: Vec<f64>,
    /// Output tokens as reported by the server (usage or meta_info), when reported.
    pub reported_output_tokens: Option<u64>,
    /// Content chunks seen.
    pub content_chunks: u64,
    /// Input tokens reported by the server.
    pub reported_prompt_tokens: Option<u64>,
    /// Generated text, when asked for (multi-turn conversations send it back).
    pub text: String,
}

/// Incremental parser.
#[derive(Debug)]
pub(crate) struct StreamParser {
    format: StreamFormat,
    outcome: StreamOutcome,
    previous_at: f64,
    native_tokens: u64,
    done: bool,
    finished: bool,
    raw_gaps: Vec<f64>,
    keep_text: bool,
}

impl StreamParser {
    /// A parser for `format`.
    pub(crate) fn new(format: StreamFormat) -> Self {
        StreamParser {
            format,
            outcome: StreamOutcome::default(),
            previous_at: 0.0,
            native_tokens: 0,
            done: false,
            finished: false,
            raw_gaps: Vec::new(),
            keep_text: false,
        }
    }

    /// Also collects the generated text (chat and completions content).
    pub(crate) fn keep_text(mut self) -> Self {
        self.keep_text = true;
        self
    }

    /// Whether a token has been seen yet.
    pub(crate) fn has_first_token(&self) -> bool {
        self.outcome.first_token_at.is_some()
    }

    /// Feeds one line received at time `at`.
    pub(crate) fn feed_line(&mut self, line: &str, at: f64) -> Result<(), RequestError> {
        let line = line.trim();
        if line.is_empty() || line.starts_with(':') || line.starts_with("event:") {
            return Ok(());
        }
        self.outcome.last_at = at;
        let payload = line.strip_prefix("data:").map_or(line, str::trim_start);
        if payload == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: wire::Chunk =
            serde_json::from_str(payload).map_err(|_| RequestError::Malformed)?;
        if chunk.error.is_some() || chunk.object.as_deref() == Some("error") {
            return Err(RequestError::StreamError);
        }
        if let Some(meta) = &chunk.meta_info {
            count(meta.completion_tokens, MAX_REPORTED_OUTPUT_TOKENS)?;
            count(meta.prompt_tokens, MAX_REPORTED_PROMPT_TOKENS)?;
        }
        if let Some(usage) = &chunk.usage {
            if let Some(tokens) = count(usage.completion_tokens, MAX_REPORTED_OUTPUT_TOKENS)? {
                self.outcome.reported_output_tokens = Some(tokens);
            }
            if let Some(tokens) = count(usage.prompt_tokens, MAX_REPORTED_PROMPT_TOKENS)? {
                self.outcome.reported_prompt_tokens = Some(tokens);
            }
        }
        let choice = chunk.choices.as_ref().and_then(|c| c.first());
        if choice.is_some_and(|c| c.finish_reason.is_some()) {
            self.finished = true;
        }
        match self.format {
            StreamFormat::Native => self.native_chunk(&chunk, at),
            StreamFormat::Completions => {
                let text = choice.and_then(|c| c.text.as_deref()).unwrap_or("");
                self.content(!text.is_empty(), at);
            }
            StreamFormat::Chat => {
                let delta = choice.and_then(|c| c.delta.as_ref());
                let content = delta.and_then(|d| d.content.as_deref());
                if self.keep_text
                    && let Some(content) = content
                {
                    self.outcome.text.push_str(content);
                }
                let has = [
                    content,
                    delta.and_then(|d| d.reasoning_content.as_deref()),
                    delta.and_then(|d| d.reasoning.as_deref()),
                ]
                .iter()
                .any(|t| t.is_some_and(|t| !t.is_empty()));
                self.content(has, at);
            }
        }
        Ok(())
    }

    fn native_chunk(&mut self, chunk: &wire::Chunk, at: f64) {
        let meta = chunk.meta_info.as_ref();
        let total = meta.and_then(|m| m.completion_tokens);
        if let Some(prompt) = meta.and_then(|m| m.prompt_tokens) {
            self.outcome.reported_prompt_tokens = Some(prompt);
        }
        if meta.is_some_and(|m| m.finish_reason.is_some()) {
            self.finished = true;
        }
        let text_len = chunk.text.as_deref().map_or(0, str::len) as u64;
        let total = total.unwrap_or(text_len.min(self.native_tokens + 1));
        let new_tokens = total.saturating_sub(self.native_tokens);
        if new_tokens == 0 {
            return;
        }
        self.native_tokens = total;
        self.outcome.reported_output_tokens = Some(total);
        if self.outcome.first_token_at.is_none() {
            self.outcome.first_token_at = Some(at);
            if new_tokens > 1 {
                self.outcome.itl.extend(std::iter::repeat_n(
                    0.0,
                    usize::try_from(new_tokens - 1).unwrap_or(0),
                ));
            }
        } else {
            let gap = (at - self.previous_at) / new_tokens as f64;
            self.outcome.itl.extend(std::iter::repeat_n(
                gap,
                usize::try_from(new_tokens).unwrap_or(0),
            ));
        }
        self.outcome.content_chunks += 1;
        self.previous_at = at;
    }

    fn content(&mut self, has_content: bool, at: f64) {
        if !has_content {
            return;
        }
        if self.outcome.first_token_at.is_none() {
            self.outcome.first_token_at = Some(at);
        } else {
            self.raw_gaps.push(at - self.previous_at);
        }
        self.outcome.content_chunks += 1;
        self.previous_at = at;
    }

    /// Ends the stream. Fails when no content and no finish reason arrived, or when the stream
    /// stopped without `[DONE]` and without a finish reason.
    pub(crate) fn finish(mut self) -> Result<StreamOutcome, RequestError> {
        if self.outcome.first_token_at.is_none() {
            // A finish reason with no content is a complete answer of zero tokens (a server that
            // cannot be told `ignore_eos` may stop at EOS at once); its TTFT is its end.
            if !self.finished {
                return Err(RequestError::Truncated);
            }
            self.outcome.reported_output_tokens.get_or_insert(0);
        }
        if !self.done && !self.finished {
            return Err(RequestError::Truncated);
        }
        if self.format != StreamFormat::Native {
            self.outcome.itl = spread_gaps(
                &self.raw_gaps,
                self.outcome.content_chunks,
                self.outcome.reported_output_tokens,
            );
        }
        Ok(self.outcome)
    }
}

/// Spreads chunk gaps over tokens when the server reported more tokens than it sent chunks.
fn spread_gaps(gaps: &[f64], chunks: u64, reported: Option<u64>) -> Vec<f64> {
    match reported {
        Some(tokens) if chunks > 1 && tokens > chunks => {
            let per_gap = (tokens - 1) as f64 / (chunks - 1) as f64;
            let mut out = Vec::new();
            let mut carried = 0.0;
            for gap in gaps {
                carried += per_gap;
                let whole = carried.floor();
                carried -= whole;
                let n = whole as usize;
                if n > 0 {
                    out.extend(std::iter::repeat_n(gap / n as f64, n));
                }
            }
            out
        }
        _ => gaps.to_vec(),
    }
}

/// The parts of a streamed chunk the parser reads, deserialised without building a `Value` tree
/// (strings are borrowed unless escaped; everything else is skipped).
mod wire {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde::de::IgnoredAny;

    #[derive(Deserialize)]
    pub(super) struct Chunk<'a> {
        #[serde(default)]
        pub error: Option<IgnoredAny>,
        #[serde(default, borrow)]
        pub object: Option<Cow<'a, str>>,
        #[serde(default)]
        pub usage: Option<Usage>,
        #[serde(default, borrow)]
        pub choices: Option<Vec<Choice<'a>>>,
        #[serde(default, borrow)]
        pub text: Option<Cow<'a, str>>,
        #[serde(default)]
        pub meta_info: Option<Meta>,
    }

    #[derive(Deserialize)]
    pub(super) struct Usage {
        #[serde(default)]
        pub completion_tokens: Option<u64>,
        #[serde(default)]
        pub prompt_tokens: Option<u64>,
    }

    #[derive(Deserialize)]
    pub(super) struct Choice<'a> {
        #[serde(default, borrow)]
        pub text: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub delta: Option<Delta<'a>>,
        #[serde(default)]
        pub finish_reason: Option<IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub(super) struct Delta<'a> {
        #[serde(default, borrow)]
        pub content: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub reasoning_content: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        pub reasoning: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Meta {
        #[serde(default)]
        pub completion_tokens: Option<u64>,
        #[serde(default)]
        pub prompt_tokens: Option<u64>,
        #[serde(default)]
        pub finish_reason: Option<IgnoredAny>,
    }
}

/// Parses a non-streaming response body: `(output_tokens, prompt_tokens)` as reported.
pub(crate) fn parse_whole(
    format: StreamFormat,
    body: &[u8],
) -> Result<(Option<u64>, Option<u64>, String), RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| RequestError::Malformed)?;
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(RequestError::StreamError);
    }
    let (out, prompt) = match format {
        StreamFormat::Native => (
            value.pointer("/meta_info/completion_tokens"),
            value.pointer("/meta_info/prompt_tokens"),
        ),
        _ => (
            value.pointer("/usage/completion_tokens"),
            value.pointer("/usage/prompt_tokens"),
        ),
    };
    let text = value
        .pointer("/choices/0/message/content")
        .or_else(|| value.pointer("/choices/0/text"))
        .or_else(|| value.get("text"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((
        count(out.and_then(Value::as_u64), MAX_REPORTED_OUTPUT_TOKENS)?,
        count(prompt.and_then(Value::as_u64), MAX_REPORTED_PROMPT_TOKENS)?,
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(format: StreamFormat, lines: &[(&str, f64)]) -> Result<StreamOutcome, RequestError> {
        let mut parser = StreamParser::new(format);
        for (line, at) in lines {
            parser.feed_line(line, *at)?;
        }
        parser.finish()
    }

    #[test]
    fn native_spreads_gaps_per_token() {
        let out = run(StreamFormat::Native, &[
            (r#"data: {"text":"a","meta_info":{"completion_tokens":1,"prompt_tokens":5}}"#, 0.1),
            (r#"data: {"text":"abc","meta_info":{"completion_tokens":3}}"#, 0.3),
            (r#"data: {"text":"abc","meta_info":{"completion_tokens":3,"finish_reason":{"type":"length"}}}"#, 0.35),
            ("data: [DONE]", 0.4),
        ]).expect("ok");
        assert_eq!(out.first_token_at, Some(0.1));
        assert_eq!(out.itl.len(), 2);
        assert!((out.itl[0] - 0.1).abs() < 1e-12);
        assert_eq!(out.reported_output_tokens, Some(3));
        assert_eq!(out.reported_prompt_tokens, Some(5));
        assert_eq!(out.last_at, 0.4);
    }

    #[test]
    fn completions_with_usage_only_chunk() {
        let out = run(
            StreamFormat::Completions,
            &[
                (
                    r#"data: {"choices":[{"text":"x","finish_reason":null}]}"#,
                    0.02,
                ),
                (
                    r#"data: {"choices":[{"text":"y","finish_reason":null}]}"#,
                    0.03,
                ),
                (
                    r#"data: {"choices":[{"text":"z","finish_reason":"length"}]}"#,
                    0.05,
                ),
                (
                    r#"data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3}}"#,
                    0.051,
                ),
                ("data: [DONE]", 0.052),
            ],
        )
        .expect("ok");
        assert_eq!(out.first_token_at, Some(0.02));
        assert_eq!(out.itl.len(), 2);
        assert_eq!(out.reported_output_tokens, Some(3));
    }

    #[test]
    fn chunks_of_several_tokens_spread_itl() {
        let out = run(StreamFormat::Completions, &[
            (r#"data: {"choices":[{"text":"ab"}]}"#, 0.0),
            (r#"data: {"choices":[{"text":"cd"}]}"#, 0.2),
            (r#"data: {"choices":[{"text":"e","finish_reason":"length"}],"usage":{"completion_tokens":5}}"#, 0.4),
            ("data: [DONE]", 0.4),
        ]).expect("ok");
        assert_eq!(out.itl.len(), 4);
        assert!((out.itl.iter().sum::<f64>() - 0.4).abs() < 1e-9);
    }

    #[test]
    fn chat_counts_reasoning_as_output() {
        let out = run(
            StreamFormat::Chat,
            &[
                (
                    r#"data: {"choices":[{"delta":{"role":"assistant"}}]}"#,
                    0.01,
                ),
                (
                    r#"data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#,
                    0.02,
                ),
                (
                    r#"data: {"choices":[{"delta":{"content":"ok"},"finish_reason":"stop"}]}"#,
                    0.03,
                ),
            ],
        )
        .expect("ok");
        assert_eq!(out.first_token_at, Some(0.02));
    }

    #[test]
    fn error_chunks_and_truncation_fail() {
        assert_eq!(
            run(
                StreamFormat::Chat,
                &[(r#"data: {"error":{"message":"boom"}}"#, 0.1)]
            ),
            Err(RequestError::StreamError)
        );
        assert_eq!(
            run(
                StreamFormat::Completions,
                &[(r#"data: {"choices":[{"text":"x"}]}"#, 0.1)]
            ),
            Err(RequestError::Truncated)
        );
        assert_eq!(
            run(StreamFormat::Completions, &[("data: {not json", 0.1)]),
            Err(RequestError::Malformed)
        );
        assert_eq!(
            run(StreamFormat::Completions, &[("data: [DONE]", 0.1)]),
            Err(RequestError::Truncated)
        );
    }

    #[test]
    fn an_immediate_stop_is_a_complete_answer_of_zero_tokens() {
        let out = run(
            StreamFormat::Chat,
            &[
                (r#"data: {"choices":[{"delta":{"role":"assistant"}}]}"#, 0.1),
                (
                    r#"data: {"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
                    0.2,
                ),
                ("data: [DONE]", 0.2),
            ],
        )
        .expect("complete");
        assert_eq!(out.first_token_at, None);
        assert_eq!(out.reported_output_tokens, Some(0));
        assert_eq!(out.last_at, 0.2);
    }

    #[test]
    fn impossible_token_counts_are_malformed() {
        let huge = MAX_REPORTED_OUTPUT_TOKENS + 1;
        assert_eq!(
            run(
                StreamFormat::Native,
                &[(
                    &format!(r#"data: {{"text":"a","meta_info":{{"completion_tokens":{huge}}}}}"#),
                    0.1
                )]
            ),
            Err(RequestError::Malformed)
        );
        assert_eq!(
            run(
                StreamFormat::Completions,
                &[
                    (r#"data: {"choices":[{"text":"x"}]}"#, 0.1),
                    (
                        r#"data: {"choices":[{"text":"y","finish_reason":"length"}]}"#,
                        0.2
                    ),
                    (
                        &format!(
                            r#"data: {{"choices":[],"usage":{{"completion_tokens":{huge}}}}}"#
                        ),
                        0.3
                    ),
                ]
            ),
            Err(RequestError::Malformed)
        );
        let body = format!(r#"{{"usage":{{"completion_tokens":{huge}}}}}"#);
        assert_eq!(
            parse_whole(StreamFormat::Completions, body.as_bytes()),
            Err(RequestError::Malformed)
        );
    }

    #[test]
    fn missing_done_with_finish_reason_is_complete() {
        let out = run(
            StreamFormat::Completions,
            &[(
                r#"data: {"choices":[{"text":"x","finish_reason":"length"}]}"#,
                0.1,
            )],
        );
        assert!(out.is_ok());
    }
}
