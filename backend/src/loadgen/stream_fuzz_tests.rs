//! Property test of the response parsers ([`super::stream`]): streams of the three request paths
//! with lines dropped, repeated, cut, garbled or carrying huge counts, at odd times, and whole
//! bodies mutated the same way, never panic or take unbounded memory: each is an outcome or a
//! request error, and an outcome's inter-token gaps stay within what the server could have sent.

use rand::Rng;
use rand::rngs::StdRng;

use super::stream::{MAX_REPORTED_OUTPUT_TOKENS, StreamFormat, StreamParser, parse_whole};
use crate::fuzz;

const NATIVE: [&str; 4] = [
    r#"data: {"text":"a","meta_info":{"completion_tokens":1,"prompt_tokens":5}}"#,
    r#"data: {"text":"abc","meta_info":{"completion_tokens":3}}"#,
    r#"data: {"text":"abcd","meta_info":{"completion_tokens":4,"finish_reason":{"type":"length"}}}"#,
    "data: [DONE]",
];

const COMPLETIONS: [&str; 5] = [
    r#"data: {"choices":[{"text":"x","finish_reason":null}]}"#,
    r#"data: {"choices":[{"text":"yz","finish_reason":null}]}"#,
    r#"data: {"choices":[{"text":"w","finish_reason":"length"}]}"#,
    r#"data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":4}}"#,
    "data: [DONE]",
];

const CHAT: [&str; 6] = [
    r#"data: {"choices":[{"delta":{"role":"assistant"}}]}"#,
    r#"data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#,
    r#"data: {"choices":[{"delta":{"content":"ok"}}]}"#,
    r#"data: {"choices":[{"delta":{"content":"!"},"finish_reason":"stop"}]}"#,
    r#"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":3}}"#,
    "data: [DONE]",
];

const WHOLE: [&str; 4] = [
    r#"{"text":"abc","meta_info":{"completion_tokens":3,"prompt_tokens":5}}"#,
    r#"{"choices":[{"text":"x"}],"usage":{"completion_tokens":3,"prompt_tokens":4}}"#,
    r#"{"choices":[{"message":{"content":"x"}}],"usage":{"completion_tokens":1,"prompt_tokens":2}}"#,
    r#"{"error":{"message":"boom"}}"#,
];

const ODD_LINES: [&str; 14] = [
    "",
    ": keep-alive",
    "event: ping",
    "data:",
    "data: null",
    "data: []",
    "data: 1e308",
    r#"data: {"choices": null}"#,
    r#"data: {"choices":[{"delta":{"content":1}}]}"#,
    r#"data: {"object":"error","message":"x"}"#,
    r#"data: {"meta_info":{"completion_tokens":-1}}"#,
    r#"data: {"usage":{"completion_tokens":1e400}}"#,
    "data: \u{0}\u{feff}",
    "data: [DONE] trailing",
];

const HUGE: [&str; 7] = [
    "18446744073709551615",
    "18446744073709551616",
    "1099511627776",
    "4294967296",
    "1e308",
    "-5",
    "0",
];

/// Replaces one run of digits in `line` with a huge (or odd) number.
fn huge_number(line: &str, rng: &mut StdRng) -> String {
    let runs: Vec<(usize, usize)> = {
        let bytes = line.as_bytes();
        let mut runs = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                runs.push((start, i));
            } else {
                i += 1;
            }
        }
        runs
    };
    if runs.is_empty() {
        return line.to_string();
    }
    let (start, end) = runs[rng.random_range(0..runs.len())];
    format!(
        "{}{}{}",
        &line[..start],
        HUGE[rng.random_range(0..HUGE.len())],
        &line[end..]
    )
}

fn garble(line: &str, rng: &mut StdRng) -> String {
    let mut chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return line.to_string();
    }
    let at = rng.random_range(0..chars.len());
    match rng.random_range(0..4) {
        0 => chars.truncate(at),
        1 => {
            chars.remove(at);
        }
        2 if at + 1 < chars.len() => chars.swap(at, at + 1),
        _ => {
            let stray = ['{', '}', '"', ',', ':', '\\', '\u{0}', 'é'];
            chars.insert(at, stray[rng.random_range(0..stray.len())]);
        }
    }
    chars.into_iter().collect()
}

