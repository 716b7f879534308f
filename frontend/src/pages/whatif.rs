//! The run page's SLA what-if: each limit of the run's SLA is a number the user can change, and
//! every scenario's recorded trials are judged again at once at the new limits
//! ([`shared::whatif`], the same code as `autobench report RUN_DIR --sla KEY=VALUE`). It says only
//! what the run measured, and says so: nothing is searched or confirmed at the new limits. The
//! limits the user typed live above the refetched part of the page, so they survive updates.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::ScenarioView;
use shared::api_calls::{RerunRequest, Started};
use shared::sla::Sla;

/// What the recorded trials say at the user's limits, one line per scenario.
#[component]
pub(crate) fn WhatIf(
    /// The run's id, for a rerun at the new limits.
    run: String,
    sla: Sla,
    scenarios: Vec<ScenarioView>,
    /// The user's limits by config key (`max_p99_ttft_ms`), only those changed.
    limits: RwSignal<BTreeMap<String, f64>>,
) -> impl IntoView {
    let inputs = sla
        .limits
        .iter()
        .map(|limit| {
            let key = limit.key.clone();
            let shown = key.clone();
            let original = limit.max_ms;
            let value = move || {
                limits
                    .get()
                    .get(&shown)
                    .copied()
                    .unwrap_or(original)
                    .to_string()
            };
            let on_input = move |ev| {
                let typed = event_target_value(&ev);
                limits.update(|map| match typed.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 && v != original => {
                        map.insert(key.clone(), v);
                    }
                    _ => {
                        map.remove(&key);
                    }
                });
            };
            view! {
                <label class="whatif-limit">
                    {format!("{} ≤ ", limit.plain_name())}
                    <input type="number" min="0" step="any" data-key=limit.key.clone()
                        prop:value=value on:input=on_input/>
                    " ms"
                </label>
            }
        })
        .collect_view();
    let judged = move || {
        let overrides: Vec<(String, f64)> = limits.get().into_iter().collect();
        if overrides.is_empty() {
            return view! {
                <p class="muted">"Change a limit to see what the recorded trials say at it."</p>
            }
            .into_any();
        }
        let Ok(new_sla) = shared::whatif::with_overrides(&sla, &overrides) else {
            return view! { <p class="warning">"These limits cannot be read."</p> }.into_any();
        };
        let lines = scenarios
            .iter()
            .map(|s| {
                let whatifs = shared::whatif::rejudge(&s.records, &new_sla);
                let text = shared::whatif::headline(&whatifs, &s.records, &new_sla);
                view! { <p class="whatif-line"><b>{format!("{}: ", s.name)}</b>{text}</p> }
            })
            .collect_view();
        let flags: Vec<String> = overrides
            .iter()
            .map(|(key, value)| format!("--sla {key}={value}"))
            .collect();
        view! {
            {lines}
            <p class="muted whatif-cli">
                "The same in a terminal: "
                <code>{format!("autobench report RUN_DIR {}", flags.join(" "))}</code>
                "."
            </p>
            <Rerun run=run.clone() limits=overrides.into_iter().collect()/>
        }
        .into_any()
    };
    view! {
        <section class="whatif">
            <h2>"What if the limits were different?"</h2>
            <p class="whatif-limits">{inputs}</p>
            {judged}
        </section>
    }
}

/// "Run again at these limits": the same run on its own folder at the new limits (a resume: every
/// recorded trial is reused), with "Start anyway" when other runs share the GPUs.
#[component]
fn Rerun(run: String, limits: BTreeMap<String, f64>) -> impl IntoView {
    let (said, set_said) = signal(None::<String>);
    let (warning, set_warning) = signal(false);
    let send = move |force: bool| {
        let body = RerunRequest {
            run: run.clone(),
            limits: limits.clone(),
            force,
        };
        spawn_local(async move {
            match crate::api::post_json::<_, Started>("/api/rerun", &body).await {
                Ok(_) => {
                    set_warning.set(false);
                    set_said.set(Some("Started: this page follows it. Recorded trials are reused; only what the new limits ask for is measured.".into()));
                }
                Err(why) => {
                    set_warning.set(why.needs_confirmation());
                    set_said.set(Some(why.to_string()));
                }
            }
        });
    };
    let again = send.clone();
    view! {
        <p class="whatif-rerun">
            <button class="rerun" on:click=move |_| send(false)>"Run again at these limits"</button>
            " searches and confirms at them on this run's folder: every recorded trial is reused."
        </p>
        {move || said.get().map(|text| view! { <p class="whatif-said">{text}</p> })}
        {move || warning.get().then(|| {
            let again = again.clone();
            view! { <button class="rerun-anyway" on:click=move |_| again(true)>"Start anyway"</button> }
        })}
    }
}
