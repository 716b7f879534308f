//! Property test of the dataset row parser ([`super::parse_row`]): random mutations of valid rows
//! (text edits, and values swapped for huge numbers, wrong types, long strings or deep nesting)
//! never panic or take unbounded memory. A row that parses survives the trip through
//! `prepared_dataset.jsonl` unchanged and builds a request for every path, or a clear error.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::DatasetRow;
use super::canonical::parse_row;
use crate::config::ApiBackend;
use crate::fuzz;
use crate::loadgen::request::{BodyOptions, build};

const ROWS: [&str; 12] = [
    r#"{"prompt": "hello world", "output_len": 16}"#,
    r#"{"prompt": [1, 2, 3, 4], "max_tokens": 8, "prompt_len": 4}"#,
    r#"{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "output_len": 4}"#,
    r#"{"prompt": ["first", "second", "third"], "output_len": 4, "timestamp": 10.5, "routing_key": "user-a"}"#,
    r#"{"prompt": [[{"role": "user", "content": "q1"}], [{"role": "user", "content": "q2"}]], "max_completion_tokens": 4}"#,
    r#"{"messages": [{"role": "user", "content": "w?"}, {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "sun"}], "output_len": 4}"#,
    r#"{"system": "sys", "content": ["q", "a", "q2"], "completion_tokens": 3}"#,
    r#"{"prompt_origin": "[{\"role\": \"user\", \"content\": \"x\"}]", "param_send": "{\"temperature\": 0.5}", "output_len": 2}"#,
    r#"{"prompt": "[{\"role\": \"user\", \"content\": \"json in a string\"}]", "extra_request_body": "{\"top_p\": 0.9}"}"#,
    r#"{"prompt": "x", "output_len": 1, "image_data": ["data:image/png;base64,AAAA"], "metadata": {"source": "t"}, "custom": [1, {"a": null}]}"#,
    r#"{"prompt": "y", "extra_request_body": {"temperature": 0, "stop": ["\n"]}, "param_send": null}"#,
    r#"{"messages": [{"role": "user", "content": [{"type": "text", "text": "multi-part"}]}], "output_len": 5}"#,
];

const KEYS: [&str; 22] = [
    "prompt",
    "messages",
    "prompt_origin",
    "output_len",
    "max_tokens",
    "max_completion_tokens",
    "completion_tokens",
    "prompt_len",
    "image_data",
    "timestamp",
    "routing_key",
    "metadata",
    "extra_request_body",
    "param_send",
    "system",
    "content",
    "role",
    "tool_calls",
    "temperature",
    "sampling_params",
    "stream",
    "",
];

fn scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..16) {
        0 => json!(u64::MAX),
        1 => json!(i64::MIN),
        2 => json!(f64::MAX),
        3 => json!(-1),
        4 => json!(0),
        5 => json!(1e-300),
        6 => json!(null),
        7 => json!(true),
        8 => json!(""),
        9 => json!("x".repeat(rng.random_range(1000..100_000))),
        10 => json!("[{\"role\": \"user\", \"content\": 1}]"),
        11 => json!("{\"nested\": \"json\"}"),
        12 => json!("\u{0}\u{feff}\u{10ffff}"),
        13 => json!(rng.random::<u64>()),
        14 => json!(rng.random::<f64>() * 1e12 - 5e11),
        _ => json!(KEYS[rng.random_range(0..KEYS.len())]),
    }
}

fn random_value(rng: &mut StdRng, depth: usize) -> Value {
    if depth == 0 || rng.random_bool(0.4) {
        return scalar(rng);
    }
    let len = rng.random_range(0..5);
    if rng.random_bool(0.5) {
        Value::Array((0..len).map(|_| random_value(rng, depth - 1)).collect())
    } else {
        let mut map = Map::new();
        for _ in 0..len {
            let key = KEYS[rng.random_range(0..KEYS.len())].to_string();
            map.insert(key, random_value(rng, depth - 1));
        }
        Value::Object(map)
    }
}

/// A value nested `depth` levels deep (arrays or objects).
fn deep(depth: usize, rng: &mut StdRng) -> Value {
    let mut value = scalar(rng);
    for _ in 0..depth {
        value = if rng.random_bool(0.5) {
            json!([value])
        } else {
            json!({"content": value, "role": "user"})
        };
    }
    value
}

