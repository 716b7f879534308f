//! A command whose stdout is a pipe its reader has closed (`autobench plan ... | head -1`) ends
//! quietly with success, as ripgrep does, instead of panicking in `println!`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use super::common;

/// How often each case runs: a reader that goes away after the first line races the writer.
const TIMES: usize = 5;

/// Runs `command` with stdout a pipe whose reader goes away before anything is written, or after
/// the first line; returns the exit status and what was said on stderr.
fn with_closed_stdout(mut command: Command, after_first_line: bool) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn autobench");
    let stdout = child.stdout.take().expect("stdout");
    if after_first_line {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
    } else {
        drop(stdout);
    }
    let output = child.wait_with_output().expect("wait");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_quiet(name: &str, make: impl Fn() -> Command) {
    for after_first_line in [false, true] {
        for _ in 0..TIMES {
            let (code, stderr) = with_closed_stdout(make(), after_first_line);
            assert_eq!(code, Some(0), "{name}: {stderr}");
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
            assert!(!stderr.contains("Broken pipe"), "{name}: {stderr}");
        }
    }
}

#[test]
fn plan_and_convert_end_quietly_when_stdout_closes() {
    let config = common::root().join("references/sim/quickstart.yaml");
    assert_quiet("plan", || {
        let mut command = common::bin();
        command.current_dir(common::root());
        command.args(["plan", "--config"]).arg(&config);
        command
    });
    assert_quiet("plan --json", || {
        let mut command = common::bin();
        command.current_dir(common::root());
        command.args(["plan", "--json", "--config"]).arg(&config);
        command
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("rows.jsonl");
    assert_quiet("convert", || {
        let mut command = common::bin();
        command
            .args(["convert", "--kind", "random", "--num-prompts", "4"])
            .args(["--random-input-len", "16", "--random-output-len", "4"])
            .arg("--tokenizer")
            .arg(common::tiny_model())
            .arg("--output")
            .arg(&output);
        command
    });
}
