//! `autobench bench` against the simulator's fixed-latency mode: the summary table, the appended
//! bench_serving-compatible JSON line, and per-request details.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use shared::outward::bench::{BenchLine, BenchRequestLine};

use super::common;

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fixed_sim() -> (Sim, u16) {
    let port = backend::launcher::free_port("127.0.0.1").expect("port");
    let child = common::bin()
        .args(["sim", "--model-path"])
        .arg(common::tiny_model())
        .args([
            "--port",
            &port.to_string(),
            "--sim-startup-s",
            "0",
            "--fixed-ttft-ms",
            "20",
            "--fixed-itl-ms",
            "2",
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("sim");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sim did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Sim(child), port)
}

#[test]
fn bench_writes_table_and_json_line() {
    let (_sim, port) = fixed_sim();
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("bench.jsonl");
    for backend in ["sglang", "sglang-oai", "sglang-oai-chat"] {
        let output = common::bin()
            .args([
                "bench",
                "--backend",
                backend,
                "--port",
                &port.to_string(),
                "--dataset-name",
                "random",
                "--random-input-len",
                "32",
                "--random-output-len",
                "8",
                "--num-prompts",
                "40",
                "--request-rate",
                "100",
                "--output-details",
                "--tag",
                "t1",
                "--tokenizer",
            ])
            .arg(common::tiny_model())
            .arg("--output-file")
            .arg(&out)
            .output()
            .expect("bench");
        let text = common::text(&output);
        assert!(output.status.success(), "{text}");
        assert!(
            text.contains("Serving Benchmark Result") && text.contains("Successful requests:"),
            "{text}"
        );
    }
    let raw = common::records(&out);
    assert_eq!(raw.len(), 3, "one appended line per run");
    // bench_serving's names for the metrics, so its notebooks read these files.
    for line in &raw {
        for key in [
            "request_throughput",
            "mean_ttft_ms",
            "p99_ttft_ms",
            "mean_tpot_ms",
            "median_itl_ms",
            "p99_e2e_latency_ms",
            "concurrency",
            "achieved_request_rate",
            "host_steal_pct",
        ] {
            assert!(line[key].is_number(), "{key} missing in {line}");
        }
    }
    let lines: Vec<BenchLine> = common::typed_records(&out);
    for line in &lines {
        let metrics = &line.metrics.0;
        assert_eq!(metrics.completed, 40);
        assert_eq!(metrics.failed, 0);
        assert_eq!(metrics.total_output_tokens, 320);
        assert_eq!(line.tag.as_deref(), Some("t1"));
        assert_eq!(line.request_rate, Some(100.0));
        assert!(
            metrics.ttft.mean.is_some_and(|t| t >= 20.0),
            "TTFT below the server's fixed 20 ms: {line:?}"
        );
        assert!(
            line.server_info
                .as_ref()
                .is_some_and(|info| info["version"].is_string()),
            "{line:?}"
        );
        // bench_serving's own fields.
        assert_eq!(line.total_output_tokens_retokenized, 320);
        assert_eq!(line.total_input_vision_tokens, 0);
        assert!(line.total_input_text_tokens > 0, "{line:?}");
        assert!(line.max_output_tokens_per_s > 0.0, "{line:?}");
        assert!(line.max_concurrent_requests >= 1, "{line:?}");
    }
    assert!(
        raw.iter().all(|line| line.get("accept_length").is_some()),
        "accept_length is written, null without speculative decoding"
    );
    // The run with --output-details also has bench_serving's inline per-request arrays.
    let detailed = lines
        .iter()
        .find_map(|l| l.details.as_ref())
        .expect("a line with --output-details arrays");
    for (key, len) in [
        ("input_lens", detailed.input_lens.len()),
        ("output_lens", detailed.output_lens.len()),
        ("ttfts", detailed.ttfts.len()),
        ("itls", detailed.itls.len()),
        ("generated_texts", detailed.generated_texts.len()),
        ("errors", detailed.errors.len()),
    ] {
        assert_eq!(len, 40, "{key} in {detailed:?}");
    }
    let requests: Vec<BenchRequestLine> =
        common::typed_records(&dir.path().join("bench.requests.jsonl"));
    assert_eq!(requests.len(), 40);
    assert!(
        requests
            .iter()
            .all(|r| r.error.is_none() && r.output_tokens == 8),
        "{requests:?}"
    );
}

#[test]
fn a_starved_client_marks_itself_limited() {
    let (_sim, port) = fixed_sim();
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("bench.jsonl");
    // 2,000 requests offered at 100,000 req/s: far above what one client process can send on time.
    let output = common::bin()
        .args([
            "bench",
            "--backend",
            "sglang-oai",
            "--port",
            &port.to_string(),
            "--dataset-name",
            "random",
            "--random-input-len",
            "16",
            "--random-output-len",
            "2",
            "--num-prompts",
            "2000",
            "--request-rate",
            "100000",
            "--arrival",
            "constant",
            "--tokenizer",
        ])
        .arg(common::tiny_model())
        .arg("--output-file")
        .arg(&out)
        .output()
        .expect("bench");
    let text = common::text(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("CLIENT-LIMITED"), "{text}");
    let lines: Vec<BenchLine> = common::typed_records(&out);
    let client = lines[0].metrics.0.client.as_ref().expect("client health");
    assert!(client.limited_reason.is_some(), "{client:?}");
}

#[test]
fn calibrate_reports_a_ceiling() {
    let output = common::bin()
        .args([
            "bench",
            "--calibrate",
            "--calibrate-seconds",
            "0.5",
            "--calibrate-max-rate",
            "100",
        ])
        .output()
        .expect("calibrate");
    let text = common::text(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("client ceiling:"), "{text}");
    assert!(
        text.contains("steal %") && text.contains("bystander p99"),
        "machine-noise columns missing: {text}"
    );
    assert!(text.contains("bystander with no load: p50 "), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("100 ")),
        "{text}"
    );
}
