//! The text of a generation answer in each API's shape: streamed chunks, the whole answer,
//! `usage`, and SSE framing. The generated text cycles through a few fixed [`WORDS`].

use axum::body::Bytes;
use serde_json::{Value, json};

use super::request::Api;

/// Formats response chunks for one request.
pub(super) struct Chunks {
    pub(super) api: Api,
    pub(super) model: String,
    pub(super) prompt: u64,
    pub(super) output: u64,
    pub(super) id: String,
}

/// The words that the simulated text is made of, in turn.
pub(super) const WORDS: [&str; 8] = [
    " the",
    " model",
    " answers",
    " with",
    " simulated",
    " tokens",
    " of",
    " text",
];

fn text_for(from: u64, to: u64) -> String {
    (from..to)
        .map(|i| WORDS[(i % WORDS.len() as u64) as usize])
        .collect()
}

impl Chunks {
    pub(super) fn usage(&self, generated: u64) -> Value {
        json!({"prompt_tokens": self.prompt, "completion_tokens": generated, "total_tokens": self.prompt + generated})
    }

    pub(super) fn chunk(&self, previous: u64, generated: u64) -> Value {
        let finish = (generated >= self.output).then_some("length");
        match self.api {
            Api::Native => {
                json!({"text": text_for(0, generated), "meta_info": {"id": self.id, "prompt_tokens": self.prompt,
                "completion_tokens": generated, "finish_reason": finish.map(|_| json!({"type": "length", "length": self.output}))}, "index": 0})
            }
            Api::Completions => {
                json!({"id": self.id, "object": "text_completion", "model": self.model,
                "choices": [{"index": 0, "text": text_for(previous, generated), "logprobs": null, "finish_reason": finish}], "usage": null})
            }
            Api::Chat => {
                json!({"id": self.id, "object": "chat.completion.chunk", "model": self.model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": text_for(previous, generated)}, "finish_reason": finish}], "usage": null})
            }
        }
    }

    pub(super) fn whole(&self, generated: u64) -> Value {
        let text = text_for(0, generated);
        match self.api {
            Api::Native => {
                json!({"text": text, "meta_info": {"id": self.id, "prompt_tokens": self.prompt, "completion_tokens": generated,
                "finish_reason": {"type": "length", "length": generated}}})
            }
            Api::Completions => {
                json!({"id": self.id, "object": "text_completion", "model": self.model,
                "choices": [{"index": 0, "text": text, "finish_reason": "length"}], "usage": self.usage(generated)})
            }
            Api::Chat => json!({"id": self.id, "object": "chat.completion", "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}], "usage": self.usage(generated)}),
        }
    }
}

/// `value` as one SSE event.
pub(super) fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}
