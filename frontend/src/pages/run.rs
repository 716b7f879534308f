//! The run page, answer first: a banner when the run is partial, interrupted, failed or stale;
//! per scenario the best command (named by what it changes), its rate with the interval, its gain
//! over the baseline and its headroom to each SLA limit, with a copy button; then the evidence:
//! candidates, plots, a sortable trials table and the logs.
//!
//! The page is refetched when the run's files change; what the user set (sort order, the open
//! log, the plot options) lives in [`UiState`] above the refetched part, so it survives updates,
//! and plots keep showing their last picture until the new one arrives.

use std::collections::{BTreeMap, HashMap};

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::api::{CandidatePhase, RunDetail, RunStatus, ScenarioView};
use shared::api_calls::{StopRequest, Stopping};
use shared::metrics::{Metric, Series};
use shared::record::TrialRecord;
use shared::sla::Stat;

use super::whatif::WhatIf;
use super::{duration, num};
use crate::api;

/// What the user set on the page, kept across refetches.
#[derive(Clone, Copy)]
struct UiState {
    stat: RwSignal<String>,
    axis: RwSignal<String>,
    /// Per scenario: sorted column and whether descending.
    sorts: RwSignal<HashMap<String, (usize, bool)>>,
    log_file: RwSignal<Option<String>>,
    log_text: RwSignal<String>,
    /// Last SVG per plot (`scenario/metric`).
    plots: RwSignal<HashMap<String, String>>,
    /// The what-if's limits the user changed, by config key.
    whatif: RwSignal<BTreeMap<String, f64>>,
}

impl UiState {
    fn new() -> UiState {
        UiState {
            // Empty until the run's SLA is known: then the statistic its limits use.
            stat: RwSignal::new(String::new()),
            axis: RwSignal::new("rate".into()),
            sorts: RwSignal::new(HashMap::new()),
            whatif: RwSignal::new(BTreeMap::new()),
            log_file: RwSignal::new(None),
            log_text: RwSignal::new(String::new()),
            plots: RwSignal::new(HashMap::new()),
        }
    }
}

/// One run, refetched when its files change.
#[component]
pub fn RunPage(id: String, changed: ReadSignal<(u64, String)>) -> impl IntoView {
    let (detail, set_detail) = signal(None::<RunDetail>);
    let (error, set_error) = signal(None::<String>);
    let ui = UiState::new();
    let query = format!("run={}", api::encode_component(&id));
    let detail_url = format!("/api/run?{query}");
    let log_query = query.clone();
    let watched = id.clone();
    // Tell the header when this run has ended, so it says "finished" rather than a lost dot.
    if let Some(ended) = use_context::<crate::RunEnded>() {
        Effect::new(move |_| {
            let status = detail
                .get()
                .map(|d| d.summary.status)
                .filter(|s| *s != RunStatus::Running)
                .map(|s| s.name().to_string());
            ended.0.set(status);
        });
        on_cleanup(move || ended.0.set(None));
    }
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
                Err(e) => set_error.set(Some(e.to_string())),
            }
        });
        if let Some(file) = ui.log_file.get_untracked() {
            fetch_log(&log_query, file, ui);
        }
    });
    view! {
        <h1>{id.clone()}</h1>
        {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        {move || detail.get().map(|d| view! { <RunBody detail=d id=id.clone() query=query.clone() ui=ui set_error=set_error/> })}
    }
}

