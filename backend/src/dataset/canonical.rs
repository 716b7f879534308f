//! Canonical JSONL: reading user files (canonical rows plus the legacy fields upstream accepted),
//! and writing/reading `prepared_dataset.jsonl`.
//!
//! Differences from upstream, on purpose: message fields beyond `role`/`content` (tool calls,
//! tool call ids, names, reasoning) are kept; legacy `system`/`content` rows never leak those keys
//! into request bodies; every problem names its line.

use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value};

use super::tokenizer::TokenizerBundle;
use super::{DatasetError, DatasetRow};

/// Keys with a meaning of their own; every other top-level key goes into the request body.
pub(super) const RESERVED: [&str; 18] = [
    "prompt",
    "messages",
    "prompt_origin",
    "output_len",
    "max_tokens",
    "max_completion_tokens",
    "completion_tokens",
    "prompt_len",
    "text_prompt_len",
    "vision_prompt_len",
    "image_data",
    "timestamp",
    "routing_key",
    "metadata",
    "extra_request_body",
    "param_send",
    "system",
    "content",
];

/// Reads up to `limit` rows (0 = all) of a canonical JSONL file.
pub(crate) fn load_canonical(
    path: &Path,
    limit: u64,
    output_len_override: Option<u64>,
    tokenizer: Option<&TokenizerBundle>,
) -> Result<Vec<DatasetRow>, DatasetError> {
    let mut rows = Vec::new();
    for entry in super::non_empty_lines(path)? {
        let (line_no, line) = entry?;
        let fail = |message: String| DatasetError::Row {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let value: Value =
            serde_json::from_str(&line).map_err(|e| fail(format!("invalid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(fail("expected a JSON object per line".into()));
        };
        let (row, _) = prepare_row(&object, output_len_override, tokenizer)?.map_err(fail)?;
        rows.push(row);
        if limit > 0 && rows.len() as u64 >= limit {
            break;
        }
    }
    if rows.is_empty() {
        return Err(DatasetError::Other(format!(
            "{}: the dataset has no rows",
            path.display()
        )));
    }
    Ok(rows)
}

/// One row exactly as `run` and `convert` send it (and `validate` shows and counts it): parsed, a
/// trailing assistant answer taken out of a chat prompt (its token count becomes `output_len`
/// unless the row gives one), `output_len_override` applied, the prompt counted. The inner error
/// is a problem of the row; the outer one a tokenizer failure. The flag says whether an answer
/// was taken out.
pub(crate) fn prepare_row(
    object: &Map<String, Value>,
    output_len_override: Option<u64>,
    tokenizer: Option<&TokenizerBundle>,
) -> Result<Result<(DatasetRow, bool), String>, DatasetError> {
    let mut row = match parse_row(object) {
        Ok(row) => row,
        Err(message) => return Ok(Err(message)),
    };
    let explicit_output = OUTPUT_KEYS
        .iter()
        .any(|k| object.get(*k).is_some_and(|v| !v.is_null()));
    let answer = take_trailing_answer(&mut row.prompt);
    if let Some(answer) = &answer
        && !explicit_output
        && let Some(bundle) = tokenizer
    {
        row.output_len = (bundle.count_text(&super::content_text(Some(answer)))? as u64).max(1);
    }
    if let Some(fixed) = output_len_override {
        row.output_len = fixed;
    }
    if row.prompt_len.is_none()
        && let Some(bundle) = tokenizer
    {
        row.prompt_len = prompt_tokens(bundle, &row.prompt)?;
    }
    Ok(Ok((row, answer.is_some())))
}

/// Keys that give a row's output length explicitly.
pub(super) const OUTPUT_KEYS: [&str; 4] = [
    "output_len",
    "max_tokens",
    "max_completion_tokens",
    "completion_tokens",
];

/// Removes a final assistant message from a chat prompt: it is the completion to be generated,
/// not part of the prompt. Returns its content.
pub(super) fn take_trailing_answer(prompt: &mut Value) -> Option<Value> {
    let messages = prompt.as_array_mut()?;
    let last_is_answer = messages.len() > 1
        && messages.last().is_some_and(|m| {
            m.get("role").and_then(Value::as_str) == Some("assistant")
                && m.get("tool_calls").is_none()
        });
    if !last_is_answer {
        return None;
    }
    messages.pop().and_then(|m| m.get("content").cloned())
}

/// Input tokens of a prompt: text and token ids directly, chat messages through the chat
/// template; multi-turn prompts are counted per round when sent, so `None` here.
pub(crate) fn prompt_tokens(
    bundle: &TokenizerBundle,
    prompt: &Value,
) -> Result<Option<u64>, DatasetError> {
    Ok(match super::prompt_kind(prompt) {
        super::PromptKind::Prompt => {
            Some(bundle.count_text(prompt.as_str().unwrap_or_default())? as u64)
        }
        super::PromptKind::TokenIds => prompt.as_array().map(|ids| ids.len() as u64),
        super::PromptKind::Messages => Some(bundle.count_messages(prompt)?.0 as u64),
        _ => None,
    })
}

/// Parses one canonical (or legacy) row object.
pub(crate) fn parse_row(object: &Map<String, Value>) -> Result<DatasetRow, String> {
    let prompt = prompt_of(object)?;
    let output_len = [
        "output_len",
        "max_tokens",
        "max_completion_tokens",
        "completion_tokens",
    ]
    .iter()
    .find_map(|k| object.get(*k).filter(|v| !v.is_null()))
    .map(|v| {
        v.as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("output_len must be a positive integer, got {v}"))
    })
    .transpose()?
    .unwrap_or(256);
    let mut extra = Map::new();
    if let Some(param_send) = object.get("param_send") {
        extra.extend(json_object(param_send, "param_send")?);
    }
    for (key, value) in object {
        if !RESERVED.contains(&key.as_str()) {
            extra.insert(key.clone(), value.clone());
        }
    }
    if let Some(explicit) = object.get("extra_request_body") {
        extra.extend(json_object(explicit, "extra_request_body")?);
    }
    Ok(DatasetRow {
        prompt,
        output_len,
        prompt_len: object
            .get("prompt_len")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0),
        extra_request_body: Some(extra).filter(|e| !e.is_empty()),
        image_data: object
            .get("image_data")
            .and_then(Value::as_array)
            .cloned()
            .filter(|a| !a.is_empty()),
        timestamp: object.get("timestamp").and_then(Value::as_f64),
        routing_key: object
            .get("routing_key")
            .and_then(Value::as_str)
            .map(str::to_string),
        metadata: object.get("metadata").cloned(),
    })
}

fn json_object(value: &Value, key: &str) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(format!("{key} must be a JSON object")),
        },
        Value::Null => Ok(Map::new()),
        _ => Err(format!("{key} must be a JSON object")),
    }
}

