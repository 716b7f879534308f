//! `autobench bench`: one load test against a running server, like `python -m
//! sglang.bench_serving`, with the same flag names where the meaning is the same. It uses the
//! same dataset preparation, load generator and metrics as `run`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value};
use shared::metrics::{Metric, Series, TrialMetrics};
use shared::outward::bench::{BenchDetails, BenchLine, BenchMetrics, BenchRequestLine};
use shared::sla::Stat;

use crate::config::{self, ApiBackend, DatasetKind, DatasetPlan, Scenario};
use crate::dataset::{self, gsp::GspOptions};
use crate::loadgen::{self, BodyOptions, LoadSpec, Target, schedule::Arrival};

/// `autobench bench` flags.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Request path: sglang (native /generate), sglang-oai (completions), sglang-oai-chat, or auto
    /// (from the dataset's prompts); vllm, openai, openai-chat and the like are aliases.
    #[arg(long, value_parser = config::value_parser::<ApiBackend>(), default_value = "sglang")]
    pub backend: ApiBackend,
    /// Server URL (overrides --host/--port).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = 30000)]
    pub port: u16,
    /// Dataset kind: sharegpt, random, custom (canonical JSONL; `autobench` is an alias), generated-shared-prefix.
    #[arg(long, value_parser = config::value_parser::<DatasetKind>(), default_value = "sharegpt")]
    pub dataset_name: DatasetKind,
    /// Dataset file (custom, sharegpt).
    #[arg(long, default_value = "")]
    pub dataset_path: String,
    /// Tokenizer (local folder, tokenizer.json, or hub id); defaults to --model.
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Model name for requests (default: first id of /v1/models).
    #[arg(long)]
    pub model: Option<String>,
    /// Served model name (overrides --model in requests).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Requests to send.
    #[arg(long, default_value_t = 1000)]
    pub num_prompts: u64,
    /// Random input length.
    #[arg(long, default_value_t = 1024)]
    pub random_input_len: u64,
    /// Random output length.
    #[arg(long, default_value_t = 1024)]
    pub random_output_len: u64,
    /// Upstream length ratio (omit for exact lengths).
    #[arg(long)]
    pub random_range_ratio: Option<f64>,
    /// Fixed output length for sharegpt/custom rows.
    #[arg(long)]
    pub sharegpt_output_len: Option<u64>,
    /// Offered request rate (requests/s); inf sends everything at once.
    #[arg(long, default_value_t = f64::INFINITY)]
    pub request_rate: f64,
    /// Client concurrency cap.
    #[arg(long)]
    pub max_concurrency: Option<u64>,
    /// Arrival process: poisson, constant, trace.
    #[arg(long, value_parser = config::value_parser::<Arrival>(), default_value = "poisson")]
    pub arrival: Arrival,
    /// Measure the client's own ceiling against a fixed-latency simulator, then exit.
    #[arg(long)]
    pub calibrate: bool,
    /// Send standard OpenAI request fields only (no `ignore_eos`, `best_of`,
    /// `max_completion_tokens`), for servers that reject unknown fields (`transformers serve`).
    #[arg(long)]
    pub strict_openai: bool,
    /// Seconds per rate with --calibrate.
    #[arg(long, default_value_t = 15.0)]
    pub calibrate_seconds: f64,
    /// Highest rate tried with --calibrate.
    #[arg(long, default_value_t = 4000.0)]
    pub calibrate_max_rate: f64,
    /// Gamma shape of the arrival gaps (1.0 = Poisson; lower is burstier).
    #[arg(long, default_value_t = 1.0)]
    pub burstiness: f64,
    /// Warmup requests.
    #[arg(long, default_value_t = 1)]
    pub warmup_requests: u32,
    /// JSON object merged into every request.
    #[arg(long)]
    pub extra_request_body: Option<String>,
    /// Seed for arrivals and synthetic data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Append one JSON line with the results to this file.
    #[arg(long)]
    pub output_file: Option<PathBuf>,
    /// Also write per-request records next to --output-file (`<name>.requests.jsonl`).
    #[arg(long)]
    pub output_details: bool,
    /// Non-streaming requests.
    #[arg(long)]
    pub disable_stream: bool,
    /// Let generation stop at EOS.
    #[arg(long)]
    pub disable_ignore_eos: bool,
    /// POST /flush_cache after warmup.
    #[arg(long)]
    pub flush_cache: bool,
    /// Tag stored in the output line.
    #[arg(long)]
    pub tag: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub request_timeout_sec: f64,
    /// p99 dispatch lag (ms) above which the run is marked client-limited.
    #[arg(long, default_value_t = crate::config::CLIENT_LAG_LIMIT_MS)]
    pub max_client_lag_ms: f64,
}

