//! Request bodies for the three request paths, built once per dataset row before a trial starts
//! (no serialisation on the hot path).
//!
//! Difference from bench_serving, on purpose: for the native `/generate` path, global and per-row
//! extras that are sampling parameters (`temperature`, `top_p`, ...) go into `sampling_params`,
//! where the server reads them; upstream merged them at the top level, where they were ignored.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use shared::dataset_row::{DatasetRow, PromptKind, prompt_kind};
use shared::kinds::ApiBackend;

/// Sampling parameters of SGLang's native API.
const SAMPLING_KEYS: [&str; 12] = [
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "stop",
    "stop_token_ids",
    "min_new_tokens",
    "n",
    "json_schema",
];

/// Options that shape every body.
#[derive(Debug, Clone)]
pub(crate) struct BodyOptions {
    /// Request path.
    pub backend: ApiBackend,
    /// Model name for OpenAI paths.
    pub model: String,
    /// Stream tokens.
    pub stream: bool,
    /// Force the full output length.
    pub ignore_eos: bool,
    /// Send SGLang/vLLM extensions to the OpenAI bodies (`ignore_eos`, `best_of`,
    /// `max_completion_tokens`); off for servers that reject unknown fields, which get standard
    /// OpenAI fields only (`max_tokens`) and may stop at EOS.
    pub extensions: bool,
    /// Global extras (per-row extras win).
    pub extra: Map<String, Value>,
}

/// A ready-to-send request.
#[derive(Debug, Clone)]
pub(crate) struct PreparedRequest {
    /// Path on the server (`/generate`, `/v1/completions`, `/v1/chat/completions`).
    pub path: &'static str,
    /// Serialised JSON body.
    pub body: Bytes,
    /// Requested output tokens.
    pub output_len: u64,
    /// Input tokens (0 when unknown).
    pub input_len: u64,
    /// Routing key header.
    pub routing_key: Option<String>,
    /// Multi-turn rows: the rounds, sent one after another (chat path only).
    pub rounds: Option<std::sync::Arc<Rounds>>,
    /// Trace timestamp of the row.
    pub timestamp: Option<f64>,
}

/// A multi-turn conversation: each round appends its messages to the history (which includes the
/// server's earlier replies) and is sent as its own chat request.
#[derive(Debug, Clone)]
pub(crate) struct Rounds {
    /// The body of every round, without `messages`.
    pub template: Map<String, Value>,
    /// Messages each round adds.
    pub turns: Vec<Vec<Value>>,
}

impl Rounds {
    /// The body of a round given the conversation so far.
    pub(crate) fn body(&self, history: &[Value]) -> Bytes {
        let mut body = self.template.clone();
        body.insert("messages".into(), Value::Array(history.to_vec()));
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }
}

/// Builds the request for one row, with the output length overridden when `output_len` is given.
pub(crate) fn build(
    row: &DatasetRow,
    options: &BodyOptions,
    output_len: Option<u64>,
) -> Result<PreparedRequest, String> {
    let max_tokens = output_len.unwrap_or(row.output_len);
    let mut extra = options.extra.clone();
    if let Some(row_extra) = &row.extra_request_body {
        extra.extend(row_extra.clone());
    }
    if prompt_kind(&row.prompt) == PromptKind::MultiTurn {
        return multi_turn(row, options, max_tokens, extra);
    }
    let (path, body) = match options.backend {
        ApiBackend::Sglang => ("/generate", native_body(row, options, max_tokens, extra)?),
        ApiBackend::SglangOai | ApiBackend::Auto => (
            "/v1/completions",
            completions_body(row, options, max_tokens, extra)?,
        ),
        ApiBackend::SglangOaiChat => (
            "/v1/chat/completions",
            chat_body(row, options, max_tokens, extra)?,
        ),
    };
    Ok(PreparedRequest {
        path,
        body: Bytes::from(serde_json::to_vec(&body).map_err(|e| e.to_string())?),
        output_len: max_tokens,
        input_len: row.prompt_len.unwrap_or(0),
        routing_key: row.routing_key.clone(),
        rounds: None,
        timestamp: row.timestamp,
    })
}

fn multi_turn(
    row: &DatasetRow,
    options: &BodyOptions,
    max_tokens: u64,
    extra: Map<String, Value>,
) -> Result<PreparedRequest, String> {
    if options.backend != ApiBackend::SglangOaiChat {
        return Err(format!(
            "multi-turn prompts are sent round by round on the chat path; set benchmark.backend to sglang-oai-chat (or auto), not {}",
            options.backend.name()
        ));
    }
    let items = row.prompt.as_array().cloned().unwrap_or_default();
    let turns: Vec<Vec<Value>> = items
        .into_iter()
        .map(|item| match item {
            Value::Array(messages) => messages,
            text => vec![json!({"role": "user", "content": text})],
        })
        .collect();
    let mut template = chat_body(
        &DatasetRow {
            prompt: Value::String(String::new()),
            ..row.clone()
        },
        options,
        max_tokens,
        extra,
    )?;
    let template = template
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    Ok(PreparedRequest {
        path: "/v1/chat/completions",
        body: Bytes::new(),
        output_len: max_tokens,
        input_len: 0,
        routing_key: row.routing_key.clone(),
        rounds: Some(std::sync::Arc::new(Rounds { template, turns })),
        timestamp: row.timestamp,
    })
}

