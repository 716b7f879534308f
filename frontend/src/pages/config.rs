//! The config page: open a reference config, a path inside the results root or `references/`, or
//! a file from this computer (read by the browser, never by the server); edit it, check it with
//! the CLI's own validator (errors at their line and column), preview the plan, and start the run
//! (its page opens; it has the stop button).

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::ConfigCheck;
use shared::api_calls::{StartRequest, Started, ValidateRequest};

use crate::api;

/// Edit and check a config.
#[component]
pub fn ConfigPage() -> impl IntoView {
    let (text, set_text) = signal(String::new());
    let (choices, set_choices) = signal(Vec::<String>::new());
    let (check, set_check) = signal(None::<Result<ConfigCheck, String>>);
    spawn_local(async move {
        if let Ok(list) = api::get_json::<Vec<String>>("/api/configs").await {
            set_choices.set(list);
        }
    });
    let (load_error, set_load_error) = signal(None::<String>);
    let show = move |loaded: Result<String, String>| match loaded {
        Ok(body) => {
            set_text.set(body);
            set_check.set(None);
            set_load_error.set(None);
        }
        Err(e) => set_load_error.set(Some(e)),
    };
    let load = move |name: String| {
        spawn_local(async move {
            let url = format!("/api/config?name={}", api::encode_component(&name));
            show(api::get_text(&url).await.map_err(|e| e.to_string()));
        });
    };
    let (path, set_path) = signal(String::new());
    let open_path = move |_| {
        let url = format!(
            "/api/config?path={}",
            api::encode_component(&path.get_untracked())
        );
        spawn_local(async move { show(api::get_text(&url).await.map_err(|e| e.to_string())) });
    };
    let open_local_file = move |ev: leptos::ev::Event| {
        let Some(file) = event_target::<web_sys::HtmlInputElement>(&ev)
            .files()
            .and_then(|files| files.get(0))
        else {
            return;
        };
        spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text()).await;
            show(
                text.ok()
                    .and_then(|t| t.as_string())
                    .ok_or_else(|| "cannot read that file".to_string()),
            );
        });
    };
    let (name, set_name) = signal(String::from("dashboard-run"));
    let (started, set_started) = signal(None::<String>);
    let (warned, set_warned) = signal(None::<String>);
    let start = move |force: bool| {
        set_warned.set(None);
        set_started.set(None);
        let body = StartRequest {
            name: name.get_untracked(),
            yaml: text.get_untracked(),
            force,
        };
        spawn_local(async move {
            match api::post_json::<_, Started>("/api/start", &body).await {
                Ok(started) => {
                    let _ = window()
                        .location()
                        .set_hash(&format!("/run/{}", api::encode_component(&started.run)));
                }
                // Other runs are running: say so, and let the user start anyway.
                Err(e) if e.needs_confirmation() => set_warned.set(Some(e.to_string())),
                Err(e) => set_started.set(Some(e.to_string())),
            }
        });
    };
    let validate = move |_| {
        let body = ValidateRequest {
            yaml: text.get_untracked(),
        };
        spawn_local(async move {
            set_check.set(Some(
                api::post_json::<_, ConfigCheck>("/api/validate", &body)
                    .await
                    .map_err(|e| e.to_string()),
            ));
        });
    };
    let area = NodeRef::<leptos::html::Textarea>::new();
    let gutter = NodeRef::<leptos::html::Pre>::new();
    let numbers = move || {
        let lines = text.with(|t| t.split('\n').count()).max(1);
        (1..=lines)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let follow = move |_| {
        if let (Some(a), Some(g)) = (area.get(), gutter.get()) {
            g.set_scroll_top(a.scroll_top());
        }
    };
    let jump = move |line: usize| {
        let Some(a) = area.get() else { return };
        let body = text.get_untracked();
        let (start, end) = line_span(&body, line);
        let _ = a.focus();
        let _ = a.set_selection_range(start, end);
        let lines = body.split('\n').count().max(1) as f64;
        let per_line = f64::from(a.scroll_height()) / lines;
        a.set_scroll_top(((line.saturating_sub(1)) as f64 * per_line - 80.0).max(0.0) as i32);
        if let Some(g) = gutter.get() {
            g.set_scroll_top(a.scroll_top());
        }
    };
    view! {
        <h1>"Config"</h1>
        <p>
            <select class="config-choice" on:change=move |ev| load(event_target_value(&ev))>
                <option value="">"open a reference config…"</option>
                {move || choices.get().into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
            </select>
            " or a path "
            <input class="config-path" size="40" placeholder="results-root/… or references/…"
                prop:value=move || path.get() on:input=move |ev| set_path.set(event_target_value(&ev))/>
            <button class="open-path" on:click=open_path>"Open"</button>
            " or a file from this computer "
            <input class="config-file" type="file" accept=".yaml,.yml" on:change=open_local_file/>
        </p>
        {move || load_error.get().map(|e| view! { <p class="error load-error">{e}</p> })}
        <p>
            <button class="validate" on:click=validate>"Check and preview plan"</button>
            " run name "
            <input class="run-name" prop:value=move || name.get() on:input=move |ev| set_name.set(event_target_value(&ev))/>
            <button class="start" on:click=move |_| start(false)>"Start run"</button>
        </p>
        {move || started.get().map(|e| view! { <p class="error">{e}</p> })}
        {move || warned.get().map(|w| view! {
            <p class="warning start-warning">{w}" "
                <button class="start-anyway" on:click=move |_| start(true)>"Start anyway"</button>
            </p>
        })}
        <div class="editor">
            <div class="numbered">
                <pre class="gutter" node_ref=gutter aria-hidden="true">{numbers}</pre>
                <textarea class="config-text" rows="30" spellcheck="false" wrap="off" node_ref=area
                    prop:value=move || text.get()
                    on:scroll=follow
                    on:input=move |ev| set_text.set(event_target_value(&ev))></textarea>
            </div>
            <div class="check">
                {move || match check.get() {
                    None => view! { <p class="muted">"Not checked yet."</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                    Some(Ok(result)) if result.problems.is_empty() => view! {
                        <p class="ok">"Valid."</p><pre class="plan">{result.plan.unwrap_or_default()}</pre>
                    }.into_any(),
                    Some(Ok(result)) => view! {
                        <ul class="problems">
                            {result.problems.into_iter().map(|p| view! {
                                <li class="problem" data-line=p.line.map(|l| l.to_string()).unwrap_or_default()
                                    title="go to this line"
                                    on:click=move |_| if let Some(line) = p.line { jump(line) }>
                                    {match (p.line, p.column) {
                                        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
                                        (Some(l), None) => format!("line {l}: "),
                                        _ => String::new(),
                                    }}
                                    {p.message}
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
            </div>
        </div>
    }
}

/// The UTF-16 offsets (what a textarea's selection counts) of 1-based `line`'s start and end.
fn line_span(text: &str, line: usize) -> (u32, u32) {
    let mut start = 0_usize;
    for (index, content) in text.split('\n').enumerate() {
        let len = content.encode_utf16().count();
        if index + 1 == line {
            return (start as u32, (start + len) as u32);
        }
        start += len + 1;
    }
    (start as u32, start as u32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_is_found_by_its_utf16_offsets() {
        let text = "a: 1\nbé: 2\n\nc: 3";
        assert_eq!(super::line_span(text, 1), (0, 4));
        assert_eq!(super::line_span(text, 2), (5, 10));
        assert_eq!(super::line_span(text, 4), (12, 16));
    }
}
