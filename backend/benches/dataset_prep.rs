//! Dataset preparation benchmark (`cargo bench -p backend --bench dataset_prep`).
//!
//! Generates a ShareGPT-shaped file of about 650 MB with 90,000 conversations (once, under
//! `target/bench-data/`), then times `autobench convert --kind sharegpt` for 1,000 prompts and for
//! every conversation, and prints wall time and peak memory (max RSS of the child process).
//! Targets on a 2-core machine: 1,000 prompts < 3 s, all conversations < 30 s, peak < 1 GB.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CONVERSATIONS: usize = 90_000;
const TARGET_BYTES: usize = 650 * 1024 * 1024;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data_dir = root.join("target/bench-data");
    std::fs::create_dir_all(&data_dir).expect("bench data dir");
    let file = data_dir.join("sharegpt_synthetic.json");
    if std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) < (TARGET_BYTES as u64) / 2 {
        let started = Instant::now();
        generate(&file);
        println!(
            "generated {} ({:.0} MB) in {:.1} s",
            file.display(),
            size_mb(&file),
            started.elapsed().as_secs_f64()
        );
    }
    let tokenizer = root.join("references/sim/tiny-model");
    let out = data_dir.join("prepared.jsonl");
    println!(
        "{:<44} {:>10} {:>14} {:>8}",
        "case", "wall s", "peak RSS MB", "rows"
    );
    for (name, prompts) in [
        ("convert sharegpt --num-prompts 1000", "1000"),
        ("convert sharegpt, every conversation", "0"),
    ] {
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_autobench"))
            .args([
                "convert",
                "--kind",
                "sharegpt",
                "--num-prompts",
                prompts,
                "--path",
            ])
            .arg(&file)
            .arg("--tokenizer")
            .arg(&tokenizer)
            .arg("--output")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run autobench convert");
        let wall = started.elapsed().as_secs_f64();
        assert!(status.success(), "convert failed");
        let rows = std::fs::read_to_string(&out)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        println!("{name:<44} {wall:>10.2} {:>14.0} {rows:>8}", peak_rss_mb());
    }
}

fn size_mb(path: &PathBuf) -> f64 {
    std::fs::metadata(path)
        .map(|m| m.len() as f64 / 1_048_576.0)
        .unwrap_or(0.0)
}

/// Largest resident set of any finished child so far (cases run smallest first).
fn peak_rss_mb() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_or(0.0, |u| u.max_rss() as f64 / 1024.0)
}

const WORDS: [&str; 24] = [
    "the", "model", "server", "latency", "request", "token", "batch", "memory", "python", "rust",
    "explain", "how", "does", "work", "please", "write", "code", "example", "function", "data",
    "and", "with", "for", "this",
];

fn sentence(rng: &mut StdRng, words: usize) -> String {
    let mut text = String::with_capacity(words * 7);
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    text
}

/// ShareGPT's shape: conversations of 2 to 12 turns (about 7 on average), short human turns
/// (about 160 words) and longer answers (about 225 words), about 7 KB of JSON each.
fn generate(path: &PathBuf) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut out =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    out.write_all(b"[").expect("write");
    for i in 0..CONVERSATIONS {
        let turns = rng.random_range(2..=12usize);
        let mut conversation = Vec::with_capacity(turns);
        for t in 0..turns {
            let (from, words) = if t % 2 == 0 {
                ("human", rng.random_range(20..300))
            } else {
                ("gpt", rng.random_range(50..400))
            };
            conversation
                .push(serde_json::json!({"from": from, "value": sentence(&mut rng, words)}));
        }
        let item = serde_json::json!({"id": format!("conv{i}"), "conversations": conversation});
        if i > 0 {
            out.write_all(b",\n").expect("write");
        }
        serde_json::to_writer(&mut out, &item).expect("write");
    }
    out.write_all(b"]").expect("write");
    out.flush().expect("flush");
}
