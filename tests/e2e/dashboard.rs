//! `autobench serve` over real HTTP: the API over a finished simulator run, live change events,
//! the config validator's line numbers, the report export, the security rules (foreign
//! Origin or Host, duplicate Host headers, absolute-form targets, non-loopback without a token,
//! path traversal), and slow clients cut off.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shared::api::{CandidatePhase, ConfigCheck, RunDetail, RunStatus, RunSummary};
use shared::api_calls::{ApiError, ApiErrorKind, StartRequest, StopRequest, ValidateRequest};

use super::common;

pub(crate) struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// `kill -9` of the dashboard, waiting until it is gone.
    pub(crate) fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `autobench serve` on a free port and reads the URL it prints.
pub(crate) fn serve(root: &Path, host: &str) -> Server {
    serve_in(root, host, &common::root().join("references"), None)
}

/// [`serve`] with its own references folder, run from `cwd` when given.
pub(crate) fn serve_in(root: &Path, host: &str, references: &Path, cwd: Option<&Path>) -> Server {
    let mut command = common::bin();
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    let mut child = command
        .args(["serve", "--port", "0", "--host", host, "--dir"])
        .arg(root)
        .arg("--references")
        .arg(references)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("url line");
    // Keep draining stdout so the server never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = line
        .trim()
        .strip_prefix("autobench dashboard: ")
        .unwrap_or_else(|| panic!("unexpected first line {line}"))
        .to_string();
    Server { child, url }
}

pub(crate) fn base(url: &str) -> String {
    let end = url[7..].find('/').map_or(url.len(), |i| i + 7);
    url[..end].to_string()
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub(crate) async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: impl serde::Serialize,
) -> reqwest::Response {
    http.post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .expect("post")
}

/// A refused request's typed error, after checking its status.
pub(crate) async fn refusal(response: reqwest::Response, status: u16) -> ApiError {
    assert_eq!(response.status(), status);
    response.json().await.expect("a typed error")
}

/// `POST /api/validate` of `yaml`.
pub(crate) async fn validate(http: &reqwest::Client, base: &str, yaml: &str) -> ConfigCheck {
    post(
        http,
        base,
        "/api/validate",
        ValidateRequest { yaml: yaml.into() },
    )
    .await
    .json()
    .await
    .expect("a config check")
}

pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> T {
    http.get(url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

/// Asserts that `response` is the report.html download.
pub(crate) async fn assert_report_download(response: reqwest::Response) {
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("header")
            .contains("report.html")
    );
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("<table class=\"trials\">")
    );
}

pub(crate) fn finished_run(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("runs").join("quick");
    let config = common::write_config(
        dir,
        &common::fast_config(
            &out,
            "    chunked_prefill_size: [1024]",
            "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 4",
            "{lower: 5, upper: 40, tolerance: 20, max_rounds: 1}",
        ),
    );
    let output = common::run(&config);
    assert_eq!(output.status.code(), Some(0), "{}", common::text(&output));
    dir.join("runs")
}

#[tokio::test]
async fn api_shows_runs_plots_logs_and_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = finished_run(dir.path());
    let server = serve(&root, "127.0.0.1");
    let base = base(&server.url);
    let http = client();

    let page = http.get(&base).send().await.expect("index");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("text")
            .contains("/pkg/frontend.js")
    );
    let wasm = http
        .get(format!("{base}/pkg/frontend_bg.wasm"))
        .send()
        .await
        .expect("wasm");
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");

    let runs: Vec<RunSummary> = get_json(&http, &format!("{base}/api/runs")).await;
    assert_eq!(runs[0].id, "quick", "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Finished, "{runs:?}");
    assert!(runs[0].trials >= 2, "{runs:?}");

    let detail: RunDetail = get_json(&http, &format!("{base}/api/run?run=quick")).await;
    assert!(
        detail
            .candidates
            .iter()
            .all(|c| c.phase == CandidatePhase::Done),
        "{detail:?}"
    );
    assert!(detail.logs.iter().any(|f| f == "progress.log"));
    let scenario = detail.scenarios[0].name.clone();

    let svg = http
        .get(format!(
            "{base}/api/plot?run=quick&scenario={scenario}&metric=ttft&stat=p99"
        ))
        .send()
        .await
        .expect("plot")
        .text()
        .await
        .expect("svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("<title>") && svg.contains("SLA 400 ms"),
        "{svg}"
    );

    // Latency over time of the answer's trial, from its stored per-request timings.
    let timeline = http
        .get(format!("{base}/api/timeline?run=quick&scenario={scenario}"))
        .send()
        .await
        .expect("timeline");
    assert_eq!(timeline.status(), 200);
    let timeline = timeline.text().await.expect("svg");
    assert!(
        timeline.starts_with("<svg") && timeline.contains("SLA limit: p99 TTFT 400 ms"),
        "{timeline}"
    );
    let none = http
        .get(format!("{base}/api/timeline?run=quick&scenario=nope"))
        .send()
        .await
        .expect("timeline");
    let none = refusal(none, 404).await;
    assert_eq!(none.kind, ApiErrorKind::NotFound);
    assert_eq!(none.message, "no such scenario");

    let log = http
        .get(format!("{base}/api/log?run=quick&file=progress.log"))
        .send()
        .await
        .expect("log");
    assert!(log.text().await.expect("text").contains("run finished"));

    let report = http
        .get(format!("{base}/api/report?run=quick"))
        .send()
        .await
        .expect("report");
    assert_report_download(report).await;
}

