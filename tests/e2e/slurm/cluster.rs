//! What a cluster user needs of the Slurm executor (issue 31): `run` without Slurm's programs
//! stops before it prepares datasets (no Slurm needed); on the local Slurm, `plan` refuses
//! a missing partition, a time limit over the partition's and more GPUs than a node has, at
//! their keys; a setup line and a variable passed by name reach the server in its job, and the
//! secret's value is written nowhere; the shared-filesystem probe stops the run, naming the path,
//! when the job cannot see the run directory (a setup line mounts an empty tmpfs over it, in a
//! mount namespace of its own); and a candidate that spans two nodes runs on a second local
//! Slurm with two node entries (two slurmd on this host, `LOCAL_SLURM_NODES=2`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{config, no_job_left, require_slurm, submitted};
use crate::common;

/// A one-candidate Slurm config with `executor` lines after `kind: slurm`.
fn one_candidate(out: &Path, executor: &str, trial_s: u32) -> String {
    config(
        out,
        &format!("executor:\n  kind: slurm\n{executor}"),
        trial_s,
    )
    .replace(
        "    chunked_prefill_size: [512, 1024]\n",
        "    chunked_prefill_size: [512]\n",
    )
}

fn plan(config: &Path) -> Output {
    common::bin()
        .args(["plan", "--config"])
        .arg(config)
        .output()
        .expect("run autobench plan")
}

#[test]
#[ignore = "needs a Slurm: scripts/test starts one and runs it"]
fn plan_refuses_what_the_partition_cannot_run_at_the_key_that_asked() {
    require_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let cases = [
        (
            "  partition: mian\n",
            "executor.partition: this cluster has no partition `mian` (sinfo lists: main); did you mean `main`?",
        ),
        (
            "  time_limit_min: 2000\n",
            "executor.time_limit_min: 2000 min is more than partition `main` allows (1440 min)",
        ),
        (
            "  container_image: nvcr.io#nvidia/pytorch:24.05-py3\n",
            "executor.container_image: this cluster's `srun` has no --container-image option: the pyxis plugin is not installed here",
        ),
        (
            "  gpus_per_candidate: 64\n",
            "executor.gpus_per_candidate: a candidate needs 64 GPU(s) on each node, but partition `main` has no node with more than",
        ),
    ];
    for (executor, expected) in cases {
        let path = common::write_config(dir.path(), &one_candidate(&out, executor, 2));
        let output = plan(&path);
        let text = common::text(&output);
        assert_eq!(output.status.code(), Some(2), "{executor}: {text}");
        assert!(text.contains(expected), "{executor}: {text}");
        assert!(text.contains("config.yaml:"), "the file and line: {text}");
    }
    let path = common::write_config(dir.path(), &one_candidate(&out, "", 2));
    let output = plan(&path);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("partition `main`: 1 node(s) with at least 1 GPU(s), time limit 1440 min"),
        "{text}"
    );
    assert!(text.contains("a candidate's job asks for"), "{text}");
    assert!(
        text.contains("(the plan's estimate x1.5 + 10 min)"),
        "{text}"
    );
    assert!(submitted(&out).is_empty(), "plan submits nothing");
}

/// Needs no Slurm: without its programs on `PATH`, `run` stops before it prepares any dataset.
#[test]
fn run_without_slurms_programs_stops_before_preparing_datasets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let empty = dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).expect("empty dir");
    let path = common::write_config(dir.path(), &one_candidate(&out, "  partition: gpu\n", 2));
    let output = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&path)
        .env("PATH", &empty)
        .output()
        .expect("run");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "executor.kind: `kind: slurm` needs Slurm's `sbatch` on PATH, and it is not there"
        ),
        "{text}"
    );
    assert!(
        !out.join("prepared_dataset.jsonl").exists(),
        "no dataset was prepared"
    );
    assert!(submitted(&out).is_empty());
}