fn prompt_of(object: &Map<String, Value>) -> Result<Value, String> {
    if let Some(messages) = object.get("messages").filter(|m| !m.is_null()) {
        return messages_value(messages);
    }
    if let Some(prompt) = object.get("prompt").filter(|p| !p.is_null()) {
        return prompt_value(prompt);
    }
    if let Some(origin) = object.get("prompt_origin").filter(|p| !p.is_null()) {
        let decoded = match origin {
            Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| origin.clone()),
            other => other.clone(),
        };
        return messages_value(&decoded);
    }
    if let Some(Value::Array(content)) = object.get("content") {
        return legacy_turns(object.get("system"), content);
    }
    Err("missing prompt: expected `prompt`, `messages`, `prompt_origin` or legacy `system` + `content`".into())
}

fn prompt_value(prompt: &Value) -> Result<Value, String> {
    match prompt {
        Value::String(text) if text.is_empty() => Err("prompt is empty".into()),
        Value::String(text) if text.starts_with('[') || text.starts_with('{') => {
            match serde_json::from_str::<Value>(text) {
                Ok(decoded @ Value::Array(_)) => {
                    prompt_value(&decoded).or_else(|_| Ok(prompt.clone()))
                }
                _ => Ok(prompt.clone()),
            }
        }
        Value::String(_) => Ok(prompt.clone()),
        Value::Array(items) if items.is_empty() => Err("prompt is an empty list".into()),
        Value::Array(items) if items[0].is_object() => messages_value(prompt),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(prompt.clone()),
        Value::Array(items) if items.iter().all(|i| i.as_u64().is_some()) => Ok(prompt.clone()),
        Value::Array(items) if items.iter().all(Value::is_array) => {
            for round in items {
                messages_value(round)?;
            }
            Ok(prompt.clone())
        }
        _ => Err(
            "prompt must be a string, a list of messages, a list of turns or a list of token ids"
                .into(),
        ),
    }
}