#[tokio::test]
async fn a_new_trial_line_is_announced_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = finished_run(dir.path());
    let server = serve(&root, "127.0.0.1");
    let base = base(&server.url);
    let mut events = client()
        .get(format!("{base}/api/events"))
        .send()
        .await
        .expect("events");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = Instant::now();
    let live = root.join("quick").join("live_results.jsonl");
    let mut text = std::fs::read_to_string(&live).expect("live");
    text.push('\n');
    std::fs::write(&live, text).expect("append");
    let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
        .await
        .expect("an event within 5 s")
        .expect("stream")
        .expect("chunk");
    assert!(
        String::from_utf8_lossy(&chunk).contains("data: quick"),
        "{chunk:?}"
    );
    assert!(
        written.elapsed() < Duration::from_secs(1),
        "took {:?}",
        written.elapsed()
    );
}

#[tokio::test]
async fn config_errors_come_back_with_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path(), "127.0.0.1");
    let base = base(&server.url);
    let http = client();
    let names: Vec<String> = get_json(&http, &format!("{base}/api/configs")).await;
    assert!(
        names.iter().any(|n| n == "sim/quickstart.yaml"),
        "{names:?}"
    );
    let yaml =
        "server:\n  base_flags:\n    model_path: m\n  serch_space: {}\nbenchmark:\n  qps: [1]\n";
    let check = validate(&http, &base, yaml).await;
    assert_eq!(check.problems[0].line, Some(4), "{check:?}");
    assert!(
        check.problems[0]
            .message
            .contains("did you mean `search_space`?")
    );
    let good = http
        .get(format!("{base}/api/config?name=sim/quickstart.yaml"))
        .send()
        .await
        .expect("config")
        .text()
        .await
        .expect("text");
    let check = validate(&http, &base, &good).await;
    assert!(
        check
            .plan
            .as_deref()
            .is_some_and(|p| p.contains("base candidates")),
        "{check:?}"
    );
}

#[tokio::test]
async fn foreign_origins_hosts_and_traversal_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = finished_run(dir.path());
    std::fs::write(dir.path().join("secret.log"), "secret").expect("write");
    let server = serve(&root, "127.0.0.1");
    let base = base(&server.url);
    let http = client();
    let foreign = http
        .post(format!("{base}/api/validate"))
        .header("origin", "http://evil.example")
        .json(&ValidateRequest {
            yaml: String::new(),
        })
        .send()
        .await
        .expect("post");
    let foreign = refusal(foreign, 403).await;
    assert_eq!(foreign.kind, ApiErrorKind::Forbidden, "{foreign:?}");
    assert!(foreign.message.contains("cross-origin"), "{foreign:?}");
    let rebinding = http
        .get(format!("{base}/api/runs"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("get");
    assert_eq!(rebinding.status(), 403);
    for path in [
        "/api/run?run=..",
        "/api/run?run=%2Fetc",
        "/api/log?run=quick&file=..%2F..%2Fsecret.log",
        "/api/log?run=..&file=secret.log",
        "/api/config?name=..%2F..%2FCargo.toml",
        "/api/config?path=%2Fetc%2Fpasswd",
        "/api/config?path=Cargo.toml",
    ] {
        let response = http.get(format!("{base}{path}")).send().await.expect("get");
        let refused = refusal(response, 403).await;
        assert_eq!(refused.kind, ApiErrorKind::Forbidden, "{path}: {refused:?}");
    }
}

/// Sends `request` as raw bytes and returns the response's status line.
fn raw_status(base: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&base["http://".len()..]).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.lines().next().unwrap_or_default().to_string()
}

/// Sends `request` and waits at most `limit` for the server to close the connection; returns
/// what it answered.
fn closed_within(address: &str, request: &str, limit: Duration) -> String {
    use std::io::{ErrorKind, Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(limit)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let started = Instant::now();
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        Err(error) => panic!(
            "the connection was still open after {:?} ({error}): {request:?}",
            started.elapsed()
        ),
    }
    String::from_utf8_lossy(&response).into_owned()
}