#[test]
#[ignore = "needs a Slurm: scripts/test starts one and runs it"]
fn a_setup_line_and_a_variable_passed_by_name_reach_the_server_and_the_secret_is_written_nowhere() {
    require_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let secret = "s3cr3t-value-for-the-test-7f1c";
    let executor = "  gpus_per_candidate: 1\n  setup:\n    - export AB_SETUP_MARK=from-setup\n  pass_env: [PATH, AB_TEST_API_KEY]\n";
    let yaml = one_candidate(&out, executor, 2).replace(
        "    sim_startup_s: 0.2\n",
        "    sim_startup_s: 0.2\n    sim_require_env: AB_SETUP_MARK,AB_TEST_API_KEY\n",
    );
    let path = common::write_config(dir.path(), &yaml);
    let output = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&path)
        .env("AB_TEST_API_KEY", secret)
        .output()
        .expect("run");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let records = common::records(&out.join("results.jsonl"));
    assert!(
        records
            .iter()
            .any(|r| r["stage"] == "base" && r["error"].is_null()),
        "the server started (it exits at once without both variables): {records:?}"
    );
    let script = std::fs::read_to_string(out.join("workers/cand-0/job.sh")).expect("job.sh");
    assert!(
        script.contains("export AB_SETUP_MARK=from-setup ||"),
        "{script}"
    );
    for file in files_under(&out) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "the secret's value is in {}",
            file.display()
        );
    }
    no_job_left(&out);
}

#[test]
#[ignore = "needs a Slurm: scripts/test starts one and runs it"]
fn the_probe_stops_the_run_naming_the_path_when_jobs_cannot_see_the_run_directory() {
    require_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    // In the job only: its own mount namespace with an empty tmpfs over the run directory, as a
    // node where the login node's folder is not mounted would see it.
    let hide = format!(
        "[ -n \"$AB_HIDDEN\" ] || AB_HIDDEN=1 exec unshare --mount --propagation private bash -c 'mount -t tmpfs none \"$1\" && exec bash \"$2\"' _ {} \"$0\"",
        out.display()
    );
    let executor = format!(
        "  gpus_per_candidate: 1\n  setup:\n    - '{}'\n",
        hide.replace('\'', "''")
    );
    let path = common::write_config(dir.path(), &one_candidate(&out, &executor, 2));
    let output = common::run(&path);
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    let marker = out.join(".autobench").join("slurm-probe");
    assert!(
        text.contains(&format!("could not read {}", marker.display())),
        "{text}"
    );
    assert!(
        text.contains("Set benchmark.output_dir to a folder on a shared filesystem"),
        "{text}"
    );
    assert_eq!(submitted(&out).len(), 1, "only the probe was submitted");
    assert!(
        !out.join("workers/cand-0/job.sh").exists(),
        "no candidate job"
    );
}

/// The `slurm.conf` of the two-node local Slurm (`LOCAL_SLURM_TWO_NODE_CONF`, set by
/// `scripts/test` when it starts one).
fn two_node_slurm() -> PathBuf {
    let conf = std::env::var_os("LOCAL_SLURM_TWO_NODE_CONF").map(PathBuf::from);
    let up = conf.as_ref().is_some_and(|conf| {
        Command::new("sinfo")
            .args(["-h", "-N", "-o", "%N"])
            .env("SLURM_CONF", conf)
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).lines().count() >= 2
            })
    });
    assert!(
        up,
        "no two-node Slurm: start one with `LOCAL_SLURM_NODES=2 LOCAL_SLURM_PORT=6830 LOCAL_SLURM_DIR=/var/lib/local-slurm-2n LOCAL_SLURM_CONF_DIR=/var/lib/local-slurm-2n/etc LOCAL_SLURM_PROCTRACK=pgid scripts/local-slurm.sh start` and set LOCAL_SLURM_TWO_NODE_CONF=/var/lib/local-slurm-2n/etc/slurm.conf"
    );
    conf.unwrap_or_default()
}