fn fetch_log(query: &str, file: String, ui: UiState) {
    let url = format!("{query}&file={}", api::encode_component(&file));
    spawn_local(async move {
        let text = api::get_text(&format!("/api/log?{url}"))
            .await
            .unwrap_or_else(|e| e.to_string());
        ui.log_text.set(text);
    });
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

/// The banner of a run that is not simply running or finished: (class, title, text).
fn banner(d: &RunDetail) -> Option<(&'static str, &'static str, String)> {
    let why = d.partial.clone().unwrap_or_default();
    match d.summary.status {
        RunStatus::Partial => Some(("partial", "PARTIAL", why)),
        RunStatus::Interrupted => Some((
            "interrupted",
            "INTERRUPTED",
            format!("{why} Partial results; run the same command again to resume.")
                .trim()
                .to_string(),
        )),
        RunStatus::Failed => Some(("failed", "FAILED", why)),
        RunStatus::Running if d.stale => Some((
            "stale",
            "STALE",
            format!(
                "says running, but nothing was written since {}",
                d.last_update.clone().unwrap_or_else(|| "?".into())
            ),
        )),
        _ => None,
    }
}

#[component]
fn RunBody(
    detail: RunDetail,
    id: String,
    query: String,
    ui: UiState,
    set_error: WriteSignal<Option<String>>,
) -> impl IntoView {
    let status = detail.summary.status.name().to_string();
    let progress = match detail.trials_planned {
        // The confirmation's trials are not in the search's estimate.
        Some(planned) if planned >= detail.trials_done => {
            format!("{} of up to {planned} trials", detail.trials_done)
        }
        _ => format!("{} trials", detail.trials_done),
    };
    let running = detail.summary.status == RunStatus::Running;
    let report_href = format!("/api/report?{query}");
    let run_id = id.clone();
    let stop_refused = detail.stop_refused.clone();
    let stop = move |_| {
        let body = StopRequest { run: id.clone() };
        spawn_local(async move {
            if let Err(e) = api::post_json::<_, Stopping>("/api/stop", &body).await {
                set_error.set(Some(e.to_string()));
            }
        });
    };
    let derived = detail.summary.derived;
    let finished = !running;
    if ui.stat.get_untracked().is_empty() {
        ui.stat.set(sla_stat(detail.sla.as_ref()).into());
    }
    view! {
        {banner(&detail).map(|(class, title, text)| view! {
            <div class=format!("banner {class}")><b>{title}</b>" "{text}</div>
        })}
        {derived.then(|| view! { <p class="muted derived">"This folder has no events.jsonl (written by an older autobench or the upstream tool): status and progress are derived from its result files."</p> })}
        {detail.warnings.clone().into_iter().map(|w| view! { <p class="warning">{w}</p> }).collect_view()}
        <p class="summary">
            <span class=format!("status {status}")>{status.clone()}</span>
            " · " {progress}
            " · elapsed " {duration(detail.summary.duration_s)}
            {detail.eta_s.map(|eta| format!(" · about {} left (confirmation included)", duration(Some(eta))))}
            " "
            <a class="button export" href=report_href download="report.html">"Export report.html"</a>
            {running.then(|| match stop_refused.clone() {
                None => view! { <button class="stop" on:click=stop.clone()>"Stop run"</button> }.into_any(),
                Some(why) => view! {
                    <button class="stop" disabled=true title=why.clone()>"Stop run"</button>
                    <span class="muted stop-why">{why}</span>
                }.into_any(),
            })}
        </p>
        <section class="answers">
            {detail.scenarios.iter().map(|s| view! { <Answer scenario=s.clone() finished=finished/> }).collect_view()}
        </section>
        {detail.sla.clone().filter(|_| finished).map(|sla| view! {
            <WhatIf run=run_id.clone() sla=sla scenarios=detail.scenarios.clone() limits=ui.whatif/>
        })}
        {(!detail.candidates.is_empty()).then(|| view! { <h2>"Candidates"</h2> })}
        <ul class="candidates">
            {detail.candidates.iter().map(|c| view! {
                <li class=format!("cand state-{}", phase_class(&c.phase)) title=c.command.clone().unwrap_or_default()>
                    {swatch(c.id)}
                    <span class="cand-name">{format!("{} {} · {}", c.stage, c.id, c.label)}</span>
                    {format!(": {}", c.phase)}
                    {c.job.clone().map(|job| view! { <span class="cand-job">{format!(" · {job}")}</span> })}
                </li>
            }).collect_view()}
        </ul>
        <p class="controls">
            "Plots show "
            <select prop:value=move || ui.stat.get() on:change=move |ev| ui.stat.set(event_target_value(&ev))>
                <option value="p99">"p99"</option>
                <option value="p95">"p95"</option>
                <option value="p90">"p90"</option>
                <option value="p50">"p50"</option>
            </select>
            " against "
            <select prop:value=move || ui.axis.get() on:change=move |ev| ui.axis.set(event_target_value(&ev))>
                <option value="rate">"achieved request rate"</option>
                <option value="tokens">"output tokens/s"</option>
            </select>
        </p>
        {detail.scenarios.into_iter().map(|s| view! { <Scenario scenario=s query=query.clone() ui=ui/> }).collect_view()}
        <Logs logs=detail.logs query=query ui=ui/>
    }
}

/// The plots' statistic at first: the one the SLA's first latency limit uses (a p90 SLA is
/// plotted at p90, with its limit drawn), p99 without one.
fn sla_stat(sla: Option<&shared::sla::Sla>) -> &'static str {
    match sla.and_then(|s| s.limits.first()).map(|l| l.stat) {
        Some(Stat::P95) => "p95",
        Some(Stat::P90) => "p90",
        Some(Stat::Median) => "p50",
        _ => "p99",
    }
}

