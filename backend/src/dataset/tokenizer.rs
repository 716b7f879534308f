//! Tokenizers for dataset preparation: a local folder holding `tokenizer.json` (or the file
//! itself), or a hub model id fetched through the hub cache ([`super::hub`]). Chat-message prompts
//! are counted by rendering the model's chat template (`tokenizer_config.json` or
//! `chat_template.jinja`) when it has one; otherwise by summing the messages' content tokens, and
//! the method used is reported.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::Tokenizer;

use super::DatasetError;
use super::hub::{Hub, RepoKind};

/// Loads a tokenizer from a directory containing `tokenizer.json` or from the file itself.
pub(crate) fn load_tokenizer(name: &str) -> Result<Tokenizer, DatasetError> {
    let path = tokenizer_file(name).ok_or_else(|| DatasetError::Tokenizer {
        name: name.to_string(),
        message: "not found: expected a local directory containing tokenizer.json, the path of a tokenizer.json file, or a hub model id".to_string(),
    })?;
    Tokenizer::from_file(&path).map_err(|e| DatasetError::Tokenizer {
        name: path.display().to_string(),
        message: e.to_string(),
    })
}

fn tokenizer_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let inside = path.join("tokenizer.json");
    inside.is_file().then_some(inside)
}

/// How a chat prompt's length was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CountMethod {
    /// The model's chat template, rendered with a generation prompt.
    ChatTemplate,
    /// Sum of the messages' content tokens (no template available).
    ContentSum,
}

/// A tokenizer plus what is needed to count chat prompts.
pub(crate) struct TokenizerBundle {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// Jinja chat template, if the model has one.
    pub chat_template: Option<String>,
    /// BOS token text for templates.
    pub bos_token: String,
    /// EOS token text for templates.
    pub eos_token: String,
}

/// Loads a tokenizer by local path or hub model id.
pub(crate) async fn load_bundle(name: &str) -> Result<TokenizerBundle, DatasetError> {
    let folder = if tokenizer_file(name).is_some() {
        let path = Path::new(name);
        if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        }
    } else if looks_like_repo_id(name) {
        let hub = Hub::from_env();
        let file = hub
            .file(RepoKind::Model, name, "tokenizer.json")
            .await
            .map_err(|e| DatasetError::Tokenizer {
                name: name.into(),
                message: e.to_string(),
            })?;
        for optional in ["tokenizer_config.json", "chat_template.jinja"] {
            let _ = hub.file(RepoKind::Model, name, optional).await;
        }
        file.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        return Err(DatasetError::Tokenizer { name: name.into(), message: "not found: expected a local folder with tokenizer.json, a tokenizer.json file, or a hub model id (owner/name)".into() });
    };
    let tokenizer = load_tokenizer(&folder.join("tokenizer.json").display().to_string())
        .or_else(|_| load_tokenizer(name))?;
    let config: Value = std::fs::read_to_string(folder.join("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let chat_template = template_from_config(&config)
        .or_else(|| std::fs::read_to_string(folder.join("chat_template.jinja")).ok());
    let token_text = |key: &str| match config.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    Ok(TokenizerBundle {
        tokenizer,
        chat_template,
        bos_token: token_text("bos_token"),
        eos_token: token_text("eos_token"),
    })
}

fn looks_like_repo_id(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| !p.is_empty() && !p.starts_with('.'))
        && !Path::new(name).exists()
}

fn template_from_config(config: &Value) -> Option<String> {
    match config.get("chat_template")? {
        Value::String(text) => Some(text.clone()),
        Value::Array(named) => named
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .or_else(|| named.first())
            .and_then(|t| t.get("template"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

impl TokenizerBundle {
    /// Tokens of plain text (no special tokens added).
    pub(crate) fn count_text(&self, text: &str) -> Result<usize, DatasetError> {
        self.tokenizer.count(text)
    }

    /// Tokens of a chat prompt, and how they were counted.
    pub(crate) fn count_messages(
        &self,
        messages: &Value,
    ) -> Result<(usize, CountMethod), DatasetError> {
        if let Some(template) = &self.chat_template
            && let Ok(rendered) = self.render(template, messages)
        {
            return Ok((self.count_text(&rendered)?, CountMethod::ChatTemplate));
        }
        let mut total = 0;
        for message in messages.as_array().map(Vec::as_slice).unwrap_or_default() {
            total += self.count_text(&content_text(message.get("content")))?;
        }
        Ok((total, CountMethod::ContentSum))
    }

    /// A plain prompt wrapped in the chat template as one user message, without a leading BOS
    /// (the server adds it), as upstream's `apply_chat_template` option does.
    pub(crate) fn render_user_prompt(&self, text: &str) -> Option<String> {
        let template = self.chat_template.as_ref()?;
        let rendered = self
            .render(
                template,
                &serde_json::json!([{"role": "user", "content": text}]),
            )
            .ok()?;
        Some(
            rendered
                .strip_prefix(self.bos_token.as_str())
                .filter(|_| !self.bos_token.is_empty())
                .map_or(rendered.clone(), str::to_string),
        )
    }

    fn render(&self, template: &str, messages: &Value) -> Result<String, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        env.add_template("chat", template)?;
        env.get_template("chat")?.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
    }
}

/// The text of a message's content (string, or the text parts of a multimodal list).
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Counts tokens of text, without special tokens.
pub(crate) trait TokenCounter {
    /// Number of tokens in `text`.
    fn count(&self, text: &str) -> Result<usize, DatasetError>;
}

impl TokenCounter for Tokenizer {
    fn count(&self, text: &str) -> Result<usize, DatasetError> {
        self.encode(text, false)
            .map(|e| e.get_ids().len())
            .map_err(|e| DatasetError::Tokenizer {
                name: "tokenizer".into(),
                message: e.to_string(),
            })
    }
}
