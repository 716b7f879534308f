//! The compare page: two or more runs side by side: per scenario, each run's best rate meeting the
//! SLA and its launch command, and each run's p99 TTFT plot.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::RunDetail;

use super::num;
use crate::api;

/// Compares the runs in `ids`.
#[component]
pub fn ComparePage(ids: Vec<String>) -> impl IntoView {
    let (runs, set_runs) = signal(Vec::<RunDetail>::new());
    let wanted = ids.clone();
    spawn_local(async move {
        let mut loaded = Vec::new();
        for id in wanted {
            let url = format!("/api/run?run={}", api::encode_component(&id));
            if let Ok(detail) = api::get_json::<RunDetail>(&url).await {
                loaded.push(detail);
            }
        }
        set_runs.set(loaded);
    });
    let scenarios = move || {
        let mut names: Vec<String> = runs
            .get()
            .iter()
            .flat_map(|r| r.scenarios.iter().map(|s| s.name.clone()))
            .collect();
        names.dedup();
        names.sort();
        names.dedup();
        names
    };
    view! {
        <h1>"Compare " {ids.join(" · ")}</h1>
        <table class="compare">
            <thead><tr>
                <th>"scenario"</th>
                {move || runs.get().into_iter().map(|r| view! { <th>{r.summary.id}</th> }).collect_view()}
            </tr></thead>
            <tbody>
                {move || scenarios().into_iter().map(|name| {
                    let cells = runs.get().into_iter().map(|r| {
                        let s = r.scenarios.iter().find(|s| s.name == name).cloned();
                        let rate = s.as_ref().and_then(|s| s.best_rate);
                        let command = s.and_then(|s| s.best_command).unwrap_or_default();
                        view! { <td><b>{format!("{} req/s", num(rate, 2))}</b><pre class="command">{command}</pre></td> }
                    }).collect_view();
                    view! { <tr><td>{name.clone()}</td>{cells}</tr> }
                }).collect_view()}
            </tbody>
        </table>
        <div class="plots">
            {move || runs.get().into_iter().flat_map(|r| {
                let id = r.summary.id.clone();
                r.scenarios.into_iter().map(move |s| {
                    let url = format!("/api/plot?run={}&scenario={}&metric=ttft&stat=p99",
                        api::encode_component(&id), api::encode_component(&s.name));
                    let (svg, set_svg) = signal(String::new());
                    spawn_local(async move {
                        if let Ok(text) = api::get_text(&url).await {
                            set_svg.set(text);
                        }
                    });
                    let caption = format!("{id}: {}", s.name);
                    view! { <figure><figcaption>{caption}</figcaption><div class="plot" inner_html=move || svg.get()></div></figure> }
                }).collect::<Vec<_>>()
            }).collect_view()}
        </div>
    }
}