/// A scenario's answer (or best so far): the answer sentence, how sure it is (collapsed), and the
/// command. During the scenario's confirmation it shows what is being checked instead: no rate is
/// an answer before its check.
#[component]
fn Answer(scenario: ScenarioView, finished: bool) -> impl IntoView {
    if let Some(checking) = scenario.checking.clone() {
        // "Checked ...": this scenario's checks are over; the answer comes at the run's end.
        let over = checking.starts_with("Checked");
        let title = if over { "Checked" } else { "Checking" };
        return view! {
            <div class="answer checking">
                <h2>{format!("{title} · {}", scenario.name)}</h2>
                <p class="headline">{checking}</p>
                {(!over).then(|| view! {
                    <p class="muted">"No rate is the answer until its longer trial holds."</p>
                })}
            </div>
        }
        .into_any();
    }
    let words = scenario.answer.clone().unwrap_or_default();
    let unconfirmed = words.unconfirmed.clone().filter(|_| !scenario.so_far);
    let heading = match (scenario.so_far, &unconfirmed) {
        (true, _) => format!("Best so far · {}", scenario.name),
        (false, Some(_)) => format!("Unconfirmed answer · {}", scenario.name),
        (false, None) => format!("Answer · {}", scenario.name),
    };
    let headline = if !words.headline.is_empty() {
        words.headline
    } else if finished {
        "No candidate met the SLA at any measured rate.".to_string()
    } else {
        "Nothing has met the SLA yet.".to_string()
    };
    let how_sure = words.how_sure;
    let speculative = words.speculative;
    let command = scenario
        .best_rate
        .is_some()
        .then_some(scenario.best_command)
        .flatten();
    view! {
        <div class="answer">
            <h2>{heading}</h2>
            {unconfirmed.map(|missing| view! {
                <p class="unconfirmed-label"><b>"Unconfirmed"</b>{format!(": {missing}")}</p>
            })}
            <p class="headline">{headline}</p>
            {speculative.map(|line| view! { <p class="speculative">{line}</p> })}
            {(!how_sure.is_empty()).then(|| view! {
                <details class="how-sure">
                    <summary>"How sure"</summary>
                    <ul>{how_sure.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}</ul>
                </details>
            })}
            {effect_bars(words.flag_effects)}
            {command.map(|command| view! { <Command command=command/> })}
        </div>
    }
    .into_any()
}

