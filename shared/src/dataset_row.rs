//! One request of the canonical dataset (one JSON line of `prepared_dataset.jsonl`) and the shape
//! of its prompt: what the dataset preparation writes and the load generator sends.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request of the canonical dataset (one JSON line of `prepared_dataset.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRow {
    /// A string, a list of chat messages, a list of turns, or a list of token ids.
    pub prompt: Value,
    /// Output tokens to request.
    pub output_len: u64,
    /// Input tokens, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_len: Option<u64>,
    /// Per-request body fields (override the global `extra_request_body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_request_body: Option<serde_json::Map<String, Value>>,
    /// Image URLs or data URIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_data: Option<Vec<Value>>,
    /// Arrival time for trace replay (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Routing key header value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// The shape of a row's prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptKind {
    /// Plain text.
    Prompt,
    /// Chat messages.
    Messages,
    /// Several user turns (chat, sent round by round).
    MultiTurn,
    /// Token ids.
    TokenIds,
    /// Not recognised.
    Unknown,
}

impl PromptKind {
    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            PromptKind::Prompt => "prompt",
            PromptKind::Messages => "messages",
            PromptKind::MultiTurn => "multi_turn",
            PromptKind::TokenIds => "token_ids",
            PromptKind::Unknown => "unknown",
        }
    }
}

/// Classifies a prompt value.
pub fn prompt_kind(prompt: &Value) -> PromptKind {
    match prompt {
        Value::String(_) => PromptKind::Prompt,
        Value::Array(items) => match items.first() {
            Some(Value::Object(_)) => PromptKind::Messages,
            Some(Value::String(_)) => PromptKind::MultiTurn,
            Some(Value::Number(_)) => PromptKind::TokenIds,
            Some(Value::Array(inner)) if inner.first().is_some_and(Value::is_object) => {
                PromptKind::MultiTurn
            }
            _ => PromptKind::Unknown,
        },
        _ => PromptKind::Unknown,
    }
}
