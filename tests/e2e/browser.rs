//! The dashboard in a real headless Chromium, driven over WebDriver (chromedriver; both installed
//! by `scripts/test` from Debian packages): the runs page picks up a simulator run started from the
//! CLI while it runs and the run page updates live, a plot point shows its flags on hover, the
//! export link serves `report.html`, the compare page shows runs side by side, and the config page
//! opens a config by its path and shows its error at the right line.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common;
use super::dashboard::serve;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    http: reqwest::Client,
    session: String,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group; Chromium and its helpers are in it.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(names: &[&str]) -> String {
    names
        .iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "{names:?} not found: scripts/test installs chromium and chromium-driver with apt-get"
            )
        })
        .to_string()
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new(find_program(&["chromedriver"]))
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary = find_program(&["chromium", "chromium-browser", "google-chrome"]);
        let binary = String::from_utf8_lossy(
            &Command::new("which")
                .arg(&binary)
                .output()
                .expect("which")
                .stdout,
        )
        .trim()
        .to_string();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": binary, "args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]}}}});
        let mut driver = Driver {
            child,
            http,
            session: String::new(),
            base,
        };
        let answer = driver.call("POST", "/session", caps).await;
        driver.session = answer["sessionId"].as_str().expect("session").to_string();
        driver
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if self.session.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Polls `script` until it returns something truthy; returns that value.
    async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.script(script).await;
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let page = self
                    .script("return document.documentElement.outerHTML")
                    .await;
                panic!("timed out waiting for {what} (last answer {value}); page: {page}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }
}

fn slow_run_config(out: &std::path::Path) -> String {
    common::fast_config(
        out,
        "    chunked_prefill_size: [512, 1024]",
        "  kind: random\n  num_prompts: 40\n  input_len: 64\n  output_len: 8",
        "[4, 8, 12]",
    )
}

