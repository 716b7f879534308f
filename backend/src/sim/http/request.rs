//! Reading a generation request's body: which API it came through, how many prompt tokens it
//! carries, how many it asks for, and the fields a strict OpenAI server refuses.

use serde_json::Value;

use super::SimState;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Api {
    Native,
    Completions,
    Chat,
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

pub(super) fn prompt_tokens(state: &SimState, api: Api, body: &Value) -> Result<u64, String> {
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

pub(super) fn max_tokens(api: Api, body: &Value) -> u64 {
    let value = match api {
        Api::Native => body.pointer("/sampling_params/max_new_tokens"),
        Api::Completions => body.get("max_tokens"),
        Api::Chat => body
            .get("max_completion_tokens")
            .or_else(|| body.get("max_tokens")),
    };
    value.and_then(Value::as_u64).unwrap_or(16).max(1)
}

pub(super) fn unexpected_fields(body: &Value) -> Option<String> {
    let names: Vec<String> = body
        .as_object()?
        .keys()
        .filter(|k| !STRICT_FIELDS.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}