fn dataset_plan(args: &BenchArgs) -> anyhow::Result<(DatasetPlan, Scenario)> {
    let kind = args.dataset_name;
    let path = Some(args.dataset_path.as_str())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if kind == DatasetKind::Custom && path.is_none() {
        bail!(
            "--dataset-path is required for --dataset-name {}",
            args.dataset_name
        );
    }
    let random = kind == DatasetKind::Random;
    let plan = DatasetPlan {
        kind,
        path,
        num_prompts: args.num_prompts,
        output_len_override: args.sharegpt_output_len,
        random_range_ratio: args.random_range_ratio,
        context_len: None,
        seed: args.seed,
        prompt_suffix: String::new(),
        apply_chat_template: false,
        gsp: GspOptions {
            seed: args.seed,
            ..GspOptions::default()
        },
    };
    let scenario = Scenario {
        name: "bench".into(),
        slug: "bench".into(),
        input_len: random.then_some(args.random_input_len),
        output_len: random.then_some(args.random_output_len),
    };
    Ok((plan, scenario))
}

/// Runs `autobench bench`: the summary table is its output.
pub(crate) async fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if args.calibrate {
        crate::stdout::print(
            crate::calibrate::calibrate(args.calibrate_seconds, args.calibrate_max_rate).await?,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", args.host, args.port))
        .trim_end_matches('/')
        .to_string();
    let client = loadgen::http_client();
    let model = match args
        .served_model_name
        .clone()
        .or_else(|| args.model.clone())
    {
        Some(model) => model,
        None => first_model(&client, &base_url).await?,
    };
    let tokenizer = args
        .tokenizer
        .clone()
        .or_else(|| args.model.clone())
        .unwrap_or_else(|| model.clone());
    let (plan, scenario) = dataset_plan(args)?;
    let rows = dataset::prepare(&plan, &scenario, 0, &tokenizer).await?;
    let api = match args.backend {
        ApiBackend::Auto => {
            dataset::infer_backend(&rows).map_err(|e| anyhow::anyhow!("--backend auto: {e}"))?
        }
        explicit => explicit,
    };
    let extra: Map<String, Value> = match &args.extra_request_body {
        Some(text) => {
            serde_json::from_str(text).context("--extra-request-body must be a JSON object")?
        }
        None => Map::new(),
    };
    let options = BodyOptions {
        backend: api,
        model,
        stream: !args.disable_stream,
        ignore_eos: !args.disable_ignore_eos,
        extensions: !args.strict_openai,
        extra,
    };
    let requests = rows
        .iter()
        .map(|r| loadgen::request::build(r, &options, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let warmup: Vec<_> = match rows.first() {
        Some(first) => vec![
            loadgen::request::build(first, &options, Some(first.output_len.min(32)))
                .map_err(anyhow::Error::msg)?;
            args.warmup_requests as usize
        ],
        None => Vec::new(),
    };
    let target = Target::new(
        client,
        base_url.clone(),
        !args.disable_stream,
        std::time::Duration::from_secs_f64(args.request_timeout_sec.max(0.001)),
        loadgen::api_key_from_env(),
    );
    loadgen::warmup(&target, &warmup)
        .await
        .map_err(anyhow::Error::msg)?;
    if args.flush_cache {
        let _ = target
            .client
            .post(format!("{base_url}/flush_cache"))
            .send()
            .await;
    }
    let spec = LoadSpec {
        rate: args.request_rate,
        max_concurrency: args.max_concurrency,
        seed: args.seed,
        arrival: args.arrival,
        burstiness: args.burstiness,
        exact_over_s: None,
    };
    let (_cancel_tx, mut cancel) = crate::cancel::channel();
    let Some(outcome) = loadgen::run(&target, Arc::new(requests), &spec, &mut cancel).await else {
        bail!("the load test was cancelled");
    };
    let results = outcome.results;
    let mut metrics = crate::metrics::summarize(
        &results,
        outcome.duration,
        args.request_rate,
        args.max_concurrency,
    );
    metrics.client = Some(crate::metrics::client_health(
        &outcome.client,
        results.len(),
        args.max_client_lag_ms,
    ));
    crate::stdout::print(summary_table(args, &metrics))?;
    if let Some(path) = &args.output_file {
        let line = output_line(args, api, &base_url, &target, metrics, &results).await;
        append_line(path, &line)?;
        if args.output_details {
            write_details(path, &results)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn first_model(client: &reqwest::Client, base_url: &str) -> anyhow::Result<String> {
    let body: Value = client
        .get(format!("{base_url}/v1/models"))
        .send()
        .await
        .with_context(|| format!("cannot reach {base_url}/v1/models"))?
        .json()
        .await?;
    body.pointer("/data/0/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .context("/v1/models listed no model; pass --model")
}

async fn output_line(
    args: &BenchArgs,
    api: ApiBackend,
    base_url: &str,
    target: &Target,
    metrics: TrialMetrics,
    results: &[loadgen::RequestResult],
) -> BenchLine {
    let server_info = match api {
        ApiBackend::Sglang | ApiBackend::SglangOai | ApiBackend::SglangOaiChat => {
            async {
                target
                    .client
                    .get(format!("{base_url}/server_info"))
                    .send()
                    .await
                    .ok()?
                    .json::<Value>()
                    .await
                    .ok()
            }
            .await
        }
        ApiBackend::Auto => None,
    };
    let accept_length = server_info
        .as_ref()
        .and_then(|info| info.pointer("/internal_states/0/avg_spec_accept_length"))
        .and_then(Value::as_f64);
    let input: u64 = results.iter().map(|r| r.input_tokens).sum();
    let output: u64 = results
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| r.output_tokens)
        .sum();
    BenchLine {
        tag: args.tag.clone(),
        backend: args.backend,
        dataset_name: args.dataset_name,
        request_rate: args.request_rate.is_finite().then_some(args.request_rate),
        max_concurrency: args.max_concurrency,
        sharegpt_output_len: args.sharegpt_output_len,
        random_input_len: args.random_input_len,
        random_output_len: args.random_output_len,
        random_range_ratio: args.random_range_ratio,
        server_info,
        metrics: BenchMetrics(metrics),
        total_input_text_tokens: input,
        total_input_vision_tokens: 0,
        // Counted from the stream (or `usage`), not by re-tokenizing the text as bench_serving does.
        total_output_tokens_retokenized: output,
        accept_length,
        max_output_tokens_per_s: peak_output_rate(results),
        max_concurrent_requests: peak_in_flight(results),
        details: args.output_details.then(|| details(results)),
    }
}

/// bench_serving's inline per-request arrays (`--output-details`).
fn details(results: &[loadgen::RequestResult]) -> BenchDetails {
    BenchDetails {
        input_lens: results.iter().map(|r| r.input_tokens).collect(),
        output_lens: results
            .iter()
            .map(|r| {
                if r.error.is_none() {
                    r.output_tokens
                } else {
                    0
                }
            })
            .collect(),
        ttfts: results
            .iter()
            .map(|r| r.first_token_at.map_or(0.0, |t| t - r.sent_at))
            .collect(),
        itls: results.iter().map(|r| r.itl.clone()).collect(),
        // The generated text is not kept (only its timing); empty strings keep the arrays aligned.
        generated_texts: results.iter().map(|_| String::new()).collect(),
        errors: results
            .iter()
            .map(|r| r.error.as_ref().map_or(String::new(), |e| e.category()))
            .collect(),
    }
}

/// The most output tokens received in any 1-s window (whole seconds from the start), per second.
fn peak_output_rate(results: &[loadgen::RequestResult]) -> f64 {
    let mut per_second: std::collections::BTreeMap<i64, u64> = std::collections::BTreeMap::new();
    for r in results.iter().filter(|r| r.error.is_none()) {
        let Some(first) = r.first_token_at else {
            continue;
        };
        let mut at = first;
        *per_second.entry(at.floor() as i64).or_default() += 1;
        for gap in &r.itl {
            at += gap;
            *per_second.entry(at.floor() as i64).or_default() += 1;
        }
    }
    per_second.values().copied().max().unwrap_or(0) as f64
}

/// The most requests in flight at once (sent, not yet finished).
fn peak_in_flight(results: &[loadgen::RequestResult]) -> u64 {
    let mut edges: Vec<(f64, i64)> = results
        .iter()
        .flat_map(|r| [(r.sent_at, 1), (r.end_at.max(r.sent_at), -1)])
        .collect();
    // Ends before starts at the same instant: back-to-back requests do not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0_i64, 0_i64);
    for (_, step) in edges {
        now += step;
        peak = peak.max(now);
    }
    u64::try_from(peak).unwrap_or(0)
}

fn append_line(path: &std::path::Path, line: &BenchLine) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(line)?)?;
    Ok(())
}

fn write_details(path: &std::path::Path, results: &[loadgen::RequestResult]) -> anyhow::Result<()> {
    let details = path.with_extension("requests.jsonl");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&details)
            .with_context(|| format!("cannot write {}", details.display()))?,
    );
    for r in results {
        let line = BenchRequestLine {
            scheduled_s: r.scheduled_at,
            sent_s: r.sent_at,
            first_token_s: r.first_token_at,
            end_s: r.end_at,
            output_tokens: r.output_tokens,
            input_tokens: r.input_tokens,
            itl_s: r.itl.clone(),
            error: r.error.as_ref().map(|e| e.category()),
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    out.flush()?;
    Ok(())
}

/// Metric rows of the summary table: label, metric, decimals.
const TOTALS: [(&str, Metric, usize); 10] = [
    ("Successful requests:", Metric::Completed, 0),
    ("Failed requests:", Metric::Failed, 0),
    ("Benchmark duration (s):", Metric::Duration, 2),
    ("Total input tokens:", Metric::TotalInputTokens, 0),
    ("Total generated tokens:", Metric::TotalOutputTokens, 0),
    ("Request throughput (req/s):", Metric::RequestThroughput, 2),
    ("Achieved request rate (req/s):", Metric::AchievedRate, 2),
    (
        "Output token throughput (tok/s):",
        Metric::OutputThroughput,
        2,
    ),
    (
        "Total token throughput (tok/s):",
        Metric::TotalThroughput,
        2,
    ),
    ("Concurrency:", Metric::Concurrency, 2),
];

const CLIENT: [(&str, Metric, usize); 5] = [
    ("Mean send lag (ms):", Metric::MeanSendLag, 2),
    ("Max send lag (ms):", Metric::MaxSendLag, 2),
    ("P99 dispatch lag (ms):", Metric::P99DispatchLag, 2),
    ("P99 read lag (ms):", Metric::P99ReadLag, 2),
    (
        "Client CPU s per 1000 requests:",
        Metric::ClientCpuPer1000,
        3,
    ),
];

const LATENCIES: [(&str, Series); 5] = [
    ("End-to-End Latency", Series::E2e),
    ("Time to First Token", Series::Ttft),
    ("TTFT from scheduled send", Series::TtftFromScheduled),
    ("Time per Output Token (excl. 1st token)", Series::Tpot),
    ("Inter-Token Latency", Series::Itl),
];

/// bench_serving-style summary table.
pub(crate) fn summary_table(args: &BenchArgs, m: &TrialMetrics) -> String {
    use std::fmt::Write as _;
    let get = |metric: Metric| metric.value(m).unwrap_or(0.0);
    let mut out = String::from("\n============ Serving Benchmark Result ============\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<40}{value:>10}");
    };
    row("Backend:", args.backend.to_string());
    row(
        "Traffic request rate:",
        if args.request_rate.is_finite() {
            format!("{}", args.request_rate)
        } else {
            "inf".into()
        },
    );
    row(
        "Max request concurrency:",
        args.max_concurrency
            .map_or("not set".into(), |c| c.to_string()),
    );
    let metric_rows = |rows: &[(&str, Metric, usize)], out: &mut String| {
        for (label, metric, decimals) in rows {
            let _ = writeln!(out, "{label:<40}{:>10.*}", *decimals, get(*metric));
        }
    };
    metric_rows(&TOTALS, &mut out);
    for (title, series) in LATENCIES {
        let _ = writeln!(out, "{title:-^50}");
        for stat in [Stat::Mean, Stat::Median, Stat::P99] {
            let _ = writeln!(
                out,
                "{:<40}{:>10.2}",
                format!("{} (ms):", capitalize(stat.name())),
                get(Metric::Latency(series, stat))
            );
        }
    }
    let _ = writeln!(out, "{:-^50}", "Client");
    metric_rows(&CLIENT, &mut out);
    if let Some(steal) = m.host_steal_pct() {
        let _ = writeln!(
            out,
            "{:<40}{steal:>10.1}",
            "Host CPU stolen by hypervisor (%):"
        );
    }
    if let Some(reason) = m.client.as_ref().and_then(|c| c.limited_reason.as_deref()) {
        let _ = writeln!(out, "CLIENT-LIMITED: {reason}");
    }
    out.push_str(&"=".repeat(50));
    out.push('\n');
    out
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().collect::<String>() + chars.as_str()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(sent: f64, first: f64, itl: &[f64], end: f64) -> loadgen::RequestResult {
        loadgen::RequestResult {
            scheduled_at: sent,
            sent_at: sent,
            first_token_at: Some(first),
            end_at: end,
            itl: itl.to_vec(),
            output_tokens: itl.len() as u64 + 1,
            input_tokens: 10,
            error: None,
            read_lag: 0.0,
        }
    }

    #[test]
    fn peaks_count_overlapping_requests_and_the_busiest_second() {
        let results = [
            result(0.0, 0.5, &[0.1, 0.1, 0.1], 0.8),
            result(0.2, 0.9, &[0.2, 0.2], 1.3),
            result(0.8, 1.1, &[0.1], 1.2),
            result(1.3, 1.5, &[], 1.5),
        ];
        assert_eq!(
            peak_in_flight(&results),
            2,
            "a request ending as another starts is not overlapping"
        );
        // Second 0: 4 + 1 tokens (0.5..0.8 and 0.9); second 1: 2 + 2 + 1 tokens.
        assert!((peak_output_rate(&results) - 5.0).abs() < 1e-9);
    }
}
