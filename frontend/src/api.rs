//! Talking to the backend: JSON and text fetches, and the live-change event stream. A refused
//! request's body is the dashboard's typed error ([`ApiError`]); pages act on its kind.

use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api_calls::ApiError;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Percent-encodes one URL component (like JavaScript's `encodeURIComponent`).
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes one URL component; invalid escapes are kept as they are.
pub(crate) fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(value)) => {
                out.push(value);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a call failed: the dashboard refused it (its typed error), or no answer could be read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// The dashboard's refusal.
    Refused(ApiError),
    /// The request did not get through, or its answer was not what the page expects.
    Unreadable(String),
}

impl Failure {
    /// Whether the same request with `force: true` goes ahead once the user agrees.
    pub(crate) fn needs_confirmation(&self) -> bool {
        matches!(self, Failure::Refused(error) if error.needs_confirmation())
    }

    /// A refused answer's body: its typed error, or its text when it is not one.
    fn of_body(text: String) -> Failure {
        match serde_json::from_str::<ApiError>(&text) {
            Ok(error) => Failure::Refused(error),
            Err(_) => Failure::Unreadable(text),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(error) => f.write_str(&error.message),
            Failure::Unreadable(text) => f.write_str(text),
        }
    }
}

async fn fetch(method: &str, url: &str, body: Option<&str>) -> Result<web_sys::Response, Failure> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&wasm_bindgen::JsValue::from_str(body));
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|e| Failure::Unreadable(format!("{e:?}")))?;
    if body.is_some() {
        let _ = request.headers().set("content-type", "application/json");
    }
    let response = JsFuture::from(window().fetch_with_request(&request))
        .await
        .map_err(|e| Failure::Unreadable(format!("{e:?}")))?;
    response
        .dyn_into::<web_sys::Response>()
        .map_err(|_| Failure::Unreadable("not a response".to_string()))
}

/// The answer's text when it succeeded; its typed error when it was refused.
async fn text_of(response: web_sys::Response) -> Result<String, Failure> {
    let ok = response.ok();
    let promise = response
        .text()
        .map_err(|e| Failure::Unreadable(format!("{e:?}")))?;
    let text = JsFuture::from(promise)
        .await
        .map_err(|e| Failure::Unreadable(format!("{e:?}")))?
        .as_string()
        .unwrap_or_default();
    if ok {
        Ok(text)
    } else {
        Err(Failure::of_body(text))
    }
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Unreadable(e.to_string()))
}

/// GETs `url` as text.
pub(crate) async fn get_text(url: &str) -> Result<String, Failure> {
    text_of(fetch("GET", url, None).await?).await
}

/// GETs `url` as JSON.
pub(crate) async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, Failure> {
    parse(&get_text(url).await?)
}

/// POSTs a JSON body and reads a JSON answer.
pub(crate) async fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, Failure> {
    let body = serde_json::to_string(body).map_err(|e| Failure::Unreadable(e.to_string()))?;
    parse(&text_of(fetch("POST", url, Some(&body)).await?).await?)
}

/// Counts change events and remembers the last changed run id; pages refetch when it moves.
/// The second signal is the stream's connection: `None` while connecting, then whether it is open.
pub(crate) fn live_changes() -> (ReadSignal<(u64, String)>, ReadSignal<Option<bool>>) {
    let (changed, set_changed) = signal((0_u64, String::new()));
    let (connected, set_connected) = signal(None::<bool>);
    if let Ok(source) = web_sys::EventSource::new("/api/events") {
        let on_open = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(
            move |_: web_sys::Event| set_connected.set(Some(true)),
        );
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();
        let on_error = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(
            move |_: web_sys::Event| set_connected.set(Some(false)),
        );
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        let on_message = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                let id = event.data().as_string().unwrap_or_default();
                set_changed.update(|(n, last)| {
                    *n += 1;
                    *last = id;
                });
            },
        );
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        std::mem::forget(source);
    }
    (changed, connected)
}

/// Whether a change event concerns run `id` (or every run, for the list).
pub(crate) fn concerns(changed: &(u64, String), id: &str) -> bool {
    changed.1.is_empty() || changed.1 == id || changed.1.starts_with(&format!("{id}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_round_trip() {
        for text in ["a/b c", "runs/h200 ü%", "plain-name_1.0"] {
            assert_eq!(decode_component(&encode_component(text)), text);
        }
        assert_eq!(encode_component("a/b"), "a%2Fb");
        assert_eq!(decode_component("%zz"), "%zz");
    }

    #[test]
    fn a_refusal_is_read_by_its_kind() {
        let body =
            r#"{"kind":"needs_confirmation","message":"warning: another run is still running"}"#;
        let failure = Failure::of_body(body.to_string());
        assert!(failure.needs_confirmation());
        assert_eq!(failure.to_string(), "warning: another run is still running");
        let plain = Failure::of_body("warning: not typed".to_string());
        assert!(!plain.needs_confirmation(), "the words decide nothing");
        assert_eq!(plain.to_string(), "warning: not typed");
    }
}