#[test]
#[ignore = "needs a two-node Slurm: scripts/test starts one and runs it"]
fn a_candidate_spans_two_nodes_and_every_node_is_torn_down() {
    let conf = two_node_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let yaml = one_candidate(&out, "  gpus_per_candidate: 2\n", 2).replace(
        "  shutdown_grace_sec: 2\n",
        "  shutdown_grace_sec: 2\n  nnodes: 2\n",
    );
    let path = common::write_config(dir.path(), &yaml);
    let output = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&path)
        .env("SLURM_CONF", &conf)
        .output()
        .expect("run");
    let text = common::text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let script = std::fs::read_to_string(out.join("workers/cand-0/job.sh")).expect("job.sh");
    assert!(
        script.contains("#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n#SBATCH --gres=gpu:1\n"),
        "{script}"
    );
    // The two-node Slurm names its nodes <host>n1 and <host>n2 (scripts/local-slurm.sh).
    let host = nix::unistd::gethostname().expect("hostname");
    let host = host.to_string_lossy();
    let logs = files_under(&out.join("workers/cand-0"));
    let follower = logs
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".node1.log"))
        .unwrap_or_else(|| panic!("a log of node rank 1: {logs:?}"));
    let follower = std::fs::read_to_string(follower).expect("node 1 log");
    assert!(
        follower.contains("node rank 1 of 2 joined the head")
            && follower.contains(&format!(" on {host}n2")),
        "rank 1 ran on the job's second node: {follower}"
    );
    let head = logs
        .iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "log") && p.to_string_lossy().contains("logs")
        })
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .find(|t| t.contains(&format!("all 2 nodes joined on {host}n1")));
    assert!(head.is_some(), "the head waited for rank 1: {logs:?}");
    let records = common::records(&out.join("results.jsonl"));
    assert!(
        records
            .iter()
            .any(|r| r["stage"] == "base" && r["error"].is_null()),
        "{records:?}"
    );
    let events = std::fs::read_to_string(out.join("events.jsonl")).expect("events");
    assert!(
        events.contains(&format!("RUNNING on {host}n[1-2]")),
        "{events}"
    );
    for worker in ["workers/cand-0", "workers/finish"] {
        common::assert_no_survivors(&out.join(worker));
    }
    let ids = submitted(&out);
    let queued = Command::new("squeue")
        .args(["-h", "-o", "%i", "-j", &ids.join(",")])
        .env("SLURM_CONF", &conf)
        .output()
        .expect("squeue");
    assert!(
        String::from_utf8_lossy(&queued.stdout).trim().is_empty(),
        "jobs left: {ids:?}"
    );
}

#[test]
#[ignore = "needs a two-node Slurm: scripts/test starts one and runs it"]
fn sigint_during_a_two_node_candidate_leaves_no_server_on_any_node() {
    let conf = two_node_slurm();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let yaml = one_candidate(&out, "  gpus_per_candidate: 2\n", 30).replace(
        "  shutdown_grace_sec: 2\n",
        "  shutdown_grace_sec: 2\n  nnodes: 2\n",
    );
    let path = common::write_config(dir.path(), &yaml);
    let mut child = common::bin()
        .args(["run", "--quiet", "--config"])
        .arg(&path)
        .env("SLURM_CONF", &conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Both nodes' servers are up once rank 1 has joined and the first trial runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let joined = || {
        files_under(&out.join("workers/cand-0"))
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".node1.log"))
            .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("joined the head")))
    };
    let trial_started = || {
        std::fs::read_to_string(out.join("workers/cand-0/events.jsonl"))
            .is_ok_and(|t| t.contains("\"event\":\"trial_started\""))
    };
    while !(joined() && trial_started()) {
        assert!(std::time::Instant::now() < deadline, "rank 1 never joined");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("sigint");
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    let markers = out.join("workers/cand-0/.autobench/servers.jsonl");
    let recorded = std::fs::read_to_string(&markers).unwrap_or_default();
    assert!(
        recorded.lines().count() >= 2,
        "both nodes' servers recorded: {recorded}"
    );
    common::assert_no_survivors(&out.join("workers/cand-0"));
    let ids = submitted(&out);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let queued = Command::new("squeue")
            .args(["-h", "-o", "%i", "-j", &ids.join(",")])
            .env("SLURM_CONF", &conf)
            .output()
            .expect("squeue");
        if String::from_utf8_lossy(&queued.stdout).trim().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "jobs left: {ids:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
