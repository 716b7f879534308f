//! The runs page: every run under the results root, newest first.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::RunSummary;

use super::duration;
use crate::api;

/// Lists runs; refetches on every change event.
#[component]
pub fn RunsPage(changed: ReadSignal<(u64, String)>) -> impl IntoView {
    let (runs, set_runs) = signal(Vec::<RunSummary>::new());
    let (error, set_error) = signal(None::<String>);
    let picked = RwSignal::new(Vec::<String>::new());
    let compare_href = move || {
        let ids: Vec<String> = picked
            .get()
            .iter()
            .map(|id| api::encode_component(id))
            .collect();
        format!("#/compare/{}", ids.join(","))
    };
    Effect::new(move |_| {
        changed.track();
        spawn_local(async move {
            match api::get_json::<Vec<RunSummary>>("/api/runs").await {
                Ok(list) => {
                    set_runs.set(list);
                    set_error.set(None);
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
        });
    });
    view! {
        <h1>"Runs"</h1>
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        <table class="runs">
            <thead><tr><th>"compare"</th><th>"run"</th><th>"status"</th><th>"scenarios"</th><th>"answer: rate meeting the SLA"</th><th>"trials"</th><th>"started"</th><th>"duration"</th></tr></thead>
            <tbody>
                {move || runs.get().into_iter().map(|run| {
                    let href = format!("#/run/{}", api::encode_component(&run.id));
                    let status = run.status.name().to_string();
                    let best = run.best.iter()
                        .map(|(s, r)| {
                            let missing = run.unconfirmed.iter().find(|(n, _)| n == s)
                                .map_or(String::new(), |(_, m)| format!(" (unconfirmed: {m})"));
                            let cost = run.costs.iter().find(|(n, _)| n == s)
                                .map_or(String::new(), |(_, d)| format!(", ${d:.2} per M output tokens"));
                            format!("{s}: {}{cost}{missing}", r.map_or("-".into(), |r| format!("{r:.2} req/s")))
                        })
                        .collect::<Vec<_>>().join(" | ");
                    let id = run.id.clone();
                    view! {
                        <tr>
                            <td><input type="checkbox" class="pick" on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                let id = id.clone();
                                picked.update(|p| { p.retain(|x| *x != id); if on { p.push(id) } });
                            }/></td>
                            <td><a href=href class="run-link">{run.id.clone()}</a>{run.upstream.then_some(" (upstream, read-only)")}</td>
                            <td class=format!("status {status}")>{status.clone()}</td>
                            <td>{run.scenarios.join(", ")}</td>
                            <td>{best}</td>
                            <td>{run.trials}</td>
                            <td>{run.started_at.clone().unwrap_or_default()}</td>
                            <td>{duration(run.duration_s)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {move || runs.get().is_empty().then(|| view! { <p class="muted">"No runs under the results root yet."</p> })}
        <p class="muted">{move || format!("{} run(s)", runs.get().len())}</p>
        {move || (picked.get().len() >= 2).then(|| view! { <a class="button compare" href=compare_href()>"Compare selected runs"</a> })}
    }
}
