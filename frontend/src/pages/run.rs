//! The run page: progress and ETA, candidates and their states, and per scenario the best command,
//! plots (hover a point for its flags and numbers), and a sortable trials table; plus the logs and
//! the report export.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{CandidatePhase, RunDetail, ScenarioView};
use shared::metrics::{Metric, Series};
use shared::record::TrialRecord;
use shared::sla::Stat;

use super::{duration, num};
use crate::api;

/// One run, refetched when its files change.
#[component]
pub fn RunPage(id: String, changed: ReadSignal<(u64, String)>) -> impl IntoView {
    let (detail, set_detail) = signal(None::<RunDetail>);
    let (error, set_error) = signal(None::<String>);
    let query = format!("run={}", api::encode_component(&id));
    let detail_url = format!("/api/run?{query}");
    let watched = id.clone();
    Effect::new(move |_| {
        let change = changed.get();
        if !api::concerns(&change, &watched) && detail.get_untracked().is_some() {
            return;
        }
        let url = detail_url.clone();
        spawn_local(async move {
            match api::get_json::<RunDetail>(&url).await {
                Ok(d) => {
                    set_detail.set(Some(d));
                    set_error.set(None);
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    });
    let report_href = format!("/api/report?{query}");
    let stop_id = id.clone();
    let stop = move |_| {
        let body = serde_json::json!({ "run": stop_id.clone() });
        spawn_local(async move {
            if let Err(e) = api::post_json::<serde_json::Value>("/api/stop", &body).await {
                set_error.set(Some(e));
            }
        });
    };
    let running = move || {
        detail
            .get()
            .is_some_and(|d| d.summary.status == shared::api::RunStatus::Running)
    };
    let stat = RwSignal::new("p99".to_string());
    let axis = RwSignal::new("rate".to_string());
    view! {
        <h1>{id.clone()}</h1>
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        <p>
            <a class="button export" href=report_href download="report.html">"Export report.html"</a>
            {move || running().then(|| view! { <button class="stop" on:click=stop.clone()>"Stop run"</button> })}
            " plots show "
            <select on:change=move |ev| stat.set(event_target_value(&ev))>
                <option value="p99" selected>"p99"</option>
                <option value="p50">"p50"</option>
            </select>
            " against "
            <select on:change=move |ev| axis.set(event_target_value(&ev))>
                <option value="rate" selected>"achieved request rate"</option>
                <option value="tokens">"output tokens/s"</option>
            </select>
        </p>
        {move || detail.get().map(|d| view! { <RunBody detail=d query=query.clone() stat=stat axis=axis changed=changed/> })}
    }
}

/// The CSS class of a candidate phase (`state-probing`, `state-failed`).
fn phase_class(phase: &CandidatePhase) -> &'static str {
    match phase {
        CandidatePhase::Waiting => "waiting",
        CandidatePhase::Launching => "launching",
        CandidatePhase::WarmingUp => "warming-up",
        CandidatePhase::Probing { .. } => "probing",
        CandidatePhase::Measured => "measured",
        CandidatePhase::Done => "done",
        CandidatePhase::Failed { .. } => "failed",
        CandidatePhase::Stopped => "stopped",
    }
}

#[component]
fn RunBody(
    detail: RunDetail,
    query: String,
    stat: RwSignal<String>,
    axis: RwSignal<String>,
    changed: ReadSignal<(u64, String)>,
) -> impl IntoView {
    let status = detail.summary.status.name().to_string();
    let progress = match detail.trials_planned {
        Some(planned) => format!("{} of up to {planned} trials", detail.trials_done),
        None => format!("{} trials", detail.trials_done),
    };
    let candidates = detail.candidates.clone();
    let logs = detail.logs.clone();
    let warnings = detail.warnings.clone();
    let derived = detail.summary.derived;
    view! {
        {derived.then(|| view! { <p class="muted derived">"This folder has no events.jsonl (written by an older autobench or the upstream tool): status and progress are derived from its result files."</p> })}
        {warnings.into_iter().map(|w| view! { <p class="warning">{w}</p> }).collect_view()}
        <p class="summary">
            <span class=format!("status {status}")>{status.clone()}</span>
            " · " {progress}
            " · elapsed " {duration(detail.summary.duration_s)}
            {detail.eta_s.map(|eta| format!(" · about {} left", duration(Some(eta))))}
        </p>
        <h2>"Candidates"</h2>
        <ul class="candidates">
            {candidates.into_iter().map(|c| view! {
                <li class=format!("cand state-{}", phase_class(&c.phase))>
                    {format!("{} cand {}: {}", c.stage, c.id, c.phase)}
                </li>
            }).collect_view()}
        </ul>
        {detail.scenarios.into_iter().map(|s| view! { <Scenario scenario=s query=query.clone() stat=stat axis=axis changed=changed/> }).collect_view()}
        <Logs logs=logs query=query.clone()/>
    }
}

#[component]
fn Scenario(
    scenario: ScenarioView,
    query: String,
    stat: RwSignal<String>,
    axis: RwSignal<String>,
    changed: ReadSignal<(u64, String)>,
) -> impl IntoView {
    let name = scenario.name.clone();
    let plot = move |metric: &'static str| {
        let (svg, set_svg) = signal(String::new());
        let url_base = format!(
            "{query}&scenario={}&metric={metric}",
            api::encode_component(&name)
        );
        Effect::new(move |_| {
            changed.track();
            let url = format!("/api/plot?{url_base}&stat={}&x={}", stat.get(), axis.get());
            spawn_local(async move {
                if let Ok(text) = api::get_text(&url).await {
                    set_svg.set(text);
                }
            });
        });
        view! { <div class="plot" data-metric=metric inner_html=move || svg.get()></div> }
    };
    view! {
        <section class="scenario">
            <h2>"Scenario: " {scenario.name.clone()}</h2>
            {match (scenario.best_rate, scenario.best_command.clone()) {
                (Some(rate), Some(command)) => {
                    let interval = scenario.confirmation.as_ref().map(|c| format!(" ({})", c.interval_text())).unwrap_or_default();
                    let note = scenario.confirmation.as_ref().map(|c| c.note.clone());
                    view! {
                        <p>"Best: " <b>{format!("{rate:.2} req/s")}</b>{interval}</p>
                        {note.map(|n| view! { <p class="confirmation">{n}</p> })}
                        <pre class="command">{command}</pre>
                    }.into_any()
                }
                _ => view! { <p class="muted">"Nothing has met the SLA yet."</p> }.into_any(),
            }}
            <div class="plots">{plot("ttft")}{plot("tpot")}</div>
            <Trials records=scenario.records/>
        </section>
    }
}

/// Columns of the trials table: header, sort value, cell text.
type Column = (
    &'static str,
    fn(&TrialRecord) -> f64,
    fn(&TrialRecord) -> String,
);

fn metric(r: &TrialRecord, m: Metric) -> f64 {
    r.metric(m).unwrap_or(f64::NAN)
}

const TTFT_P50: Metric = Metric::Latency(Series::Ttft, Stat::Median);
const TTFT_P99: Metric = Metric::Latency(Series::Ttft, Stat::P99);
const TTFT_SCHED_P99: Metric = Metric::Latency(Series::TtftFromScheduled, Stat::P99);
const TPOT_P99: Metric = Metric::Latency(Series::Tpot, Stat::P99);
const ITL_P99: Metric = Metric::Latency(Series::Itl, Stat::P99);
const E2E_P99: Metric = Metric::Latency(Series::E2e, Stat::P99);

const COLUMNS: [Column; 12] = [
    (
        "cand",
        |r| r.candidate_id as f64,
        |r| format!("{} {}", r.stage, r.candidate_id),
    ),
    (
        "offered req/s",
        |r| r.requested_qps,
        |r| format!("{:.2}", r.requested_qps),
    ),
    (
        "achieved req/s",
        |r| metric(r, Metric::AchievedRate),
        |r| num(r.metric(Metric::AchievedRate), 2),
    ),
    (
        "output tok/s",
        |r| metric(r, Metric::OutputThroughput),
        |r| num(r.metric(Metric::OutputThroughput), 1),
    ),
    (
        "p50 TTFT ms",
        |r| metric(r, TTFT_P50),
        |r| num(r.metric(TTFT_P50), 1),
    ),
    (
        "p99 TTFT ms",
        |r| metric(r, TTFT_P99),
        |r| num(r.metric(TTFT_P99), 1),
    ),
    (
        "p99 TTFT sched ms",
        |r| metric(r, TTFT_SCHED_P99),
        |r| num(r.metric(TTFT_SCHED_P99), 1),
    ),
    (
        "p99 TPOT ms",
        |r| metric(r, TPOT_P99),
        |r| num(r.metric(TPOT_P99), 2),
    ),
    (
        "p99 ITL ms",
        |r| metric(r, ITL_P99),
        |r| num(r.metric(ITL_P99), 2),
    ),
    (
        "p99 E2E ms",
        |r| metric(r, E2E_P99),
        |r| num(r.metric(E2E_P99), 1),
    ),
    ("SLA", |r| f64::from(u8::from(r.sla_passed)), |r| verdict(r)),
    (
        "flags",
        |_| 0.0,
        |r| serde_json::to_string(&r.server_flags).unwrap_or_default(),
    ),
];

fn verdict(r: &TrialRecord) -> String {
    let mut text = r
        .verdict
        .as_ref()
        .filter(|_| r.metrics.is_some())
        .map_or(r.outcome_label(), |v| v.class())
        .to_string();
    if r.metrics.as_ref().is_some_and(|m| m.early_stopped) {
        text.push_str(" · early stop");
    }
    if r.metrics.as_ref().is_some_and(|m| m.client_limited()) {
        text.push_str(" · client-limited");
    }
    if let Some(steal) = r.host_steal_note() {
        text.push_str(&format!(" · {steal}"));
    }
    if let Some(d) = &r.diagnosis {
        text.push_str(&format!(" · {d}"));
    }
    text
}

#[component]
fn Trials(records: Vec<TrialRecord>) -> impl IntoView {
    let sort = RwSignal::new((1_usize, false));
    let rows = move || {
        let (column, descending) = sort.get();
        let mut rows = records.clone();
        let key = COLUMNS[column].1;
        rows.sort_by(|a, b| {
            let order = key(a).total_cmp(&key(b));
            if descending { order.reverse() } else { order }
        });
        rows
    };
    view! {
        <table class="trials">
            <thead><tr>
                {COLUMNS.iter().enumerate().map(|(index, (title, _, _))| view! {
                    <th class="sortable" on:click=move |_| sort.update(|(c, d)| { if *c == index { *d = !*d } else { *c = index; *d = false } })>
                        {*title}
                        {move || { let (c, d) = sort.get(); (c == index).then_some(if d { " ▼" } else { " ▲" }) }}
                    </th>
                }).collect_view()}
            </tr></thead>
            <tbody>
                {move || rows().into_iter().map(|r| {
                    let class = if r.sla_passed { "pass" } else { "fail" };
                    view! { <tr class=class>{COLUMNS.iter().map(|(_, _, cell)| view! { <td>{cell(&r)}</td> }).collect_view()}</tr> }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Logs(logs: Vec<String>, query: String) -> impl IntoView {
    let (text, set_text) = signal(String::new());
    let open = move |file: String| {
        let url = format!("/api/log?{query}&file={}", api::encode_component(&file));
        spawn_local(async move {
            set_text.set(api::get_text(&url).await.unwrap_or_else(|e| e));
        });
    };
    view! {
        <h2>"Logs"</h2>
        <p>{logs.into_iter().map(|file| {
            let open = open.clone();
            let label = file.clone();
            view! { <button class="log" on:click=move |_| open(file.clone())>{label}</button> }
        }).collect_view()}</p>
        <pre class="log-text">{move || text.get()}</pre>
    }
}
