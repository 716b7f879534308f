//! `autobench bench --calibrate`: measures the load generator's own ceiling on this machine
//! against the simulator's fixed-latency mode (TTFT 20 ms, 2 ms between tokens, unlimited
//! capacity), launched as a child process. It offers rising rates (128-token prompts, 32 output
//! tokens, streaming, Poisson arrivals) and reports, per rate, the achieved rate, TTFT overhead over
//! the server's 20 ms, client CPU per 1,000 requests and errors; the ceiling is the highest rate
//! the client sustained without marking itself client-limited. Beside each rate it measures the
//! machine's own noise ([`crate::machine_noise`]: hypervisor steal and a bystander thread's
//! wake-up lateness), so overhead that the host adds is not blamed on the client.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use shared::metrics::{Metric, Series};
use shared::sla::Stat;

use crate::config::ApiBackend;
use crate::dataset::DatasetRow;
use crate::launcher::{self, LaunchSpec};
use crate::loadgen::{self, BodyOptions, LoadSpec, Target, schedule::Arrival};
use crate::machine_noise::{Lateness, StallProbe};

/// Rates offered, in order.
pub(crate) const RATES: [f64; 6] = [100.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0];

/// Runs the calibration for `seconds` per rate and returns the printable report.
pub(crate) async fn calibrate(seconds: f64, max_rate: f64) -> anyhow::Result<String> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let port = launcher::free_port("127.0.0.1").context("no free port")?;
    let spec = LaunchSpec {
        argv: vec![
            crate::config::current_exe(),
            "sim".into(),
            "--model-path".into(),
            "calibration".into(),
            "--port".into(),
            port.to_string(),
            "--sim-startup-s".into(),
            "0".into(),
            "--fixed-ttft-ms".into(),
            "20".into(),
            "--fixed-itl-ms".into(),
            "2".into(),
        ],
        env: Vec::new(),
        log_path: dir.path().join("sim.log"),
        base_url: format!("http://127.0.0.1:{port}"),
        health_path: "/health".into(),
        ready_timeout: Duration::from_secs(30),
        grace: Duration::from_secs(2),
        state_dir: dir.path().to_path_buf(),
    };
    let (_cancel_tx, mut cancel) = crate::cancel::channel();
    let server = launcher::launch(&spec, &mut cancel)
        .await
        .context("cannot start the fixed-latency simulator")?;
    let report = measure_rates(&spec.base_url, server.pid(), seconds, max_rate, &mut cancel).await;
    server.shutdown().await;
    report
}