fn native_body(
    row: &DatasetRow,
    options: &BodyOptions,
    max_tokens: u64,
    extra: Map<String, Value>,
) -> Result<Value, String> {
    let mut sampling =
        json!({"temperature": 0.0, "max_new_tokens": max_tokens, "ignore_eos": options.ignore_eos});
    let mut body = json!({"stream": options.stream});
    match prompt_kind(&row.prompt) {
        PromptKind::Prompt => body["text"] = row.prompt.clone(),
        PromptKind::TokenIds => body["input_ids"] = row.prompt.clone(),
        kind => {
            return Err(format!(
                "the native /generate path takes text or token ids, not {kind:?} prompts; use backend sglang-oai-chat"
            ));
        }
    }
    for (key, value) in extra {
        if SAMPLING_KEYS.contains(&key.as_str()) {
            sampling[key] = value;
        } else if key == "sampling_params" {
            if let (Some(target), Value::Object(given)) = (sampling.as_object_mut(), value) {
                target.extend(given);
            }
        } else {
            body[key] = value;
        }
    }
    body["sampling_params"] = sampling;
    if let Some(images) = &row.image_data {
        body["image_data"] = Value::Array(images.clone());
    }
    Ok(body)
}

fn completions_body(
    row: &DatasetRow,
    options: &BodyOptions,
    max_tokens: u64,
    extra: Map<String, Value>,
) -> Result<Value, String> {
    let prompt = match prompt_kind(&row.prompt) {
        PromptKind::Prompt | PromptKind::TokenIds => row.prompt.clone(),
        kind => {
            return Err(format!(
                "the completions path takes text or token ids, not {kind:?} prompts; use backend sglang-oai-chat"
            ));
        }
    };
    let mut body = json!({"model": options.model, "prompt": prompt, "max_tokens": max_tokens,
                          "stream": options.stream, "temperature": 0.0});
    if options.extensions {
        body["best_of"] = json!(1);
        body["ignore_eos"] = json!(options.ignore_eos);
    }
    if options.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    merge(&mut body, extra);
    Ok(body)
}

fn chat_body(
    row: &DatasetRow,
    options: &BodyOptions,
    max_tokens: u64,
    extra: Map<String, Value>,
) -> Result<Value, String> {
    let messages = match prompt_kind(&row.prompt) {
        PromptKind::Messages => row.prompt.clone(),
        PromptKind::Prompt => {
            json!([{"role": "user", "content": user_content(&row.prompt, row.image_data.as_deref())}])
        }
        kind => {
            return Err(format!(
                "{kind:?} prompts are not supported on the chat path yet"
            ));
        }
    };
    let mut body = json!({"model": options.model, "messages": messages,
                          "stream": options.stream, "temperature": 0.0});
    if options.extensions {
        body["max_completion_tokens"] = json!(max_tokens);
        body["ignore_eos"] = json!(options.ignore_eos);
    } else {
        body["max_tokens"] = json!(max_tokens);
    }
    if options.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    merge(&mut body, extra);
    Ok(body)
}

fn user_content(text: &Value, images: Option<&[Value]>) -> Value {
    match images {
        Some(images) if !images.is_empty() => {
            let mut parts: Vec<Value> = images
                .iter()
                .map(|url| json!({"type": "image_url", "image_url": {"url": url}}))
                .collect();
            parts.push(json!({"type": "text", "text": text}));
            Value::Array(parts)
        }
        _ => text.clone(),
    }
}

fn merge(body: &mut Value, extra: Map<String, Value>) {
    if let Some(object) = body.as_object_mut() {
        object.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(prompt: Value) -> DatasetRow {
        DatasetRow {
            prompt,
            output_len: 7,
            prompt_len: Some(3),
            extra_request_body: Some(
                json!({"top_p": 0.9})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
            image_data: None,
            timestamp: None,
            routing_key: None,
            metadata: None,
        }
    }

    fn options(backend: ApiBackend) -> BodyOptions {
        BodyOptions {
            backend,
            model: "m".into(),
            stream: true,
            ignore_eos: true,
            extensions: true,
            extra: json!({"temperature": 0.5})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn body(request: &PreparedRequest) -> Value {
        serde_json::from_slice(&request.body).expect("json")
    }

    #[test]
    fn native_puts_sampling_extras_in_sampling_params() {
        let request =
            build(&row(json!("hello")), &options(ApiBackend::Sglang), None).expect("request");
        let body = body(&request);
        assert_eq!(request.path, "/generate");
        assert_eq!(body["text"], json!("hello"));
        assert_eq!(body["sampling_params"]["temperature"], json!(0.5));
        assert_eq!(body["sampling_params"]["top_p"], json!(0.9));
        assert_eq!(body["sampling_params"]["max_new_tokens"], json!(7));
    }

    #[test]
    fn completions_and_chat_shapes() {
        let completions = body(
            &build(
                &row(json!("hello")),
                &options(ApiBackend::SglangOai),
                Some(2),
            )
            .expect("request"),
        );
        assert_eq!(completions["max_tokens"], json!(2));
        assert_eq!(completions["stream_options"]["include_usage"], json!(true));
        assert_eq!(completions["temperature"], json!(0.5));
        let chat = body(
            &build(
                &row(json!("hello")),
                &options(ApiBackend::SglangOaiChat),
                None,
            )
            .expect("request"),
        );
        assert_eq!(chat["messages"][0]["content"], json!("hello"));
        assert_eq!(chat["max_completion_tokens"], json!(7));
        assert!(
            build(
                &row(json!([1, 2])),
                &options(ApiBackend::SglangOaiChat),
                None
            )
            .is_err()
        );
    }
}