/// Validates chat messages, keeping every field (tool calls, names, reasoning) as given.
fn messages_value(messages: &Value) -> Result<Value, String> {
    let Value::Array(items) = messages else {
        return Err("messages must be a list of {role, content} objects".into());
    };
    if items.is_empty() {
        return Err("messages is an empty list".into());
    }
    for (i, item) in items.iter().enumerate() {
        let ok = item.get("role").and_then(Value::as_str).is_some()
            && (item.get("content").is_some_and(|c| !c.is_null())
                || item.get("tool_calls").is_some());
        if !ok {
            return Err(format!(
                "message {i} needs a `role` and a non-null `content` (or `tool_calls`)"
            ));
        }
    }
    Ok(messages.clone())
}

/// Legacy `system` + `content` rows: alternate user/assistant turns; an even count drops the
/// final (assistant) answer, which is the completion being benchmarked.
fn legacy_turns(system: Option<&Value>, content: &[Value]) -> Result<Value, String> {
    if content.is_empty() {
        return Err("legacy `content` must be a non-empty list".into());
    }
    let mut turns: Vec<&Value> = content.iter().collect();
    if turns.len().is_multiple_of(2) {
        turns.pop();
    }
    let mut messages = Vec::new();
    if let Some(system) = system.filter(|s| s.as_str().is_some_and(|t| !t.is_empty())) {
        messages.push(serde_json::json!({"role": "system", "content": system}));
    }
    for (i, turn) in turns.iter().enumerate() {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let text = turn
            .as_str()
            .map_or_else(|| turn.to_string(), str::to_string);
        messages.push(serde_json::json!({"role": role, "content": text}));
    }
    Ok(Value::Array(messages))
}

/// Writes rows as JSONL (atomically).
pub(crate) fn write_prepared(path: &Path, rows: &[DatasetRow]) -> Result<(), DatasetError> {
    let io = |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    for row in rows {
        let line = serde_json::to_string(row).map_err(|e| DatasetError::Other(e.to_string()))?;
        writeln!(file, "{line}").map_err(io)?;
    }
    let file = file.persist(path).map_err(|e| io(e.error))?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<DatasetRow, String> {
        parse_row(value.as_object().expect("object"))
    }

    #[test]
    fn keeps_tool_call_fields_and_extras() {
        let row = parse(json!({"messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]},
            {"role": "tool", "tool_call_id": "1", "content": "r"}], "max_tokens": 9, "temperature": 0.5}))
        .expect("row");
        assert_eq!(row.output_len, 9);
        assert_eq!(row.prompt[1]["tool_calls"][0]["id"], json!("1"));
        assert_eq!(row.prompt[2]["tool_call_id"], json!("1"));
        assert_eq!(
            row.extra_request_body.expect("extra")["temperature"],
            json!(0.5)
        );
    }

    #[test]
    fn legacy_system_content_does_not_leak() {
        let row =
            parse(json!({"system": "be brief", "content": ["q1", "a1", "q2", "a2"]})).expect("row");
        assert!(row.extra_request_body.is_none());
        let messages = row.prompt.as_array().expect("messages");
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[3]["content"], json!("q2"));
    }

    #[test]
    fn json_looking_text_stays_text() {
        let row = parse(json!({"prompt": "[not actually json", "output_len": 3})).expect("row");
        assert_eq!(row.prompt, json!("[not actually json"));
    }

    #[test]
    fn rejects_bad_rows() {
        assert!(parse(json!({"prompt": "", "output_len": 3})).is_err());
        assert!(parse(json!({"prompt": "x", "output_len": 0})).is_err());
        assert!(parse(json!({"output_len": 3})).is_err());
    }
}