async fn measure_rates(
    base_url: &str,
    sim_pid: i32,
    seconds: f64,
    max_rate: f64,
    cancel: &mut crate::cancel::CancelReceiver,
) -> anyhow::Result<String> {
    let options = BodyOptions {
        backend: ApiBackend::SglangOai,
        model: "calibration".into(),
        stream: true,
        ignore_eos: true,
        extensions: true,
        extra: Default::default(),
    };
    let row = DatasetRow {
        prompt: Value::String("token ".repeat(128)),
        output_len: 32,
        prompt_len: Some(128),
        extra_request_body: None,
        image_data: None,
        timestamp: None,
        routing_key: None,
        metadata: None,
    };
    let target = Target::new(
        loadgen::http_client(),
        base_url.to_string(),
        true,
        Duration::from_secs(60),
        None,
    );
    let request = loadgen::request::build(&row, &options, None).map_err(anyhow::Error::msg)?;
    loadgen::warmup(&target, std::slice::from_ref(&request))
        .await
        .map_err(anyhow::Error::msg)?;
    let mut out = format!(
        "{:>8} {:>10} {:>12} {:>13} {:>15} {:>14} {:>10} {:>14} {:>11} {:>12} {:>7} {:>8} {:>14}  {}\n",
        "offered",
        "achieved",
        "mean TTFT",
        "p99 TTFT",
        "p99 from sched",
        "p99 read lag",
        "mean TPOT",
        "CPU s/1000 req",
        "sim CPU s/1k",
        "peak RSS MB",
        "errors",
        "steal %",
        "bystander p99",
        "client"
    );
    let mut ceiling = None;
    for rate in RATES.into_iter().filter(|r| *r <= max_rate) {
        let count = ((rate * seconds).round() as usize).max(10);
        let requests = Arc::new(vec![request.clone(); count]);
        let spec = LoadSpec {
            rate,
            max_concurrency: None,
            seed: 1,
            arrival: Arrival::Poisson,
            burstiness: 1.0,
            exact_over_s: None,
        };
        let sim_cpu_start = process_cpu_seconds(sim_pid);
        let probe = StallProbe::start();
        let outcome = loadgen::run(&target, requests, &spec, cancel)
            .await
            .context("cancelled")?;
        let bystander = probe.and_then(StallProbe::finish);
        let sim_cpu = process_cpu_seconds(sim_pid)
            .zip(sim_cpu_start)
            .map(|(end, start)| (end - start) * 1000.0 / count as f64);
        let mut m = crate::metrics::summarize(&outcome.results, outcome.duration, rate, None);
        m.client = Some(crate::metrics::client_health(
            &outcome.client,
            outcome.results.len(),
            crate::config::CLIENT_LAG_LIMIT_MS,
        ));
        let get = |metric: Metric| metric.value(&m).unwrap_or(0.0);
        let limited = m.client_limited();
        let _ = writeln!(
            out,
            "{rate:>8.0} {:>10.1} {:>9.2} ms {:>10.2} ms {:>12.2} ms {:>11.2} ms {:>7.2} ms {:>14.3} {:>11} {:>12.0} {:>7} {:>8} {:>14}  {}",
            get(Metric::AchievedRate),
            get(Metric::Latency(Series::Ttft, Stat::Mean)),
            get(Metric::Latency(Series::Ttft, Stat::P99)),
            get(Metric::Latency(Series::TtftFromScheduled, Stat::P99)),
            get(Metric::P99ReadLag),
            get(Metric::Latency(Series::Tpot, Stat::Mean)),
            get(Metric::ClientCpuPer1000),
            sim_cpu.map_or("?".into(), |c| format!("{c:.3}")),
            peak_rss_mb(),
            m.failed,
            m.host_steal_pct().map_or("?".into(), |s| format!("{s:.1}")),
            bystander.map_or("?".into(), |b| format!("{:.2} ms", b.p99_ms)),
            m.client
                .as_ref()
                .and_then(|c| c.limited_reason.as_deref())
                .unwrap_or("ok")
        );
        if limited || m.failed > 0 {
            break;
        }
        ceiling = Some(rate);
    }
    let _ = writeln!(
        out,
        "TTFT overhead = measured TTFT - 20 ms (the server's fixed TTFT); TTFT is timed from the actual send to the kernel's receive time of the first token, \"from sched\" from the scheduled send time (adds any dispatch lag); read lag = how long a request's first token waited in the socket before the client read it."
    );
    let idle = idle_lateness().await;
    let _ = writeln!(
        out,
        "steal % = CPU time the hypervisor took from this machine during the rate; bystander p99 = how late a thread that only sleeps 1 ms at a time woke during the rate. A TTFT crosses one wake-up, the simulator's writer for the first token (the request's arrival and the token's are kernel receive times), so when the bystander's tail is near the TTFT overhead, the machine, not the client, sets that floor."
    );
    let _ = writeln!(
        out,
        "bystander with no load: p50 {}, p99 {}.",
        idle.map_or("?".into(), |b| format!("{:.2} ms", b.p50_ms)),
        idle.map_or("?".into(), |b| format!("{:.2} ms", b.p99_ms)),
    );
    let _ = writeln!(
        out,
        "client ceiling: {}",
        ceiling.map_or("below the lowest rate tried".into(), |c| format!(
            "at least {c:.0} req/s"
        ))
    );
    Ok(out)
}

/// The bystander's lateness over one second with no load: the machine's own floor.
async fn idle_lateness() -> Option<Lateness> {
    let probe = StallProbe::start()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    probe.finish()
}

/// User + system CPU seconds of process `pid` so far, from `/proc` (Linux).
fn process_cpu_seconds(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / crate::machine_noise::clock_ticks_per_second()?)
}

fn peak_rss_mb() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map_or(0.0, |u| u.max_rss() as f64 / 1024.0)
}
