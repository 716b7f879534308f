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
pub(crate) use shared::outward::dataset::CountMethod;

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
        if let Some(template) = &self.chat_template {
            let rendered = self
                .render(template, messages)
                .map_err(|e| self.template_error(&e))?;
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
    /// `Ok(None)` when the tokenizer has no chat template; an error when it has one that fails.
    pub(crate) fn render_user_prompt(&self, text: &str) -> Result<Option<String>, DatasetError> {
        let Some(template) = self.chat_template.as_ref() else {
            return Ok(None);
        };
        let rendered = self
            .render(
                template,
                &serde_json::json!([{"role": "user", "content": text}]),
            )
            .map_err(|e| self.template_error(&e))?;
        Ok(Some(
            rendered
                .strip_prefix(self.bos_token.as_str())
                .filter(|_| !self.bos_token.is_empty())
                .map_or(rendered.clone(), str::to_string),
        ))
    }

    /// A chat template that does not render, with its line: never a silent fallback to summing
    /// the message contents (which miscounts every chat prompt).
    fn template_error(&self, error: &minijinja::Error) -> DatasetError {
        let place = error
            .line()
            .map_or(String::new(), |line| format!(" at line {line}"));
        DatasetError::Other(format!(
            "the tokenizer's chat template fails{place}: {} ({})",
            error.detail().unwrap_or("cannot render"),
            error.kind()
        ))
    }

    /// Renders the chat template the way transformers does: Python string methods
    /// (`.strip()`, `.startswith()`, `.split()`, ... via minijinja-contrib's pycompat),
    /// `raise_exception`, `strftime_now`, and `tojson`.
    fn render(&self, template: &str, messages: &Value) -> Result<String, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("the template raised: {message}"),
                ))
            },
        );
        env.add_function("strftime_now", |format: String| {
            chrono::Local::now().format(&format).to_string()
        });
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

#[cfg(test)]
mod template_tests {
    use super::*;

    /// The tiny model's tokenizer with `template` as its chat template.
    fn bundle(template: &str) -> TokenizerBundle {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let path = format!(
            "{}/../references/sim/tiny-model",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut bundle = runtime.block_on(load_bundle(&path)).expect("tiny model");
        bundle.chat_template = Some(template.to_string());
        bundle
    }

    /// The Python idioms of the Qwen3, DeepSeek and Llama-3 templates in one small template.
    const PYTHONIC: &str = "{%- set today = strftime_now('%d %b %Y') %}\n\
        {%- if messages[0].content.startswith('SYSTEM:') %}{{ raise_exception('system prompts are not supported') }}{%- endif %}\n\
        {%- for message in messages %}\n\
        {%- if message.role == 'user' %}{{ '<|im_start|>user\\n' + message.content.strip() + '<|im_end|>\\n' }}\n\
        {%- elif message.role == 'assistant' %}{{ '<|im_start|>assistant\\n' + message.content.split('</think>')[-1].lstrip('\\n') + '<|im_end|>\\n' }}\n\
        {%- endif %}{%- endfor %}\n\
        {%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}";

    #[test]
    fn python_string_methods_render_instead_of_falling_back() {
        let bundle = bundle(PYTHONIC);
        let messages = serde_json::json!([
            {"role": "user", "content": "  hello there  "},
            {"role": "assistant", "content": "<think>hm</think>\nhi"},
            {"role": "user", "content": "how are you?"}
        ]);
        let (tokens, method) = bundle.count_messages(&messages).expect("renders");
        assert_eq!(method, CountMethod::ChatTemplate);
        let (summed, _) = bundle_without_template()
            .count_messages(&messages)
            .expect("sum");
        assert!(
            tokens > summed,
            "the template's markup is counted: {tokens} vs {summed}"
        );
        let rendered = bundle
            .render_user_prompt("  hi ")
            .expect("renders")
            .expect("template");
        assert!(
            rendered.starts_with("<|im_start|>user\nhi<|im_end|>"),
            "{rendered}"
        );
    }

    fn bundle_without_template() -> TokenizerBundle {
        let mut plain = bundle("");
        plain.chat_template = None;
        plain
    }

    #[test]
    fn a_failing_template_is_an_error_naming_its_line() {
        let bundle = bundle(PYTHONIC);
        let raised = bundle
            .count_messages(&serde_json::json!([{"role": "user", "content": "SYSTEM: be brief"}]))
            .expect_err("raise_exception");
        let text = raised.to_string();
        assert!(
            text.contains("at line 2") && text.contains("system prompts are not supported"),
            "{text}"
        );
        let broken =
            bundle_broken().count_messages(&serde_json::json!([{"role": "user", "content": "x"}]));
        assert!(
            broken.is_err_and(|e| e.to_string().contains("chat template fails at line 1")),
            "a syntax error is located"
        );
    }

    fn bundle_broken() -> TokenizerBundle {
        bundle("{% if %}oops{% endif %}")
    }

    /// A real model family's template from `tests/fixtures/chat-templates/` (see SOURCES.md
    /// there), with that model's BOS and EOS.
    fn real(file: &str, bos: &str, eos: &str) -> TokenizerBundle {
        let path = format!(
            "{}/../tests/fixtures/chat-templates/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let template = std::fs::read_to_string(&path).expect("fixture");
        let mut bundle = bundle(&template);
        bundle.bos_token = bos.into();
        bundle.eos_token = eos.into();
        bundle
    }

    fn conversation() -> Value {
        serde_json::json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
            {"role": "user", "content": "And 3+3?"}
        ])
    }

