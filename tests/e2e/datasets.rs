//! Datasets from the CLI: `convert` for every kind (determinism, exact lengths, upstream bugs
//! 13-16 shown fixed), legacy formats, `validate` reports with line numbers, and the ShareGPT
//! download against a local hub server (fresh, cached, resumed, corrupt, offline).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use shared::outward::dataset::{ConvertSummary, DatasetReport, Severity};

use super::common;

fn convert(args: &[&str], output: &Path) -> std::process::Output {
    common::bin()
        .arg("convert")
        .args(args)
        .arg("--tokenizer")
        .arg(common::tiny_model())
        .arg("--output")
        .arg(output)
        .output()
        .expect("convert")
}

fn rows(path: &Path) -> Vec<serde_json::Value> {
    common::records(path)
}

#[test]
fn random_is_exact_and_deterministic() {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b, c) = (
        dir.path().join("a.jsonl"),
        dir.path().join("b.jsonl"),
        dir.path().join("c.jsonl"),
    );
    let args = [
        "--kind",
        "random",
        "--num-prompts",
        "20",
        "--random-input-len",
        "64",
        "--random-output-len",
        "9",
    ];
    let first = convert(&args, &a);
    assert!(first.status.success());
    let stdout = String::from_utf8_lossy(&first.stdout);
    let figures = stdout
        .splitn(3, '\n')
        .nth(2)
        .expect("the summary after two lines");
    let summary: ConvertSummary = serde_json::from_str(figures).expect("a ConvertSummary");
    assert_eq!(summary.num_requests, 20);
    assert_eq!(summary.output_tokens.max, 9.0);
    assert!(convert(&args, &b).status.success());
    assert_eq!(
        std::fs::read(&a).expect("a"),
        std::fs::read(&b).expect("b"),
        "same seed, same bytes"
    );
    let mut other = args.to_vec();
    other.extend(["--seed", "2"]);
    assert!(convert(&other, &c).status.success());
    assert_ne!(std::fs::read(&a).expect("a"), std::fs::read(&c).expect("c"));
    let rows = rows(&a);
    assert_eq!(rows.len(), 20);
    let exact = rows.iter().filter(|r| r["prompt_len"] == 64).count();
    assert!(exact >= 18, "lengths should be exact: {exact}/20");
    assert!(rows.iter().all(|r| r["output_len"] == 9));
}

#[test]
fn random_output_len_flags_are_not_silently_mixed() {
    // Upstream bug 13: `--kind random` without --output-len crashed; with it, it replaced
    // --random-output-len silently.
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("r.jsonl");
    assert!(
        convert(
            &[
                "--kind",
                "random",
                "--num-prompts",
                "2",
                "--random-input-len",
                "8"
            ],
            &out
        )
        .status
        .success()
    );
    assert!(rows(&out).iter().all(|r| r["output_len"] == 256));
    assert!(
        convert(
            &[
                "--kind",
                "random",
                "--num-prompts",
                "2",
                "--random-input-len",
                "8",
                "--output-len",
                "5"
            ],
            &out
        )
        .status
        .success()
    );
    assert!(rows(&out).iter().all(|r| r["output_len"] == 5));
    let clash = convert(
        &[
            "--kind",
            "random",
            "--num-prompts",
            "2",
            "--output-len",
            "5",
            "--random-output-len",
            "6",
        ],
        &out,
    );
    assert_eq!(clash.status.code(), Some(2));
    assert!(common::text(&clash).contains("disagree"));
}

