//! Datasets: the canonical request row, preparation of each dataset kind into
//! `prepared_dataset.jsonl`, and the prompt-kind rules that choose the request path.
//!
//! Every kind is normalised into [`DatasetRow`]s before the benchmark loop starts, so the load
//! generator sees one format whatever the source was.

mod canonical;
mod random;
mod tokenizer;

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use canonical::{load_canonical, read_prepared, write_prepared};
pub use random::random_rows;
pub use tokenizer::{TokenCounter, load_tokenizer};

use crate::config::{ApiBackend, DatasetKind, DatasetPlan, Scenario};

/// Dataset problems, always naming the file and line when there is one.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// I/O on a dataset file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Row {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer could not be loaded or used.
    #[error("tokenizer {name}: {message}")]
    Tokenizer {
        /// Name or path.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

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

/// Chooses the request path for `backend: auto` from the rows' prompt kinds (UPSTREAM-SPEC 8.4,
/// with lists of message lists counted as multi-turn rather than unknown).
pub fn infer_backend(rows: &[DatasetRow]) -> Result<ApiBackend, DatasetError> {
    let mut kinds: Vec<PromptKind> = rows.iter().map(|r| prompt_kind(&r.prompt)).collect();
    kinds.sort();
    kinds.dedup();
    let chat = |k: &PromptKind| matches!(k, PromptKind::Messages | PromptKind::MultiTurn);
    match kinds.as_slice() {
        [] => Err(DatasetError::Other("the dataset is empty".into())),
        [PromptKind::Prompt] => Ok(ApiBackend::SglangOai),
        [PromptKind::TokenIds] => Ok(ApiBackend::Sglang),
        all if all.iter().all(chat) => Ok(ApiBackend::SglangOaiChat),
        mixed => Err(DatasetError::Other(format!(
            "cannot infer the backend for mixed prompt kinds {mixed:?}; set benchmark.backend explicitly"
        ))),
    }
}

/// Prepares the rows of one scenario.
pub fn prepare(
    plan: &DatasetPlan,
    scenario: &Scenario,
    scenario_index: usize,
    tokenizer_name: &str,
) -> Result<Vec<DatasetRow>, DatasetError> {
    match plan.kind {
        DatasetKind::Random => {
            let tokenizer = load_tokenizer(tokenizer_name)?;
            let input_len = scenario.input_len.unwrap_or(1024);
            let output_len = scenario.output_len.unwrap_or(256);
            let seed = plan
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(scenario_index as u64);
            random_rows(
                &tokenizer,
                plan.num_prompts,
                input_len,
                output_len,
                plan.random_range_ratio,
                seed,
            )
        }
        DatasetKind::Custom => {
            let path = plan.path.as_deref().ok_or_else(|| {
                DatasetError::Other("dataset.path is required when dataset.kind=custom".into())
            })?;
            let tokenizer = load_tokenizer(tokenizer_name).ok();
            load_canonical(
                path,
                plan.num_prompts,
                plan.output_len_override,
                tokenizer.as_ref(),
            )
        }
        DatasetKind::Sharegpt | DatasetKind::GeneratedSharedPrefix => {
            Err(DatasetError::Other(format!(
                "dataset kind `{}` is not supported by `run` yet; convert it to canonical JSONL and use kind: custom",
                plan.kind.name()
            )))
        }
    }
}

/// A stable fingerprint of prepared rows (detects a dataset that changed under a results folder).
pub fn fingerprint(path: &Path) -> Result<String, DatasetError> {
    use sha2::Digest;
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(format!("{:x}", sha2::Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(prompt: Value) -> DatasetRow {
        DatasetRow {
            prompt,
            output_len: 4,
            prompt_len: None,
            extra_request_body: None,
            image_data: None,
            timestamp: None,
            routing_key: None,
            metadata: None,
        }
    }

    #[test]
    fn infers_backend_like_upstream() {
        assert_eq!(
            infer_backend(&[row(json!("hi"))]).ok(),
            Some(ApiBackend::SglangOai)
        );
        assert_eq!(
            infer_backend(&[row(json!([{"role": "user", "content": "hi"}]))]).ok(),
            Some(ApiBackend::SglangOaiChat)
        );
        assert_eq!(
            infer_backend(&[row(json!([1, 2, 3]))]).ok(),
            Some(ApiBackend::Sglang)
        );
        let rounds =
            json!([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]);
        assert_eq!(
            infer_backend(&[row(rounds), row(json!(["a", "b"]))]).ok(),
            Some(ApiBackend::SglangOaiChat)
        );
        assert!(infer_backend(&[row(json!("a")), row(json!([1]))]).is_err());
    }
}