    /// Renders `messages` with the bundle's template, as counting does.
    fn rendered(bundle: &TokenizerBundle, messages: &Value) -> String {
        bundle
            .render(bundle.chat_template.as_deref().expect("template"), messages)
            .expect("the real template renders")
    }

    #[test]
    fn qwen3_template_renders_as_transformers_does() {
        let bundle = real("qwen3.jinja", "", "<|im_end|>");
        let text = rendered(&bundle, &conversation());
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n\
             <|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n"
        );
        let (_, method) = bundle.count_messages(&conversation()).expect("counts");
        assert_eq!(method, CountMethod::ChatTemplate);
    }

    #[test]
    fn deepseek_template_renders_as_transformers_does() {
        let bos = "<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}>";
        let eos = "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>";
        let bundle = real("deepseek-v3.jinja", bos, eos);
        let text = rendered(&bundle, &conversation());
        let user = "<\u{ff5c}User\u{ff5c}>";
        let assistant = "<\u{ff5c}Assistant\u{ff5c}>";
        assert_eq!(
            text,
            // R1's template keeps what follows `</think>` as is (Python's split does the same).
            format!(
                "{bos}Be brief.{user}What is 2+2?{assistant}\n\n4{eos}{user}And 3+3?{assistant}"
            )
        );
        let v31 = real("deepseek-v3.1.jinja", bos, eos);
        let text = rendered(&v31, &conversation());
        assert!(
            text.starts_with(&format!("{bos}Be brief.{user}What is 2+2?")),
            "{text}"
        );
        assert!(
            text.ends_with(assistant) || text.contains(&format!("{user}And 3+3?{assistant}")),
            "{text}"
        );
    }

    #[test]
    fn llama31_template_renders_as_transformers_does() {
        let bundle = real("llama-3.1.jinja", "<|begin_of_text|>", "<|eot_id|>");
        let text = rendered(&bundle, &conversation());
        assert!(
            text.starts_with(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n\
                 Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>\
                 <|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"),
            "{text}"
        );
        // The template's own error path (a tool-call check) raises with its message.
        let prompt = bundle
            .render_user_prompt("hi")
            .expect("renders")
            .expect("template");
        assert!(
            prompt.starts_with("<|start_header_id|>system"),
            "BOS stripped: {prompt}"
        );
    }
}