/// A client that stops partway through its request head, or sends less body than it declared,
/// is cut off: the dashboard closes the connection within three times its timeouts (5 s for the
/// head, 10 s for the body) instead of holding it for good.
#[test]
fn slow_clients_are_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path(), "127.0.0.1");
    let base = base(&server.url);
    let host = &base["http://".len()..];
    let partial_head = format!("GET /api/runs HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n");
    let short_body = format!(
        "POST /api/validate HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"yaml\": \""
    );
    let (_, body) = std::thread::scope(|scope| {
        let head = scope.spawn(|| closed_within(host, &partial_head, Duration::from_secs(15)));
        let body = scope.spawn(|| closed_within(host, &short_body, Duration::from_secs(30)));
        (
            head.join().expect("head thread"),
            body.join().expect("body thread"),
        )
    });
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(
        raw_status(
            &base,
            &format!("GET /api/runs HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        )
        .contains(" 200 "),
        "the server still answers"
    );
}

#[tokio::test]
async fn duplicate_hosts_and_absolute_targets_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path(), "127.0.0.1");
    let base = base(&server.url);
    let host = &base["http://".len()..];
    let send = |target: &str, hosts: &[&str]| {
        let headers: String = hosts.iter().map(|h| format!("Host: {h}\r\n")).collect();
        raw_status(
            &base,
            &format!("GET {target} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n"),
        )
    };
    assert!(
        send("/api/runs", &[host]).contains(" 200 "),
        "a plain request works"
    );
    let own_absolute = format!("http://{host}/api/runs");
    for (target, hosts) in [
        ("/api/runs", vec![host, "evil.example"]),
        ("/api/runs", vec!["evil.example", host]),
        ("/api/runs", vec![host, host]),
        ("http://evil.example/api/runs", vec![host]),
        (own_absolute.as_str(), vec![host]),
    ] {
        let status = send(target, &hosts);
        assert!(status.contains(" 400 "), "{target} {hosts:?}: {status}");
    }
}

#[tokio::test]
async fn configs_open_by_path_only_inside_the_root_or_references() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("results");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(
        root.join("mine.yaml"),
        "server:\n  env:\n    HF_TOKEN: hf_secret\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("outside.yaml"), "outside").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("outside.yaml"), root.join("link.yaml"))
        .expect("symlink");
    let server = serve(&root, "127.0.0.1");
    let base = base(&server.url);
    let http = client();
    let get = |path: std::path::PathBuf| {
        let url = format!(
            "{base}/api/config?path={}",
            path.to_string_lossy().replace('/', "%2F")
        );
        let http = http.clone();
        async move { http.get(url).send().await.expect("get") }
    };
    let mine = get(root.join("mine.yaml")).await;
    assert_eq!(mine.status(), 200);
    let text = mine.text().await.expect("text");
    assert!(
        text.contains("HF_TOKEN") && !text.contains("hf_secret"),
        "{text}"
    );
    let reference = get(common::root().join("references/sim/quickstart.yaml")).await;
    assert_eq!(
        reference.status(),
        200,
        "the references folder is allowed too"
    );
    assert_eq!(get(dir.path().join("outside.yaml")).await.status(), 403);
    #[cfg(unix)]
    assert_eq!(
        get(root.join("link.yaml")).await.status(),
        403,
        "symlink out"
    );
    assert_eq!(get(root.join("missing.yaml")).await.status(), 404);
}

#[tokio::test]
async fn a_run_whose_process_died_is_shown_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let mut gone = Command::new("true").spawn().expect("true");
    let gone_pid = gone.id();
    gone.wait().expect("wait");
    let server = serve(dir.path(), "127.0.0.1");
    for (name, pid) in [("killed", gone_pid), ("alive", server.child.id())] {
        let run = dir.path().join(name);
        std::fs::create_dir_all(&run).expect("mkdir");
        let meta =
            serde_json::json!({"schema_version": 1, "process": {"pid": pid, "host": host.trim()}});
        std::fs::write(run.join("run_meta.json"), meta.to_string()).expect("write");
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        std::fs::write(run.join("progress.log"), format!("{now} candidates=1\n")).expect("write");
    }
    let runs: Vec<RunSummary> =
        get_json(&client(), &format!("{}/api/runs", base(&server.url))).await;
    let status = |id: &str| runs.iter().find(|r| r.id == id).map(|r| r.status);
    assert_eq!(status("killed"), Some(RunStatus::Interrupted), "{runs:?}");
    assert_eq!(
        status("alive"),
        Some(RunStatus::Running),
        "the dashboard itself is an autobench process"
    );
}