/// Replaces one node of `value` (walking down from the root) with something else.
fn replace_somewhere(value: &mut Value, rng: &mut StdRng) {
    let descend = rng.random_bool(0.6);
    let child = match value {
        Value::Object(map) if descend && !map.is_empty() => {
            let index = rng.random_range(0..map.len());
            map.values_mut().nth(index)
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let index = rng.random_range(0..items.len());
            items.get_mut(index)
        }
        _ => None,
    };
    match child {
        Some(child) => replace_somewhere(child, rng),
        None => {
            *value = match rng.random_range(0..4) {
                0 => deep(rng.random_range(10..120), rng),
                1 => random_value(rng, 4),
                _ => scalar(rng),
            };
        }
    }
}

fn text_edit(text: &str, rng: &mut StdRng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return text.to_string();
    }
    let at = rng.random_range(0..chars.len());
    match rng.random_range(0..5) {
        0 => {
            chars.remove(at);
        }
        1 if at + 1 < chars.len() => chars.swap(at, at + 1),
        2 => chars.truncate(at),
        3 => {
            let stray = [
                '{', '}', '[', ']', '"', ',', ':', '\\', '0', '-', 'e', '\u{0}',
            ];
            chars.insert(at, stray[rng.random_range(0..stray.len())]);
        }
        _ => {
            // A number made huge where one was.
            if chars[at].is_ascii_digit() {
                let huge: Vec<char> = "99999999999999999999999".chars().collect();
                chars.splice(at..=at, huge);
            }
        }
    }
    chars.into_iter().collect()
}

fn mutated_row(case: usize) -> String {
    let mut rng = fuzz::rng(0xDA7A_0000 + case as u64);
    let base = ROWS[case % ROWS.len()];
    match case % 5 {
        // Deeply nested text: past the JSON reader's own depth limit at times.
        0 if case.is_multiple_of(15) => {
            let depth = rng.random_range(100..400);
            format!(
                "{{\"prompt\": {}\"x\"{}, \"output_len\": 1}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
        }
        0 | 1 => {
            let mut text = base.to_string();
            for _ in 0..rng.random_range(1..4) {
                text = text_edit(&text, &mut rng);
            }
            text
        }
        2 => random_value(&mut rng, 5).to_string(),
        _ => {
            let mut value: Value = serde_json::from_str(base).expect("a valid sample row");
            for _ in 0..rng.random_range(1..4) {
                replace_somewhere(&mut value, &mut rng);
            }
            value.to_string()
        }
    }
}

fn options(backend: ApiBackend) -> BodyOptions {
    BodyOptions {
        backend,
        model: "m".into(),
        stream: true,
        ignore_eos: true,
        extensions: true,
        extra: Map::new(),
    }
}

fn check_row(text: &str) -> Result<(), String> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Ok(());
    };
    let Ok(row) = parse_row(&object) else {
        return Ok(());
    };
    let line = serde_json::to_string(&row).map_err(|e| format!("row does not serialise: {e}"))?;
    let back: DatasetRow =
        serde_json::from_str(&line).map_err(|e| format!("prepared row does not read back: {e}"))?;
    if back != row {
        return Err(format!("prepared row changed on the way back: {line}"));
    }
    for backend in [
        ApiBackend::Sglang,
        ApiBackend::SglangOai,
        ApiBackend::SglangOaiChat,
    ] {
        let _ = build(&row, &options(backend), None);
        let _ = build(&row, &options(backend), Some(32));
    }
    Ok(())
}

#[test]
fn the_sample_rows_parse() {
    for row in ROWS {
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(row) else {
            panic!("sample row is not an object: {row}");
        };
        parse_row(&object).unwrap_or_else(|e| panic!("{row}: {e}"));
        check_row(row).unwrap_or_else(|e| panic!("{row}: {e}"));
    }
}

#[test]
fn mutated_rows_are_rows_or_errors() {
    fuzz::run_cases("dataset row", 4000, 32 << 20, mutated_row, |text| {
        check_row(text)
    });
}