#[test]
fn custom_canonical_keeps_tools_and_drops_legacy_leaks() {
    let dir = tempfile::tempdir().expect("dir");
    let input = dir.path().join("in.jsonl");
    let lines = [
        r#"{"prompt": "plain text", "output_len": 4, "temperature": 0.3}"#,
        r#"{"messages": [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c1", "content": "sunny"}], "max_tokens": 6}"#,
        r#"{"system": "be brief", "content": ["q1", "a1", "q2", "a2"], "output_len": 3}"#,
        r#"{"prompt": [[{"role": "user", "content": "turn 1"}], [{"role": "user", "content": "turn 2"}]], "output_len": 3}"#,
        r#"{"messages": [{"role": "user", "content": "say hi"}, {"role": "assistant", "content": "hello there my friend"}]}"#,
    ];
    std::fs::write(&input, lines.join("\n")).expect("write");
    let out = dir.path().join("out.jsonl");
    let output = convert(
        &["--kind", "custom", "--path", input.to_str().expect("utf8")],
        &out,
    );
    assert!(output.status.success(), "{}", common::text(&output));
    let rows = rows(&out);
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows[4]["prompt"].as_array().map(Vec::len),
        Some(1),
        "the target answer is not left in the prompt"
    );
    assert!(
        rows[4]["output_len"]
            .as_u64()
            .is_some_and(|n| (2..256).contains(&n)),
        "output_len from the answer: {}",
        rows[4]
    );
    assert_eq!(rows[0]["extra_request_body"]["temperature"], 0.3);
    assert_eq!(
        rows[1]["prompt"][1]["tool_calls"][0]["id"], "c1",
        "bug 16: tool calls kept"
    );
    assert_eq!(rows[1]["prompt"][2]["tool_call_id"], "c1");
    assert!(
        rows[2].get("extra_request_body").is_none(),
        "bug 14: system/content must not leak: {}",
        rows[2]
    );
    assert_eq!(
        rows[2]["prompt"].as_array().map(Vec::len),
        Some(4),
        "system + q1 + a1 + q2; final answer dropped"
    );
    assert!(
        rows[3]["prompt"][0].is_array(),
        "bug 15: lists of message lists are multi-turn"
    );
    assert!(
        common::text(&output).contains("\"multi_turn\": 1"),
        "{}",
        common::text(&output)
    );
}

#[test]
fn legacy_conversations_and_sharegpt_files() {
    let dir = tempfile::tempdir().expect("dir");
    let legacy = dir.path().join("legacy.jsonl");
    std::fs::write(&legacy, "{\"conversations\": [{\"value\": \"what is the answer to everything\"}, {\"value\": \"forty two is the answer to that\"}]}\nnot json\n").expect("write");
    let out = dir.path().join("out.jsonl");
    let output = convert(
        &["--kind", "custom", "--path", legacy.to_str().expect("utf8")],
        &out,
    );
    assert!(output.status.success(), "{}", common::text(&output));
    let rows1 = rows(&out);
    assert_eq!(rows1.len(), 1);
    assert_eq!(
        rows1[0]["prompt"], "what is the answer to everything",
        "the answer is never part of the prompt"
    );
    assert!(
        rows1[0]["output_len"].as_u64().is_some_and(|n| n > 2),
        "output_len is the answer's token count"
    );

    let sharegpt = dir.path().join("sg.json");
    std::fs::write(&sharegpt, sharegpt_json(30)).expect("write");
    let output = convert(
        &[
            "--kind",
            "sharegpt",
            "--path",
            sharegpt.to_str().expect("utf8"),
            "--num-prompts",
            "10",
        ],
        &out,
    );
    assert!(output.status.success(), "{}", common::text(&output));
    assert_eq!(rows(&out).len(), 10);
}

fn sharegpt_json(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"id": "{i}", "conversations": [{{"from": "human", "value": "question number {i} about rust programming"}}, {{"from": "gpt", "value": "answer number {i} with several words in it"}}]}}"#))
        .collect();
    format!("[{}]", items.join(",\n"))
}

