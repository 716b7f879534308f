//! Property test of the config parser: random mutations of valid configs (deleted, repeated and
//! swapped lines, swapped characters, truncation, stray YAML syntax, values replaced by huge or
//! non-finite numbers, deeply nested structures, aliases that expand exponentially) never make
//! [`super::parse`], or the plan of a config that parses, panic or take unbounded memory: every
//! input is a config or an error.

use std::path::Path;

use rand::Rng;
use rand::rngs::StdRng;

use crate::fuzz;

/// A valid config that uses most keys.
const RICH: &str = r#"server:
  framework: sim
  host: 127.0.0.1
  port: 31000
  env:
    CUDA_VISIBLE_DEVICES: "0,1,2,3"
    HF_TOKEN: secret
  extra_args: ["--log-level", "info"]
  parallel:
    tp: [2, 4]
  base_flags:
    model_path: references/sim/tiny-model
    mem_fraction_static: 0.88
    sim_startup_s: 0.5
    trust_remote_code: true
    cuda_graph_bs: [1, 2, 4]
  search_space:
    chunked_prefill_size: [1024, 2048]
    max_running_requests: [24, 48]
    attention_backend: [fa3, triton]
  relaunch_per_trial: false
  health_path: /health
  shutdown_grace_sec: 5
dataset:
  kind: random
  num_prompts: 20
  scenario_names: [chat, long]
  input_len: [128, 1024]
  output_len: [32, 64]
  random_range_ratio: 0.5
  seed: 3
benchmark:
  backend: auto
  tokenizer: references/sim/tiny-model
  max_concurrency: [null, 8]
  qps:
    lower: 1.0
    upper: 20.0
    tolerance: 0.5
    max_rounds: 3
  sla:
    max_p99_ttft_ms: 250
    max_p90_tpot_ms: 20
    min_success_rate: 0.99
  warmup_requests: 2
  request_timeout_sec: 30
  extra_request_body:
    temperature: 0.0
    stop: ["</s>"]
  early_pass: true
  burstiness: 0.5
  arrival: poisson
  output_dir: /tmp/autobench-fuzz-never-written
search:
  tier: 2
  max_candidates: 6
  resume: true
  max_duration_hours: 2
speculative:
  enabled: true
  draft_model_path: draft
  search_space:
    speculative_num_steps: [3, 5]
"#;

const BASES: [&str; 4] = [
    RICH,
    include_str!("../../../references/sim/quickstart.yaml"),
    include_str!("../../../references/sglang/qwen3-32b.yaml"),
    include_str!("../../../references/sglang/deepseek-v3.yaml"),
];

/// Values that have broken parsers: out-of-range and non-finite numbers, wrong types, YAML
/// features (tags, aliases, block scalars).
const NASTY: [&str; 40] = [
    "1e308",
    "-1e308",
    "1e309",
    "5e-324",
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "0",
    "-1",
    "-0.0",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "0x7fffffffffffffff",
    "0o777",
    "4294967296",
    "''",
    "null",
    "~",
    "true",
    "[]",
    "{}",
    "[null]",
    "[1e308, .nan, -.inf]",
    "[0]",
    "[-1, 0]",
    "{lower: 1e308, upper: .inf, tolerance: 5e-324, max_rounds: 18446744073709551615}",
    "{lower: .nan, upper: .nan, tolerance: 0}",
    "{lower: 10, upper: 1, tolerance: -1, max_rounds: 0}",
    "{values: [1e308, .nan, 0, -5]}",
    "*undefined_alias",
    "!!binary aGVsbG8=",
    "!custom {a: 1}",
    "|\n  block\n  scalar",
    "\"\\u0000\\uffff\"",
    "{max_p99_ttft_ms: .nan, max_ttft_ms: -1e308, min_success_rate: 1e308}",
    "[[[[[[[[[[]]]]]]]]]]",
    "2001-12-14t21:59:43.10-05:00",
];

/// Characters that mean something in YAML, and a few that mean trouble anywhere.
const STRAY: [&str; 22] = [
    ":", "-", "[", "]", "{", "}", "&a ", "*a", "!", "|", ">", "\t", "\"", "'", "%", "@", "`", "#",
    "\n", " ", "\u{0}", "\u{feff}",
];

fn nested(depth: usize, mapping: bool) -> String {
    if mapping {
        format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
    } else {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }
}

/// `levels` anchors, each a list of ten aliases of the one before: 10^levels nodes if expanded.
fn billion_laughs(levels: usize) -> String {
    let mut out = String::from("{l0: &l0 [x, x, x, x, x, x, x, x, x, x]");
    for level in 1..levels {
        let previous = format!("*l{}", level - 1);
        let list = [previous.as_str(); 10].join(", ");
        out.push_str(&format!(", l{level}: &l{level} [{list}]"));
    }
    out.push('}');
    out
}