/// What each flag of the answer bought, as bars (green up, red down) with the words beside.
fn effect_bars(effects: Vec<shared::answer::FlagEffect>) -> impl IntoView {
    let all = effects.clone();
    (!effects.is_empty()).then(|| view! {
        <div class="effects">
            <b>"What each flag bought"</b>
            {effects.into_iter().map(|effect| {
                let bar = effect.gain().zip(effect.bar_share(&all)).map(|(gain, share)| {
                    let class = if gain >= 0.0 { "effect-bar up" } else { "effect-bar down" };
                    view! { <span class=class style=format!("width:{:.0}px", (share * 200.0).max(2.0))></span> }
                });
                view! { <div class="effect">{bar}<span class="effect-text">{effect.text().replace('`', "")}</span></div> }
            }).collect_view()}
        </div>
    })
}

/// A small square in the candidate's colour, the same as its series on every plot.
fn swatch(id: usize) -> impl IntoView {
    view! {
        <span class="swatch" data-candidate=id.to_string()
            style=format!("background:{}", shared::palette::colour(id))></span>
    }
}

/// A launch command with a copy button.
#[component]
fn Command(command: String) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let text = command.clone();
    let copy = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
            set_copied.set(true);
        }
    };
    view! {
        <div class="command-box">
            <pre class="command">{command}</pre>
            <button class="copy" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
        </div>
    }
}

#[component]
fn Scenario(scenario: ScenarioView, query: String, ui: UiState) -> impl IntoView {
    // Latency over time of the answer's trial, when its per-request timings were stored.
    let (timeline, set_timeline) = signal(None::<String>);
    let timeline_url = format!(
        "/api/timeline?{query}&scenario={}",
        api::encode_component(&scenario.name)
    );
    spawn_local(async move {
        if let Ok(svg) = api::get_text(&timeline_url).await {
            set_timeline.set(Some(svg));
        }
    });
    let name = scenario.name.clone();
    let plot = move |metric: &'static str| {
        let key = format!("{name}/{metric}");
        let url_base = format!(
            "{query}&scenario={}&metric={metric}",
            api::encode_component(&name)
        );
        let fetch_key = key.clone();
        Effect::new(move |_| {
            let stat = ui.stat.get();
            let url = format!(
                "/api/plot?{url_base}&stat={}&x={}",
                if stat.is_empty() {
                    "p99"
                } else {
                    stat.as_str()
                },
                ui.axis.get()
            );
            let key = fetch_key.clone();
            spawn_local(async move {
                if let Ok(text) = api::get_text(&url).await {
                    ui.plots.update(|plots| {
                        plots.insert(key, text);
                    });
                }
            });
        });
        view! {
            <div class="plot" data-metric=metric
                inner_html=move || ui.plots.with(|p| p.get(&key).cloned().unwrap_or_default())></div>
        }
    };
    view! {
        <section class="scenario">
            <h2>"Scenario: " {scenario.name.clone()}</h2>
            <div class="plots">{plot("ttft")}{plot("tpot")}</div>
            {move || timeline.get().map(|svg| view! {
                <details class="timeline" open>
                    <summary>"Latency over time (the answer's trial): each request's TTFT and TPOT against its send time; warm-up and cool-down in grey"</summary>
                    <div class="plot" inner_html=svg></div>
                </details>
            })}
            <Trials scenario=scenario.name.clone() records=scenario.records labels=scenario.labels ui=ui/>
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

/// The columns after the candidate's name.
const COLUMNS: [Column; 11] = [
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
        "why",
        |r| r.sla_failures.len() as f64,
        |r| r.sla_failures.join("; "),
    ),
];

/// The columns from this one on hold words (the verdict and why), which wrap; the ones before hold
/// numbers, which do not.
const TEXT_COLUMNS: usize = 9;

fn verdict(r: &TrialRecord) -> String {
    let mut text = r
        .verdict
        .as_ref()
        .filter(|_| r.metrics.is_some())
        .map_or(r.outcome_label(), |v| v.class())
        .to_string();
    if let Some(stopped) = r.metrics.as_ref().and_then(|m| m.stopped_early()) {
        text.push_str(&format!(" · {stopped}"));
    } else if r.metrics.as_ref().is_some_and(|m| m.early_stopped) {
        text.push_str(" · early stop");
    }
    if r.metrics.as_ref().is_some_and(|m| m.client_limited()) {
        text.push_str(" · client-limited");
    }
    if let Some(accept) = r.metric(Metric::AcceptLength) {
        text.push_str(&format!(" · accept length {accept:.2}"));
    }
    if let Some(steal) = r.host_steal_note() {
        text.push_str(&format!(" · {steal}"));
    }
    if let Some(d) = &r.diagnosis {
        text.push_str(&format!(" · {d}"));
    }
    if let Some(cause) = &r.cause {
        text.push_str(&format!(": {cause}"));
    }
    text
}