#[test]
fn validate_reports_problems_by_line() {
    let dir = tempfile::tempdir().expect("dir");
    let input = dir.path().join("bad.jsonl");
    let lines = [
        r#"{"prompt": "fine", "output_len": 4}"#,
        r#"{"prompt": "no output length"}"#,
        "{not json",
        r#"{"prompt": "", "output_len": 3}"#,
        r#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "leaked answer"}], "output_len": 3}"#,
        r#"{"prompt": "long", "output_len": 5000}"#,
        r#"{"prompt": "pic", "output_len": 3, "image_data": ["/no/such/image.png"]}"#,
        r#"{"prompt": "x", "output_len": 0}"#,
    ];
    std::fs::write(&input, lines.join("\n")).expect("write");
    let output = common::bin()
        .args(["validate", "--context-len", "1000", "--tokenizer"])
        .arg(common::tiny_model())
        .arg("--dataset-path")
        .arg(&input)
        .output()
        .expect("validate");
    assert_eq!(output.status.code(), Some(1));
    let text = common::text(&output);
    let path = input.display().to_string();
    for (line, needle) in [
        (2, "missing output_len"),
        (3, "invalid JSON"),
        (4, "prompt is empty"),
        (6, "exceed the context length"),
        (7, "cannot be read"),
        (8, "positive integer"),
    ] {
        assert!(
            text.contains(&format!("{path}:{line}: error: ")) && text.contains(needle),
            "line {line} ({needle}) missing in:\n{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "{path}:5: warning: the prompt ends with an assistant turn"
        )),
        "{text}"
    );
    assert!(text.contains("first rows as they will be sent"));
    let json = common::bin()
        .args(["validate", "--json", "--tokenizer"])
        .arg(common::tiny_model())
        .arg("--dataset-path")
        .arg(&input)
        .output()
        .expect("validate");
    let report: DatasetReport = serde_json::from_slice(&json.stdout).expect("json report");
    assert_eq!(report.num_requests, 5);
    assert!(report.problems.len() >= 6, "{report:?}");
    assert!(report.has_errors());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.line == 5 && p.severity == Severity::Warning),
        "{report:?}"
    );
}