#[tokio::test]
async fn beyond_loopback_a_token_is_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(dir.path(), "0.0.0.0");
    assert!(
        server.url.contains("?token="),
        "a token is generated and printed: {}",
        server.url
    );
    let base = base(&server.url);
    let token = server
        .url
        .split("token=")
        .nth(1)
        .expect("token")
        .to_string();
    let http = client();
    let anonymous = http
        .get(format!("{base}/api/runs"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    let wrong = http
        .get(format!("{base}/api/runs"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("get");
    assert_eq!(wrong.status(), 401);
    let first = http.get(&server.url).send().await.expect("get");
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .contains("HttpOnly")
    );
    let bearer = http
        .get(format!("{base}/api/runs"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(bearer.status(), 200);
}

async fn status_of(http: &reqwest::Client, base: &str, id: &str) -> String {
    let runs: Vec<RunSummary> = get_json(http, &format!("{base}/api/runs")).await;
    runs.iter()
        .find(|r| r.id == id)
        .map(|r| r.status.name().to_string())
        .unwrap_or_default()
}

pub(crate) async fn wait_status(http: &reqwest::Client, base: &str, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = status_of(http, base, id).await;
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} stayed {status:?}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `POST /api/start` of `yaml` as the run `name`.
pub(crate) async fn start_run(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    yaml: &str,
) -> reqwest::Response {
    post(
        http,
        base,
        "/api/start",
        StartRequest {
            name: name.into(),
            yaml: yaml.into(),
            force: false,
        },
    )
    .await
}

#[tokio::test]
async fn upstream_result_folders_are_shown_read_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("upstream");
    std::fs::create_dir_all(&run).expect("mkdir");
    // Records as sglang.auto_benchmark wrote them: bench_serving metrics, no achieved rate.
    let record = |qps: f64, ttft: f64, passed: bool| {
        serde_json::json!({"stage": "base", "candidate_id": 0, "requested_qps": qps, "max_concurrency": null,
            "server_flags": {"model_path": "m", "tp_size": 1, "port": 30000}, "sla_passed": passed,
            "metrics": {"completed": 100, "request_throughput": qps * 0.98, "output_throughput": qps * 100.0,
                "mean_ttft_ms": ttft, "median_ttft_ms": ttft, "p99_ttft_ms": ttft * 2.0, "mean_tpot_ms": 10.0,
                "p99_tpot_ms": 12.0, "server_info": {"version": "0.5"}}})
        .to_string()
    };
    let lines = [record(4.0, 50.0, true), record(8.0, 400.0, false)].join("\n");
    std::fs::write(run.join("results.jsonl"), lines + "\n").expect("write");
    let server = serve(dir.path(), "127.0.0.1");
    let base = base(&server.url);
    let http = client();
    let runs: Vec<RunSummary> = get_json(&http, &format!("{base}/api/runs")).await;
    assert_eq!(runs[0].id, "upstream", "{runs:?}");
    assert!(runs[0].upstream);
    assert_eq!(runs[0].status, RunStatus::Finished);
    assert_eq!(runs[0].best[0].1, Some(4.0), "{runs:?}");
    let svg = http
        .get(format!(
            "{base}/api/plot?run=upstream&scenario=default&metric=ttft"
        ))
        .send()
        .await
        .expect("plot")
        .text()
        .await
        .expect("svg");
    assert_eq!(
        svg.matches("<title>").count(),
        2,
        "both trials plotted: {svg}"
    );
    let stop = post(
        &http,
        &base,
        "/api/stop",
        StopRequest {
            run: "upstream".into(),
        },
    )
    .await;
    let stop = refusal(stop, 404).await;
    assert_eq!(
        stop.kind,
        ApiErrorKind::NotFound,
        "nothing to stop in a read-only folder"
    );
}

#[tokio::test]
async fn the_config_check_refuses_a_flag_the_server_does_not_know_from_its_cached_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let yaml = |key: &str| common::speculative_config(&out, key);
    // `plan` reads the simulator's --help and caches its flags; the dashboard only reads the cache.
    let path = common::write_config(dir.path(), &yaml("speculative_eagle_topk"));
    let plan = common::bin()
        .args(["plan", "--config"])
        .arg(&path)
        .output()
        .expect("plan");
    assert_eq!(plan.status.code(), Some(0), "{}", common::text(&plan));
    let server = serve(dir.path(), "127.0.0.1");
    let base = base(&server.url);
    let http = client();
    let check = validate(&http, &base, &yaml("speculative_eagle_top_k")).await;
    let message = check
        .problems
        .first()
        .map(|p| p.message.as_str())
        .unwrap_or_default();
    assert!(
        message.contains("does not accept --speculative-eagle-top-k")
            && message.contains("did you mean --speculative-eagle-topk?"),
        "{check:?}"
    );
    assert!(check.problems[0].line.is_some(), "{check:?}");
}