#[component]
fn Trials(
    scenario: String,
    records: Vec<TrialRecord>,
    labels: BTreeMap<usize, String>,
    ui: UiState,
) -> impl IntoView {
    // Column 0 is the candidate; the others are COLUMNS shifted by one. Default: offered rate.
    let sort = {
        let scenario = scenario.clone();
        move || {
            ui.sorts
                .with(|s| s.get(&scenario).copied())
                .unwrap_or((1, false))
        }
    };
    let click = move |index: usize| {
        let scenario = scenario.clone();
        move |_| {
            ui.sorts.update(|s| {
                let entry = s.entry(scenario.clone()).or_insert((1, false));
                if entry.0 == index {
                    entry.1 = !entry.1;
                } else {
                    *entry = (index, false);
                }
            });
        }
    };
    let name_of = move |r: &TrialRecord| {
        let label = labels
            .get(&r.candidate_id)
            .cloned()
            .unwrap_or_else(|| format!("cand {}", r.candidate_id));
        format!("{} {} · {label}", r.stage, r.candidate_id)
    };
    let headers: Vec<&'static str> = std::iter::once("candidate")
        .chain(COLUMNS.iter().map(|c| c.0))
        .collect();
    let sort_for_rows = sort.clone();
    let rows = move || {
        let (column, descending) = sort_for_rows();
        let mut rows = records.clone();
        rows.sort_by(|a, b| {
            let order = match column {
                0 => a.candidate_id.cmp(&b.candidate_id),
                c => (COLUMNS[c - 1].1)(a).total_cmp(&(COLUMNS[c - 1].1)(b)),
            };
            if descending { order.reverse() } else { order }
        });
        rows
    };
    view! {
        <table class="trials">
            <thead><tr>
                {headers.into_iter().enumerate().map(|(index, title)| {
                    let sort = sort.clone();
                    view! {
                        <th class="sortable" on:click=click(index)>
                            {title}
                            {move || { let (c, d) = sort(); (c == index).then_some(if d { " ▼" } else { " ▲" }) }}
                        </th>
                    }
                }).collect_view()}
            </tr></thead>
            <tbody>
                {move || rows().into_iter().map(|r| {
                    let class = if r.sla_passed { "pass" } else { "fail" };
                    let flags = serde_json::to_string(&r.server_flags).unwrap_or_default();
                    view! {
                        <tr class=class>
                            <td class="cand-cell" title=flags
                                style=format!("border-left:6px solid {}", shared::palette::colour(r.candidate_id))>{name_of(&r)}</td>
                            {COLUMNS.iter().enumerate().map(|(index, (_, _, cell))| {
                                let class = if index >= TEXT_COLUMNS { "text" } else { "num" };
                                view! { <td class=class>{cell(&r)}</td> }
                            }).collect_view()}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Logs(logs: Vec<String>, query: String, ui: UiState) -> impl IntoView {
    view! {
        <h2>"Logs"</h2>
        <p>{logs.into_iter().map(|file| {
            let query = query.clone();
            let label = file.clone();
            let current = file.clone();
            view! {
                <button class="log" class:open=move || ui.log_file.get().as_deref() == Some(current.as_str())
                    on:click=move |_| {
                        ui.log_file.set(Some(file.clone()));
                        fetch_log(&query, file.clone(), ui);
                    }>{label}</button>
            }
        }).collect_view()}</p>
        <pre class="log-text">{move || ui.log_text.get()}</pre>
    }
}