fn mutate_lines(base: &[&str], rng: &mut StdRng) -> Vec<String> {
    let mut lines: Vec<String> = base.iter().map(|l| (*l).to_string()).collect();
    for _ in 0..rng.random_range(0..5) {
        let at = rng.random_range(0..lines.len().max(1));
        match rng.random_range(0..7) {
            0 if !lines.is_empty() => {
                lines.remove(at);
            }
            1 if !lines.is_empty() => {
                let copy = lines[at].clone();
                let times = rng.random_range(1..50);
                for _ in 0..times {
                    lines.insert(at, copy.clone());
                }
            }
            2 if !lines.is_empty() => lines[at] = garble(&lines[at], rng),
            3 | 4 if !lines.is_empty() => lines[at] = huge_number(&lines[at], rng),
            5 => lines.insert(
                at.min(lines.len()),
                ODD_LINES[rng.random_range(0..ODD_LINES.len())].to_string(),
            ),
            _ if lines.len() > 1 => {
                let (one, other) = (at.min(lines.len() - 1), rng.random_range(0..lines.len()));
                lines.swap(one, other);
            }
            _ => {}
        }
    }
    lines
}

fn time(rng: &mut StdRng, previous: f64) -> f64 {
    match rng.random_range(0..20) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => -1.0,
        3 => 1e300,
        4 => previous,
        _ => previous + rng.random_range(0.0..0.05),
    }
}

/// One streamed case: the format and its `(line, time)` pairs.
#[derive(Debug)]
struct Stream {
    format: StreamFormat,
    lines: Vec<(String, f64)>,
}

fn stream_case(case: usize) -> Stream {
    let mut rng = fuzz::rng(0x5EE0_0000 + case as u64);
    let (format, base): (StreamFormat, &[&str]) = match case % 3 {
        0 => (StreamFormat::Native, &NATIVE),
        1 => (StreamFormat::Completions, &COMPLETIONS),
        _ => (StreamFormat::Chat, &CHAT),
    };
    let mut at: f64 = 0.0;
    let lines = mutate_lines(base, &mut rng)
        .into_iter()
        .map(|line| {
            at = time(&mut rng, if at.is_finite() { at } else { 0.0 });
            (line, at)
        })
        .collect();
    Stream { format, lines }
}

fn check_stream(stream: &Stream) -> Result<(), String> {
    let mut parser = StreamParser::new(stream.format).keep_text();
    for (line, at) in &stream.lines {
        if parser.feed_line(line, *at).is_err() {
            return Ok(());
        }
    }
    let Ok(outcome) = parser.finish() else {
        return Ok(());
    };
    let limit = usize::try_from(MAX_REPORTED_OUTPUT_TOKENS).unwrap_or(usize::MAX);
    if outcome.itl.len() > limit {
        return Err(format!("{} inter-token gaps", outcome.itl.len()));
    }
    if outcome
        .reported_output_tokens
        .is_some_and(|t| t > MAX_REPORTED_OUTPUT_TOKENS)
    {
        return Err(format!(
            "took a count of {:?} output tokens",
            outcome.reported_output_tokens
        ));
    }
    Ok(())
}

#[test]
fn mutated_streams_are_outcomes_or_errors() {
    fuzz::run_cases("stream", 4000, 32 << 20, stream_case, check_stream);
}

#[test]
fn mutated_whole_bodies_are_outcomes_or_errors() {
    let make = |case: usize| {
        let mut rng = fuzz::rng(0xB0D1_0000 + case as u64);
        let base = WHOLE[case % WHOLE.len()];
        let mut body = base.to_string();
        for _ in 0..rng.random_range(1..3) {
            body = if rng.random_bool(0.5) {
                huge_number(&body, &mut rng)
            } else {
                garble(&body, &mut rng)
            };
        }
        (body, case % 3)
    };
    fuzz::run_cases("whole body", 3000, 8 << 20, make, |(body, format)| {
        let format = [
            StreamFormat::Native,
            StreamFormat::Completions,
            StreamFormat::Chat,
        ][*format];
        if let Ok((Some(tokens), _, _)) = parse_whole(format, body.as_bytes())
            && tokens > MAX_REPORTED_OUTPUT_TOKENS
        {
            return Err(format!("took a count of {tokens} output tokens"));
        }
        Ok(())
    });
}
