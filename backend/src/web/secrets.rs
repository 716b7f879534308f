//! Secrets in configs the dashboard handles: values of secret-named `server.env` keys
//! (`HF_TOKEN`, ...) are replaced by `<redacted>` in every config the dashboard shows or writes.
//! A run started from the dashboard gets the real values through its environment instead, and
//! the config resolver reads a `<redacted>` secret as "inherit it from the environment".

use shared::redact::{REDACTED, is_secret_env};

/// Replaces the values of secret-named keys (`HF_TOKEN: xxx`) in YAML text, keeping its layout.
/// Flow-style maps (`env: {HF_TOKEN: x}`) are rewritten as a whole document when a value would
/// otherwise survive.
pub(crate) fn redact_yaml(text: &str) -> String {
    let redacted = redact_lines(text);
    let leaked = secret_env_values(text)
        .iter()
        .any(|(_, value)| redacted.contains(value.as_str()));
    if leaked {
        redact_document(text).unwrap_or_default()
    } else {
        redacted
    }
}

fn redact_lines(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            match trimmed.split_once(':') {
                Some((key, value))
                    if is_secret_env(key.trim().trim_matches(['"', '\'']))
                        && !value.trim().is_empty() =>
                {
                    let indent = &line[..line.len() - trimmed.len()];
                    format!("{indent}{}: {REDACTED}", key.trim())
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn redact_document(text: &str) -> Option<String> {
    let mut doc: serde_norway::Value = serde_norway::from_str(text).ok()?;
    if let Some(env) = doc
        .get_mut("server")
        .and_then(|s| s.get_mut("env"))
        .and_then(serde_norway::Value::as_mapping_mut)
    {
        for (key, value) in env.iter_mut() {
            if key.as_str().is_some_and(is_secret_env) {
                *value = serde_norway::Value::String(REDACTED.into());
            }
        }
    }
    serde_norway::to_string(&doc).ok()
}

/// The real (not `<redacted>`) values of secret-named keys under `server.env`.
pub(super) fn secret_env_values(text: &str) -> Vec<(String, String)> {
    let Ok(doc) = serde_norway::from_str::<serde_norway::Value>(text) else {
        return Vec::new();
    };
    let Some(env) = doc
        .get("server")
        .and_then(|s| s.get("env"))
        .and_then(serde_norway::Value::as_mapping)
    else {
        return Vec::new();
    };
    env.iter()
        .filter_map(|(key, value)| {
            let key = key.as_str().filter(|k| is_secret_env(k))?;
            let value = match value {
                serde_norway::Value::String(s) => s.clone(),
                serde_norway::Value::Number(n) => n.to_string(),
                serde_norway::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            (value != REDACTED && !value.is_empty()).then(|| (key.to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_replaced() {
        let text = "server:\n  env:\n    HF_TOKEN: hf_abc\n    CUDA_VISIBLE_DEVICES: 0\n";
        let out = redact_yaml(text);
        assert!(!out.contains("hf_abc"));
        assert!(out.contains("CUDA_VISIBLE_DEVICES: 0"));
        assert!(out.contains("    HF_TOKEN: "));
    }

    #[test]
    fn flow_style_maps_are_redacted_too() {
        let text = "server:\n  env: {HF_TOKEN: hf_abc, OTHER: 1}\n";
        let out = redact_yaml(text);
        assert!(!out.contains("hf_abc"), "{out}");
        assert!(out.contains(REDACTED), "{out}");
    }

    #[test]
    fn only_real_secret_values_are_extracted() {
        let text = format!(
            "server:\n  env:\n    HF_TOKEN: hf_abc\n    OPENAI_API_KEY: '{REDACTED}'\n    CUDA_VISIBLE_DEVICES: 0\n"
        );
        assert_eq!(
            secret_env_values(&text),
            vec![("HF_TOKEN".to_string(), "hf_abc".to_string())]
        );
    }
}
