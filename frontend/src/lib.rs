//! The autobench web UI: a Leptos client-side app compiled to WebAssembly by `backend/build.rs`
//! and embedded in the `autobench` binary, which serves it with `autobench serve`.
//!
//! Pages (hash routes, so the backend serves one `index.html`): `#/` every run under the results
//! root, `#/run/<id>` one run (candidates, trials, plots, logs, report export), `#/compare/<a>,<b>`
//! runs side by side, and `#/config`
//! (edit a config with the CLI's own validator and preview its plan). A server-sent event stream
//! (`/api/events`) names runs whose files changed; the open page refetches them.

mod api;
// Leptos' #[component] gives every page a `pub` props struct, which is not part of any API.
#[expect(
    unreachable_pub,
    reason = "leptos #[component] generates pub props structs"
)]
mod pages;

use leptos::prelude::*;

/// Where the hash route points.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Runs,
    Run(String),
    Compare(Vec<String>),
    Config,
}

fn parse_route(hash: &str) -> Route {
    let path = hash.trim_start_matches('#');
    if let Some(id) = path.strip_prefix("/run/") {
        Route::Run(api::decode_component(id))
    } else if let Some(ids) = path.strip_prefix("/compare/") {
        Route::Compare(ids.split(',').map(api::decode_component).collect())
    } else if path.starts_with("/config") {
        Route::Config
    } else {
        Route::Runs
    }
}

fn current_route() -> Route {
    parse_route(&window().location().hash().unwrap_or_default())
}

/// The status of the run the page shows once it has ended ("finished", "interrupted"), set by
/// the run page: the header then says so instead of the live-update dot.
#[derive(Clone, Copy)]
pub(crate) struct RunEnded(pub RwSignal<Option<String>>);

/// The header's indicator: the shown run's end, else the update stream's connection.
fn live_label(ended: Option<&str>, connected: Option<bool>) -> String {
    match (ended, connected) {
        (Some(status), _) => format!("{status} ✓"),
        (None, Some(true)) => "live ●".into(),
        (None, Some(false)) => "disconnected ○ (reconnecting)".into(),
        (None, None) => "connecting…".into(),
    }
}

/// The indicator's class, for its colour.
fn live_class(ended: Option<&str>, connected: Option<bool>) -> &'static str {
    match (ended, connected) {
        (Some(_), _) => "ended",
        (None, Some(true)) => "connected",
        (None, Some(false)) => "lost",
        (None, None) => "connecting",
    }
}

#[cfg(test)]
mod live_tests {
    use super::*;

    #[test]
    fn a_finished_run_is_not_shown_as_a_lost_connection() {
        assert_eq!(live_label(Some("finished"), Some(false)), "finished ✓");
        assert_eq!(live_label(None, Some(true)), "live ●");
        assert_eq!(
            live_label(None, Some(false)),
            "disconnected ○ (reconnecting)"
        );
        assert_eq!(live_class(Some("interrupted"), None), "ended");
    }
}

/// The whole app: header, live-update stream, routed page.
#[component]
pub fn App() -> impl IntoView {
    let route = RwSignal::new(current_route());
    let handle = window_event_listener(leptos::ev::hashchange, move |_| route.set(current_route()));
    on_cleanup(move || handle.remove());
    let (changed, connected) = api::live_changes();
    let ended = RunEnded(RwSignal::new(None));
    provide_context(ended);
    view! {
        <header>
            <a href="#/" class="brand">"autobench"</a>
            <nav><a href="#/">"Runs"</a><a href="#/config">"Config"</a></nav>
            <span class=move || format!("live {}", live_class(ended.0.get().as_deref(), connected.get())) title="live updates">
                {move || live_label(ended.0.get().as_deref(), connected.get())}
            </span>
        </header>
        <main>
            {move || match route.get() {
                Route::Runs => view! { <pages::runs::RunsPage changed=changed/> }.into_any(),
                Route::Run(id) => view! { <pages::run::RunPage id=id changed=changed/> }.into_any(),
                Route::Compare(ids) => view! { <pages::compare::ComparePage ids=ids/> }.into_any(),
                Route::Config => view! { <pages::config::ConfigPage/> }.into_any(),
            }}
        </main>
    }
}

/// Entry point in the browser.
#[cfg(all(target_arch = "wasm32", feature = "csr"))]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_from_the_hash() {
        assert_eq!(parse_route(""), Route::Runs);
        assert_eq!(parse_route("#/"), Route::Runs);
        assert_eq!(parse_route("#/config"), Route::Config);
        assert_eq!(parse_route("#/run/a%2Fb"), Route::Run("a/b".into()));
        assert_eq!(
            parse_route("#/compare/x,y%2Fz"),
            Route::Compare(vec!["x".into(), "y/z".into()])
        );
    }
}
