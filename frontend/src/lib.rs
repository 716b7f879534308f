//! The autobench web UI (Leptos, compiled to WebAssembly and embedded in the backend binary).
//!
//! Not built yet: the dashboard arrives with the web issue. The crate exists so the workspace
//! layout is final and the backend can depend on it without a layout change.