fn char_index(text: &str, rng: &mut StdRng) -> usize {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    boundaries[rng.random_range(0..boundaries.len())]
}

/// A value position (after `key:` or `- `) in a random line, with that line's index.
fn value_at(lines: &[String], rng: &mut StdRng) -> Option<(usize, usize)> {
    let with_values: Vec<(usize, usize)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let after_key = l.find(": ").map(|at| at + 2);
            let after_dash = || {
                l.trim_start()
                    .starts_with("- ")
                    .then(|| l.find("- ").map(|at| at + 2))
                    .flatten()
            };
            after_key.or_else(after_dash).map(|at| (i, at))
        })
        .collect();
    (!with_values.is_empty()).then(|| with_values[rng.random_range(0..with_values.len())])
}

fn mutate_once(text: &str, rng: &mut StdRng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let pick = |rng: &mut StdRng, lines: &[String]| rng.random_range(0..lines.len());
    match rng.random_range(0..12) {
        0 => {
            let at = pick(rng, &lines);
            lines.remove(at);
        }
        1 => {
            let at = pick(rng, &lines);
            let copy = lines[at].clone();
            lines.insert(at, copy);
        }
        2 => {
            let (a, b) = (pick(rng, &lines), pick(rng, &lines));
            lines.swap(a, b);
        }
        3 => {
            let at = pick(rng, &lines);
            let chars: Vec<char> = lines[at].chars().collect();
            if chars.len() > 1 {
                let i = rng.random_range(0..chars.len() - 1);
                let mut swapped = chars;
                swapped.swap(i, i + 1);
                lines[at] = swapped.into_iter().collect();
            }
        }
        4..=6 => {
            if let Some((line, at)) = value_at(&lines, rng) {
                let value = match rng.random_range(0..40) {
                    0..4 => nested(rng.random_range(50..1000), rng.random_bool(0.5)),
                    4..8 => "x".repeat(rng.random_range(1000..100_000)),
                    // Rare: each one walks up to the expansion bound (100,000 values).
                    8 => billion_laughs(rng.random_range(3..10)),
                    _ => NASTY[rng.random_range(0..NASTY.len())].to_string(),
                };
                let head = lines[line][..at].to_string();
                lines[line] = format!("{head}{value}");
            }
        }
        7 => {
            let at = pick(rng, &lines);
            let indent = " ".repeat(rng.random_range(0..5));
            lines[at] = if rng.random_bool(0.5) {
                format!("{indent}{}", lines[at])
            } else {
                lines[at].trim_start().to_string()
            };
        }
        8 => {
            let at = pick(rng, &lines);
            let position = char_index(&lines[at], rng);
            let stray = STRAY[rng.random_range(0..STRAY.len())];
            lines[at].insert_str(position, stray);
        }
        9 => {
            let joined = lines.join("\n");
            let cut = char_index(&joined, rng);
            return joined[..cut].to_string();
        }
        10 => {
            // A known key moved somewhere it does not belong.
            let (from, to) = (pick(rng, &lines), pick(rng, &lines));
            if let Some((key, _)) = lines[from].split_once(':') {
                let key = key.trim().to_string();
                if let Some((_, rest)) = lines[to].split_once(':') {
                    let indent: String = lines[to].chars().take_while(|c| *c == ' ').collect();
                    lines[to] = format!("{indent}{key}:{rest}");
                }
            }
        }
        _ => {
            let at = pick(rng, &lines);
            // Deeper than the YAML parser's recursion limit (128). Not much deeper: its scanner
            // takes time quadratic in the depth (1.5 s at 20,000 levels in a debug build).
            let value = nested(rng.random_range(130..1200), rng.random_bool(0.5));
            lines.insert(at, format!("deep: {value}"));
        }
    }
    lines.join("\n")
}

fn mutate(case: usize) -> String {
    let mut rng = fuzz::rng(0xC0F1_6000 + case as u64);
    let mut text = BASES[case % BASES.len()].to_string();
    for _ in 0..rng.random_range(1..=3) {
        text = mutate_once(&text, &mut rng);
    }
    text
}

#[test]
fn the_bases_are_valid_configs() {
    for base in BASES {
        super::parse(Path::new("fuzz.yaml"), base).expect("a valid base config");
    }
}

#[test]
fn mutated_configs_are_configs_or_errors() {
    fuzz::run_cases("config", 2000, 64 << 20, mutate, |text| {
        if let Ok(cfg) = super::parse(Path::new("fuzz.yaml"), text) {
            let plan = crate::plan::render(&cfg);
            if plan.is_empty() {
                return Err("empty plan".into());
            }
        }
        Ok(())
    });
}