struct Hub {
    url: String,
    hits: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

const ETAG: &str = "0123abcd";
const COMMIT: &str = "c0ffee";

fn hub_server(body: Vec<u8>, announced: Option<usize>) -> Hub {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let body = Arc::new(body);
    let counter = Arc::clone(&hits);
    let handler = move |method: axum::http::Method, headers: HeaderMap| {
        let body = Arc::clone(&body);
        counter.fetch_add(1, Ordering::SeqCst);
        async move { serve_file(&method, &headers, &body, announced) }
    };
    let app = axum::Router::new().route("/datasets/anon8231489123/ShareGPT_Vicuna_unfiltered/resolve/main/ShareGPT_V3_unfiltered_cleaned_split.json", axum::routing::get(handler.clone()).head(handler));
    runtime.spawn(async move { axum::serve(listener, app).await });
    Hub {
        url,
        hits,
        _runtime: runtime,
    }
}

fn serve_file(
    method: &axum::http::Method,
    headers: &HeaderMap,
    body: &[u8],
    announced: Option<usize>,
) -> Response {
    let size = announced.unwrap_or(body.len()).to_string();
    let common_headers = [
        ("etag", format!("\"{ETAG}\"")),
        ("x-repo-commit", COMMIT.to_string()),
        ("x-linked-size", size),
    ];
    if method == axum::http::Method::HEAD {
        return (StatusCode::OK, common_headers).into_response();
    }
    let start = headers
        .get("range")
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    match start {
        Some(start) if start < body.len() => (
            StatusCode::PARTIAL_CONTENT,
            common_headers,
            body[start..].to_vec(),
        )
            .into_response(),
        _ => (StatusCode::OK, common_headers, body.to_vec()).into_response(),
    }
}

fn convert_sharegpt(hub: &Hub, cache: &Path, out: &Path, offline: bool) -> std::process::Output {
    let mut command = common::bin();
    command
        .args([
            "convert",
            "--kind",
            "sharegpt",
            "--num-prompts",
            "5",
            "--tokenizer",
        ])
        .arg(common::tiny_model())
        .arg("--output")
        .arg(out)
        .env("HF_ENDPOINT", &hub.url)
        .env("HF_HUB_CACHE", cache)
        .env_remove("HF_HUB_OFFLINE");
    if offline {
        command.env("HF_HUB_OFFLINE", "1");
    }
    command.output().expect("convert")
}

fn blob_dir(cache: &Path) -> std::path::PathBuf {
    cache.join("datasets--anon8231489123--ShareGPT_Vicuna_unfiltered/blobs")
}

#[test]
fn sharegpt_download_uses_the_hub_cache() {
    let dir = tempfile::tempdir().expect("dir");
    let cache = dir.path().join("hub");
    let out = dir.path().join("out.jsonl");
    let body = sharegpt_json(40).into_bytes();

    // Offline with an empty cache: a clear error, no request.
    let hub = hub_server(body.clone(), None);
    let offline = convert_sharegpt(&hub, &cache, &out, true);
    assert_eq!(offline.status.code(), Some(2));
    assert!(
        common::text(&offline).contains("HF_HUB_OFFLINE"),
        "{}",
        common::text(&offline)
    );
    assert_eq!(hub.hits.load(Ordering::SeqCst), 0);

    // A resumed partial download: the first half is already there.
    std::fs::create_dir_all(blob_dir(&cache)).expect("mkdir");
    std::fs::write(
        blob_dir(&cache).join(format!("{ETAG}.incomplete")),
        &body[..body.len() / 2],
    )
    .expect("partial");
    let first = convert_sharegpt(&hub, &cache, &out, false);
    assert!(first.status.success(), "{}", common::text(&first));
    assert_eq!(
        std::fs::read(blob_dir(&cache).join(ETAG)).expect("blob"),
        body,
        "resumed file is complete and correct"
    );
    let snapshot = cache
        .join("datasets--anon8231489123--ShareGPT_Vicuna_unfiltered/snapshots")
        .join(COMMIT)
        .join("ShareGPT_V3_unfiltered_cleaned_split.json");
    assert_eq!(std::fs::read(&snapshot).expect("snapshot"), body);
    assert_eq!(
        std::fs::read_to_string(
            cache.join("datasets--anon8231489123--ShareGPT_Vicuna_unfiltered/refs/main")
        )
        .expect("ref"),
        COMMIT
    );
    assert_eq!(rows(&out).len(), 5);

    // Cached: no request at all, also offline.
    let before = hub.hits.load(Ordering::SeqCst);
    assert!(convert_sharegpt(&hub, &cache, &out, false).status.success());
    assert!(convert_sharegpt(&hub, &cache, &out, true).status.success());
    assert_eq!(hub.hits.load(Ordering::SeqCst), before);
}

#[test]
fn corrupt_or_truncated_downloads_are_not_used() {
    let dir = tempfile::tempdir().expect("dir");
    let cache = dir.path().join("hub");
    let out = dir.path().join("out.jsonl");
    let body = sharegpt_json(20).into_bytes();

    // A partial file longer than the real one is not a prefix of it: start over.
    let hub = hub_server(body.clone(), None);
    std::fs::create_dir_all(blob_dir(&cache)).expect("mkdir");
    std::fs::write(
        blob_dir(&cache).join(format!("{ETAG}.incomplete")),
        vec![b'x'; body.len() + 10],
    )
    .expect("garbage");
    assert!(convert_sharegpt(&hub, &cache, &out, false).status.success());
    assert_eq!(
        std::fs::read(blob_dir(&cache).join(ETAG)).expect("blob"),
        body
    );

    // A server that delivers fewer bytes than it announced: error, nothing cached.
    let cache2 = dir.path().join("hub2");
    let short = hub_server(body.clone(), Some(body.len() + 100));
    let output = convert_sharegpt(&short, &cache2, &out, false);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        common::text(&output).contains("expected"),
        "{}",
        common::text(&output)
    );
    assert!(!blob_dir(&cache2).join(ETAG).exists());
    assert!(
        !blob_dir(&cache2)
            .join(format!("{ETAG}.incomplete"))
            .exists()
    );
}

