//! The compare page: two or more runs side by side: per scenario, each run's best rate meeting the
//! SLA and its launch command, the best commands' flags diffed flag by flag, and the runs' p99
//! TTFT and TPOT plots overlaid on shared axes.

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
                        // Beside the rate, what a million output tokens cost there (when priced).
                        let cost = s.as_ref()
                            .and_then(|s| s.answer.as_ref())
                            .filter(|a| a.rate.is_some())
                            .and_then(|a| a.cost_per_million_output_tokens)
                            .map(|d| view! { <span class="cost">{format!(" · ${d:.2} per M output tokens")}</span> });
                        let missing = s.as_ref()
                            .and_then(|s| s.answer.as_ref())
                            .and_then(|a| a.unconfirmed.clone())
                            .map(|m| view! { <span class="unconfirmed">{format!(" unconfirmed: {m}")}</span> });
                        let label = s.as_ref().filter(|s| s.best_rate.is_some()).and_then(|s| s.best_label.clone())
                            .map(|l| view! { <div class="best-label">{l}</div> });
                        let command = s.and_then(|s| s.best_command).unwrap_or_default();
                        view! { <td><b>{format!("{} req/s", num(rate, 2))}</b>{cost}{missing}{label}<pre class="command">{command}</pre></td> }
                    }).collect_view();
                    view! { <tr><td>{name.clone()}</td>{cells}</tr> }
                }).collect_view()}
            </tbody>
        </table>
        {move || scenarios().into_iter().map(|name| view! { <FlagDiff scenario=name.clone() runs=runs.get()/> }).collect_view()}
        <div class="plots">
            {move || {
                let loaded = runs.get();
                let Some((first, rest)) = loaded.split_first() else { return Vec::new() };
                let with: Vec<String> = rest.iter().map(|r| api::encode_component(&r.summary.id)).collect();
                let first_id = first.summary.id.clone();
                scenarios().into_iter().flat_map(|name| {
                    ["ttft", "tpot"].into_iter().map({
                        let (first_id, with, name) = (first_id.clone(), with.join(","), name.clone());
                        move |metric| {
                            let url = format!("/api/plot?run={}&scenario={}&metric={metric}&stat=p99&with={with}",
                                api::encode_component(&first_id), api::encode_component(&name));
                            let (svg, set_svg) = signal(String::new());
                            spawn_local(async move {
                                if let Ok(text) = api::get_text(&url).await {
                                    set_svg.set(text);
                                }
                            });
                            let caption = format!("{name}: every run on the same axes");
                            view! { <figure><figcaption>{caption}</figcaption><div class="plot" inner_html=move || svg.get()></div></figure> }
                        }
                    }).collect::<Vec<_>>()
                }).collect::<Vec<_>>()
            }}
        </div>
    }
}

/// The best commands' flags of one scenario, one row per flag that differs between the runs (the
/// flags they share are counted, not listed).
#[component]
fn FlagDiff(scenario: String, runs: Vec<RunDetail>) -> impl IntoView {
    let flags: Vec<Option<shared::flags::FlagMap>> = runs
        .iter()
        .map(|r| {
            r.scenarios
                .iter()
                .find(|s| s.name == scenario)
                .and_then(|s| s.best_trial.as_ref())
                .map(|t| t.server_flags.clone())
        })
        .collect();
    let (differing, same) = diff(&flags);
    view! {
        <h3>"Best commands of " {scenario.clone()} ", flag by flag"</h3>
        <table class="flag-diff">
            <thead><tr><th>"flag"</th>{runs.iter().map(|r| view! { <th>{r.summary.id.clone()}</th> }).collect_view()}</tr></thead>
            <tbody>
                {differing.into_iter().map(|(key, values)| view! {
                    <tr class="differs"><td>{key}</td>{values.into_iter().map(|v| view! { <td>{v}</td> }).collect_view()}</tr>
                }).collect_view()}
            </tbody>
        </table>
        <p class="muted">{format!("{same} other flag(s) are the same in every run.")}</p>
    }
}

/// Flags whose rendered values differ between the maps (`-` where a run does not set it, `no
/// answer` where a run has no best command), and how many are the same everywhere.
fn diff(flags: &[Option<shared::flags::FlagMap>]) -> (Vec<(String, Vec<String>)>, usize) {
    let keys: std::collections::BTreeSet<&String> =
        flags.iter().flatten().flat_map(|f| f.keys()).collect();
    let mut differing = Vec::new();
    let mut same = 0;
    for key in keys
        .into_iter()
        .filter(|k| !matches!(k.as_str(), "host" | "port"))
    {
        let values: Vec<String> = flags
            .iter()
            .map(|f| match f {
                None => "no answer".to_string(),
                Some(f) => f.get(key).map_or("-".into(), shared::flags::render_scalar),
            })
            .collect();
        if values.windows(2).all(|w| w[0] == w[1]) {
            same += 1;
        } else {
            differing.push((key.replace('_', "-"), values));
        }
    }
    (differing, same)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_differing_flags_are_listed() {
        let map = |v: serde_json::Value| serde_json::from_value(v).ok();
        let flags = [
            map(serde_json::json!({"model_path": "m", "tp_size": 1, "port": 1})),
            map(serde_json::json!({"model_path": "m", "tp_size": 2, "port": 2, "enable_x": true})),
        ];
        let (differing, same) = diff(&flags);
        assert_eq!(same, 1);
        assert_eq!(
            differing,
            [
                (
                    "enable-x".to_string(),
                    vec!["-".to_string(), "True".to_string()]
                ),
                (
                    "tp-size".to_string(),
                    vec!["1".to_string(), "2".to_string()]
                ),
            ]
        );
    }
}
