//! The embedded web UI (built by `backend/build.rs` into `$OUT_DIR/dist`), served with the right
//! content types; unknown paths get `index.html` (the UI routes by URL hash).

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/dist"]
struct Ui;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Serves an embedded file.
pub(super) async fn static_file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match Ui::get(path).or_else(|| Ui::get("index.html")) {
        Some(file) => {
            let served = if Ui::get(path).is_some() {
                path
            } else {
                "index.html"
            };
            (
                [
                    (header::CONTENT_TYPE, content_type(served)),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                file.data.into_owned(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "the UI was built without its files").into_response(),
    }
}

/// Whether the wasm bundle is embedded (false with `UI_SKIP=1`).
pub(super) fn has_wasm() -> bool {
    Ui::get("pkg/frontend_bg.wasm").is_some()
}