/// A hub serving a model repository's tokenizer files (each with its own ETag).
fn model_hub(repo: &'static str) -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let folder = std::path::PathBuf::from(common::tiny_model());
    let handler = move |method: axum::http::Method,
                        axum::extract::Path(file): axum::extract::Path<String>| {
        let body = std::fs::read(folder.join(&file));
        async move {
            match body {
                Ok(body) if method == axum::http::Method::HEAD => (
                    StatusCode::OK,
                    [
                        ("etag", format!("\"etag-{file}\"")),
                        ("x-repo-commit", "abc".to_string()),
                        ("x-linked-size", body.len().to_string()),
                    ],
                )
                    .into_response(),
                Ok(body) => (StatusCode::OK, body).into_response(),
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    let route = format!("/{repo}/resolve/main/{{file}}");
    let app = axum::Router::new().route(&route, axum::routing::get(handler.clone()).head(handler));
    runtime.spawn(async move { axum::serve(listener, app).await });
    (url, runtime)
}

#[test]
fn hub_model_id_tokenizer_is_fetched_into_the_cache() {
    let (url, _runtime) = model_hub("test-org/tiny");
    let dir = tempfile::tempdir().expect("dir");
    let cache = dir.path().join("hub");
    let out = dir.path().join("r.jsonl");
    let output = common::bin()
        .args([
            "convert",
            "--kind",
            "random",
            "--num-prompts",
            "3",
            "--random-input-len",
            "16",
            "--tokenizer",
            "test-org/tiny",
            "--output",
        ])
        .arg(&out)
        .env("HF_ENDPOINT", &url)
        .env("HF_HUB_CACHE", &cache)
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .expect("convert");
    assert!(output.status.success(), "{}", common::text(&output));
    assert!(rows(&out).iter().all(|r| r["prompt_len"] == 16));
    let snapshot = cache.join("models--test-org--tiny/snapshots/abc");
    assert!(snapshot.join("tokenizer.json").is_file());
    assert!(snapshot.join("chat_template.jinja").is_file());

    // Chat prompts are counted with the model's chat template, and validate says so.
    let data = dir.path().join("chat.jsonl");
    std::fs::write(
        &data,
        r#"{"messages": [{"role": "user", "content": "hello"}], "output_len": 4}"#,
    )
    .expect("data");
    let validate = common::bin()
        .args(["validate", "--tokenizer", "test-org/tiny", "--dataset-path"])
        .arg(&data)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("HF_HUB_CACHE", &cache)
        .output()
        .expect("validate");
    let text = common::text(&validate);
    assert!(validate.status.success(), "{text}");
    assert!(
        text.contains("chat prompts counted with: chat_template"),
        "{text}"
    );
}

#[test]
fn validate_refuses_a_device_instead_of_reading_it_forever() {
    let out = common::bin()
        .args(["validate", "--dataset-path", "/dev/zero", "--tokenizer"])
        .arg(common::tiny_model())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("not a regular file"),
        "{}",
        common::text(&out)
    );
}

#[test]
fn validate_shows_and_counts_rows_as_run_sends_them() {
    let dir = tempfile::tempdir().expect("dir");
    let input = dir.path().join("chat.jsonl");
    std::fs::write(
        &input,
        r#"{"messages": [{"role": "user", "content": "What is two and two?"}, {"role": "assistant", "content": "Two and two make four."}]}"#,
    )
    .expect("write");
    let json = common::bin()
        .args(["validate", "--json", "--tokenizer"])
        .arg(common::tiny_model())
        .arg("--dataset-path")
        .arg(&input)
        .output()
        .expect("validate");
    let report: DatasetReport = serde_json::from_slice(&json.stdout).expect("json report");
    let sample = &report.samples[0];
    assert_eq!(
        sample.prompt.as_array().map(Vec::len),
        Some(1),
        "the answer is not left in the prompt: {report:?}"
    );
    let output_len = sample.output_len;
    assert!(
        (1..20).contains(&output_len),
        "output_len from the answer's length, not 256: {report:?}"
    );
    assert_eq!(report.output_tokens.max, output_len as f64);
    let problems: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
    assert!(
        !problems.iter().any(|p| p.contains("missing output_len")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("taken as the completion")),
        "{problems:?}"
    );
}