#[tokio::test]
async fn dashboard_follows_a_live_run_plots_hover_exports_and_shows_config_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("results");
    std::fs::create_dir_all(&root).expect("mkdir");
    let server = serve(&root, "127.0.0.1");
    let driver = Driver::start().await;

    // The runs page is open before the run exists; the run appears without a reload.
    driver.open(&server.url).await;
    driver
        .wait_for(
            "the app to mount",
            "return document.querySelector('header .brand') !== null",
            Duration::from_secs(30),
        )
        .await;
    let config = common::write_config(dir.path(), &slow_run_config(&root.join("live")));
    let mut run = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    driver
        .wait_for("the run on the runs page", "return [...document.querySelectorAll('a.run-link')].some(a => a.textContent === 'live')", Duration::from_secs(30))
        .await;

    // The run page gains trial rows while the run goes on.
    driver.open(&format!("{}#/run/live", server.url)).await;
    let rows = "return document.querySelectorAll('table.trials tbody tr').length";
    let first = driver
        .wait_for("a first trial row", rows, Duration::from_secs(60))
        .await;
    // The best so far is on the page while the run goes on, and candidates are named by what
    // they change from the baseline.
    driver
        .wait_for("the best so far, live", "const h = document.querySelector('.answer h2'); return h !== null && document.querySelector('.answer .headline') !== null && h.textContent.startsWith('Best so far') && document.querySelector('.summary .status.running') !== null", Duration::from_secs(60))
        .await;
    driver
        .wait_for("candidates named by their change", "const n = [...document.querySelectorAll('.cand-name')].map(e => e.textContent); return n.some(t => t.endsWith('· default')) && n.some(t => t.includes('--chunked-prefill-size 512'))", Duration::from_secs(30))
        .await;
    // A sort order and an open log survive live updates.
    driver
        .script("document.querySelectorAll('table.trials th')[3].click(); document.querySelector('button.log').click(); return true")
        .await;
    driver
        .script("window.scrollTo(0, 300); return window.scrollY")
        .await;
    driver
        .wait_for(
            "the log text",
            "return document.querySelector('pre.log-text').textContent.length > 0",
            Duration::from_secs(20),
        )
        .await;
    // A page during a live run refetches once per change, not in a loop (the old watcher made
    // over a thousand requests in 10 s).
    let count = "return performance.getEntriesByType('resource').length";
    let live_before = driver.script(count).await.as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let live_after = driver.script(count).await.as_u64().unwrap_or(0);
    assert!(
        live_after - live_before < 60,
        "requests of a live run page in 5 s: {}",
        live_after - live_before
    );
    let rows_now = driver.script(rows).await;
    let more = format!(
        "return document.querySelectorAll('table.trials tbody tr').length > {}",
        rows_now
            .as_u64()
            .unwrap_or(0)
            .max(first.as_u64().unwrap_or(0))
    );
    driver
        .wait_for("a new trial row, live", &more, Duration::from_secs(60))
        .await;
    let kept = driver
        .script("return [document.querySelectorAll('table.trials th')[3].textContent, document.querySelector('pre.log-text').textContent.length, document.querySelectorAll('button.log.open').length, window.scrollY]")
        .await;
    assert_eq!(
        kept[3], 300,
        "the scroll position survives an update: {kept}"
    );
    assert!(
        kept[0].as_str().is_some_and(|t| t.contains('▲')),
        "the sort order survives an update: {kept}"
    );
    assert!(
        kept[1].as_u64().is_some_and(|n| n > 0) && kept[2] == 1,
        "the open log survives an update: {kept}"
    );
    let status = run.wait().expect("run exits");
    assert_eq!(status.code(), Some(0));
    driver
        .wait_for(
            "the finished status",
            "return document.querySelector('.summary .status.finished') !== null",
            Duration::from_secs(20),
        )
        .await;

    // An idle page makes no request but its event stream (which opened with the page).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = driver.script(count).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = driver.script(count).await;
    assert_eq!(before, after, "requests of an idle run page in 10 s");
    let answer = driver
        .script("return document.querySelector('.answer h2').textContent")
        .await;
    assert!(
        answer.as_str().is_some_and(|t| t.starts_with("Answer")),
        "{answer}"
    );
    // A tie the confirmation called is marked on the answer card, and only then.
    let tied = common::events(&root.join("live"))
        .iter()
        .filter(|e| e["event"] == "run_finished")
        .any(|e| {
            e["answers"][0]["confirmation"]["tied_with"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
                && e["answers"][0]["confirmation"]["contenders"][0]["passed"] == true
        });
    let headline = driver
        .script("const t = document.querySelector('.answer .headline'); return t ? t.textContent : null")
        .await;
    let headline = headline.as_str().unwrap_or_default().to_string();
    if tied {
        assert!(
            headline.contains("tied with") && !headline.contains("cand "),
            "the tie is named by flags: {headline}"
        );
    } else {
        assert!(
            !headline.contains("tied with"),
            "no tie, none said: {headline}"
        );
    }
    // The same sentence as `summary.md`'s answer, with the statistics collapsed under it.
    let summary = std::fs::read_to_string(root.join("live").join("summary.md")).expect("summary");
    assert!(
        summary.contains(&format!("## Answer\n\n{headline}\n")),
        "the page and summary.md say the same: {headline}"
    );
    let collapsed = driver
        .script("const d = document.querySelector('.answer details.how-sure'); return d !== null && !d.open")
        .await;
    assert_eq!(collapsed, json!(true), "How sure is collapsed");

    // Hovering a plot point shows its flags and numbers.
    // Plots refetch on change events, so the point is looked up afresh on each try.
    let mut hovered = String::new();
    for _ in 0..10 {
        let at = driver
            .wait_for("a plot point", "const c = document.querySelector('.plot circle.hover'); if (!c) return null; c.scrollIntoView({block: 'center'}); const r = c.getBoundingClientRect(); return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)]", Duration::from_secs(20))
            .await;
        driver
            .call("POST", "/actions", json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "duration": 0, "origin": "viewport", "x": at[0], "y": at[1]}]}]}))
            .await;
        let text = driver
            .script("const el = document.querySelector('.plot circle.hover:hover'); return el ? el.querySelector('title').textContent : ''")
            .await;
        hovered = text.as_str().unwrap_or_default().to_string();
        if !hovered.is_empty() {
            break;
        }
    }
    assert!(
        hovered.contains("flags: {") && hovered.contains("req/s"),
        "hover text: {hovered}"
    );

    // The export link serves the report.
    let href = driver
        .script("return document.querySelector('a.export').href")
        .await;
    let report = reqwest::get(href.as_str().expect("href"))
        .await
        .expect("export");
    super::dashboard::assert_report_download(report).await;

    // An interrupted run says so in a banner.
    let config = common::write_config(dir.path(), &slow_run_config(&root.join("stopped")));
    let mut stopped = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    let results = root.join("stopped").join("live_results.jsonl");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&results).is_ok_and(|t| t.lines().count() > 0) {
        assert!(std::time::Instant::now() < deadline, "no first trial");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(stopped.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    assert_eq!(stopped.wait().expect("exit").code(), Some(130));
    driver.open(&format!("{}#/run/stopped", server.url)).await;
    let banner = driver
        .wait_for("the INTERRUPTED banner", "const b = document.querySelector('.banner.interrupted'); return b ? b.textContent : ''", Duration::from_secs(20))
        .await;
    assert!(
        banner
            .as_str()
            .is_some_and(|t| t.starts_with("INTERRUPTED")),
        "{banner}"
    );

    // A candidate that cannot start says why, on the page.
    let oom = common::fast_config(
        &root.join("oom"),
        "    cuda_graph_max_bs: [512]",
        "  kind: random\n  num_prompts: 8\n  input_len: 64\n  output_len: 8",
        "[4]",
    )
    .replace(
        "    sim_startup_s: 0.2\n",
        "    sim_startup_s: 0.2\n    mem_fraction_static: 0.88\n",
    );
    let output = common::run(&common::write_config(dir.path(), &oom));
    assert!(output.status.code().is_some(), "{}", common::text(&output));
    driver.open(&format!("{}#/run/oom", server.url)).await;
    let failed = driver
        .wait_for(
            "the failed candidate with its cause",
            "const c = document.querySelector('.cand.state-failed'); return c ? c.textContent : ''",
            Duration::from_secs(20),
        )
        .await;
    assert!(
        failed
            .as_str()
            .is_some_and(|t| t.contains("--cuda-graph-max-bs 512") && t.contains("out of memory")),
        "{failed}"
    );

    // The compare page puts runs side by side.
    driver
        .open(&format!("{}#/compare/live,live", server.url))
        .await;
    driver
        .wait_for("the compare table", "const t = document.querySelector('table.compare tbody td b'); return t ? t.textContent : ''", Duration::from_secs(20))
        .await;
    driver
        .wait_for(
            "compare plots",
            "return document.querySelectorAll('figure .plot svg').length",
            Duration::from_secs(20),
        )
        .await;

    // The finished run's page at 1,400 px: the answer's trial is ringed on its plots, every
    // candidate has one colour on every plot and beside its name, and the trials table fits.
    driver.open(&format!("{}#/run/live", server.url)).await;
    driver
        .wait_for(
            "both plots",
            "return document.querySelectorAll('.plots .plot svg').length === 2",
            Duration::from_secs(30),
        )
        .await;
    let rings = driver
        .wait_for("the answer's ring on each plot", "const n = [...document.querySelectorAll('.plots .plot')].filter(p => p.querySelector('circle.answer-marker')).length; return n === 2 ? n : 0", Duration::from_secs(20))
        .await;
    assert_eq!(rings, 2, "the answer is marked on both plots");
    assert_one_colour_per_candidate(&driver, "the run page").await;
    assert_fits_the_window(&driver, "the finished run").await;
    assert_what_if_matches_the_cli(&driver, &root.join("live")).await;
    driver.open(&format!("{}#/run/oom", server.url)).await;
    driver
        .wait_for(
            "the OOM trial row",
            "return document.querySelectorAll('table.trials tbody tr').length",
            Duration::from_secs(20),
        )
        .await;
    assert_fits_the_window(&driver, "a run with an OOM message").await;
    driver
        .open(&format!("{}#/compare/live,live", server.url))
        .await;
    driver
        .wait_for(
            "compare plots with legends",
            "return document.querySelectorAll('figure .plot svg .legend-swatch').length >= 2",
            Duration::from_secs(20),
        )
        .await;
    assert_one_colour_per_candidate(&driver, "the compare page").await;

    // During the confirmation the card says what is being checked and what failed, never the
    // unchecked rate as the answer.
    let live = root.join("live");
    let checking = confirming_copy(&live, &root.join("confirming"));
    driver
        .open(&format!("{}#/run/confirming", server.url))
        .await;
    let card = driver
        .wait_for("the card during the confirmation", "const a = document.querySelector('.answer'); return a && a.querySelector('h2').textContent.startsWith('Checking') ? a.textContent : ''", Duration::from_secs(20))
        .await;
    let card = card.as_str().unwrap_or_default();
    assert!(
        card.contains(&format!("{:.2} req/s failed", checking.failed))
            && card.contains(&format!("now trying {:.2} req/s", checking.trying)),
        "the card names the failed check and the rate tried now: {card}"
    );
    assert!(
        !card.contains("holds your SLA") && !card.contains("Best so far"),
        "no unchecked rate given as the answer: {card}"
    );
    let command = driver
        .script("return document.querySelectorAll('.answer .command-box').length")
        .await;
    assert_eq!(
        command, 0,
        "no command is offered as the answer while it is checked"
    );

    // A run interrupted before its check: the card says its answer is unconfirmed and why.
    interrupted_copy(&live, &root.join("cut"));
    driver.open(&format!("{}#/run/cut", server.url)).await;
    let label = driver
        .wait_for("the unconfirmed label", "const l = document.querySelector('.answer .unconfirmed-label'); return l ? document.querySelector('.answer h2').textContent + '|' + l.textContent : ''", Duration::from_secs(20))
        .await;
    let label = label.as_str().unwrap_or_default();
    assert!(
        label.starts_with("Unconfirmed answer")
            && label.contains("Unconfirmed: the run stopped before its check"),
        "{label}"
    );

    // A config opened by its path shows its error at the right line.
    let yaml =
        "server:\n  base_flags:\n    model_path: m\n  serch_space: {}\nbenchmark:\n  qps: [1]\n";
    let typo = root.join("typo.yaml");
    std::fs::write(&typo, yaml).expect("write");
    driver.open(&format!("{}#/config", server.url)).await;
    let path_box = driver.element("input.config-path").await;
    driver
        .call(
            "POST",
            &format!("/element/{path_box}/value"),
            json!({ "text": typo.to_string_lossy() }),
        )
        .await;
    let open = driver.element("button.open-path").await;
    driver
        .call("POST", &format!("/element/{open}/click"), json!({}))
        .await;
    driver
        .wait_for(
            "the config text",
            "return document.querySelector('textarea.config-text').value.includes('serch_space')",
            Duration::from_secs(20),
        )
        .await;
    let button = driver.element("button.validate").await;
    driver
        .call("POST", &format!("/element/{button}/click"), json!({}))
        .await;
    let problem = driver
        .wait_for("the config problem", "const p = document.querySelector('li.problem'); return p ? p.dataset.line + '|' + p.textContent : ''", Duration::from_secs(20))
        .await;
    let problem = problem.as_str().unwrap_or_default();
    assert!(problem.starts_with("4|line 4, column 3:"), "{problem}");
    assert!(
        problem.contains("did you mean `search_space`?"),
        "{problem}"
    );
}

/// Asserts that every candidate has one colour on all plots of the page (legend swatches), that
/// two candidates never share one, and that the swatch beside a candidate's name (where the page
/// has one) is that colour too.
/// The what-if on the finished run's page: a looser first limit, typed into its box, re-judges
/// the recorded trials at once, marked as such, with the same sentence as `autobench report
/// RUN_DIR --sla KEY=VALUE`.
async fn assert_what_if_matches_the_cli(driver: &Driver, run_dir: &std::path::Path) {
    let key = driver
        .wait_for(
            "the what-if's first limit",
            "const i = document.querySelector('.whatif input'); return i ? i.dataset.key : ''",
            Duration::from_secs(20),
        )
        .await;
    let key = key.as_str().unwrap_or_default().to_string();
    driver
        .script("const i = document.querySelector('.whatif input'); i.value = '100000'; i.dispatchEvent(new Event('input', {bubbles: true})); return 1")
        .await;
    let line = driver
        .wait_for(
            "the re-judged answer",
            "const l = document.querySelector('.whatif-line'); return l ? l.textContent : ''",
            Duration::from_secs(20),
        )
        .await;
    let line = line.as_str().unwrap_or_default();
    assert!(
        line.contains("from recorded trials: not searched or confirmed at these limits"),
        "{line}"
    );
    let cli = common::bin()
        .args(["report"])
        .arg(run_dir)
        .args(["--sla", &format!("{key}=100000")])
        .output()
        .expect("report --sla");
    let cli = common::text(&cli);
    let sentence = cli
        .lines()
        .find(|l| l.trim_start().starts_with("At "))
        .map(str::trim)
        .unwrap_or_default();
    assert!(
        !sentence.is_empty() && line.ends_with(sentence),
        "page: {line}\ncli: {cli}"
    );
}

async fn assert_one_colour_per_candidate(driver: &Driver, page: &str) {
    let found = driver
        .script("const seen = {}; for (const l of document.querySelectorAll('.plot svg .legend-swatch')) { const c = l.dataset.candidate; (seen[c] = seen[c] || []).push(l.getAttribute('stroke').toLowerCase()); } const chips = {}; for (const s of document.querySelectorAll('.candidates .swatch')) { const m = getComputedStyle(s).backgroundColor.match(/\\d+/g).map(Number); chips[s.dataset.candidate] = '#' + m.slice(0, 3).map(v => v.toString(16).padStart(2, '0')).join(''); } return {seen, chips}")
        .await;
    let seen = found["seen"].as_object().expect("swatches");
    assert!(
        seen.len() >= 2,
        "{page}: at least two candidates plotted: {found}"
    );
    let mut colours = Vec::new();
    for (candidate, strokes) in seen {
        let strokes: Vec<&str> = strokes
            .as_array()
            .expect("strokes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            strokes.windows(2).all(|w| w[0] == w[1]),
            "{page}: candidate {candidate} has one colour on every plot: {strokes:?}"
        );
        if let Some(chip) = found["chips"][candidate].as_str() {
            assert_eq!(
                chip, strokes[0],
                "{page}: candidate {candidate}'s swatch is its plot colour"
            );
        }
        colours.push(strokes[0].to_string());
    }
    let all = colours.len();
    colours.sort();
    colours.dedup();
    assert_eq!(
        colours.len(),
        all,
        "{page}: two candidates share a colour: {found}"
    );
}

/// Asserts that the trials table is no wider than the window and the page does not scroll
/// sideways.
async fn assert_fits_the_window(driver: &Driver, page: &str) {
    let sizes = driver
        .script("const t = document.querySelector('table.trials'); return [t.getBoundingClientRect().right, document.documentElement.clientWidth, document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    let number = |i: usize| sizes[i].as_f64().unwrap_or(f64::MAX);
    assert!(
        number(3) >= 1300.0 && number(3) <= 1400.0,
        "{page}: the window is 1,400 px wide: {sizes}"
    );
    assert!(
        number(0) <= number(1) && number(2) <= number(1),
        "{page}: the trials table fits the window (right edge, viewport, page width): {sizes}"
    );
}

/// What the confirming copy checks: the rate that failed, and the rate tried now.
struct Checking {
    failed: f64,
    trying: f64,
}

/// The run's events up to its first confirmation stage (inclusive), and its search records.
fn search_part(live: &std::path::Path) -> (Vec<Value>, Vec<Value>) {
    let mut events = Vec::new();
    for event in common::events(live) {
        let confirm = event["event"] == "stage_started" && event["stage"] == "confirm";
        events.push(event);
        if confirm {
            break;
        }
    }
    assert!(
        events.last().is_some_and(|e| e["stage"] == "confirm"),
        "the run has a confirmation stage"
    );
    let records = common::records(&live.join("results.jsonl"))
        .into_iter()
        .filter(|r| r["stage"] != "confirm")
        .collect();
    (events, records)
}

/// Writes a run folder: `run_meta.json` (without its process, so the run counts as its files'
/// freshness says), `events.jsonl` and the records.
fn write_run(live: &std::path::Path, to: &std::path::Path, events: &[Value], records: &[Value]) {
    std::fs::create_dir_all(to).expect("mkdir");
    let mut meta: Value =
        serde_json::from_str(&std::fs::read_to_string(live.join("run_meta.json")).expect("meta"))
            .expect("meta json");
    meta.as_object_mut().map(|m| m.remove("process"));
    std::fs::write(to.join("run_meta.json"), meta.to_string()).expect("meta");
    let lines = |values: &[Value]| values.iter().map(|v| format!("{v}\n")).collect::<String>();
    std::fs::write(to.join("events.jsonl"), lines(events)).expect("events");
    std::fs::write(to.join("results.jsonl"), lines(records)).expect("results");
    std::fs::write(to.join("live_results.jsonl"), lines(records)).expect("live results");
}

/// A copy of the finished run `live` stopped in its confirmation: the search's best failed its
/// longer trial and a lower rate is being tried.
fn confirming_copy(live: &std::path::Path, to: &std::path::Path) -> Checking {
    let (mut events, mut records) = search_part(live);
    let best = records
        .iter()
        .filter(|r| r["sla_passed"] == true)
        .max_by(|a, b| {
            a["requested_qps"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b["requested_qps"].as_f64().unwrap_or(0.0))
        })
        .cloned()
        .expect("a passing search trial");
    let failed = best["requested_qps"].as_f64().expect("rate");
    let trying = (failed * 0.9 * 100.0).round() / 100.0;
    let mut check = best.clone();
    check["stage"] = json!("confirm");
    check["sla_passed"] = json!(false);
    check["sla_failures"] = json!(["p99 TTFT 900 ms > 400 ms"]);
    check["trial_key"] = json!("confirm-check");
    records.push(check.clone());
    let seq = events.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let candidate = best["candidate_id"].clone();
    events.push(json!({"seq": seq + 1, "at": at, "event": "trial_finished", "record": check}));
    events.push(json!({"seq": seq + 2, "at": at, "event": "trial_started", "stage": "confirm",
        "candidate": candidate, "scenario": best["scenario"], "qps": trying, "max_concurrency": null}));
    write_run(live, to, &events, &records);
    Checking { failed, trying }
}

/// A copy of the finished run `live` interrupted before its confirmation.
fn interrupted_copy(live: &std::path::Path, to: &std::path::Path) {
    let (mut events, records) = search_part(live);
    let seq = events.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    events.push(json!({"seq": seq + 1, "at": at, "event": "interrupted"}));
    events.push(
        json!({"seq": seq + 2, "at": at, "event": "run_finished", "status": "interrupted",
        "partial": "interrupted by a signal", "answers": []}),
    );
    write_run(live, to, &events, &records);
}
