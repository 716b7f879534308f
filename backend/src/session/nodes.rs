//! How a server starts inside a Slurm job: on one node as it is, or through `srun` when it runs
//! in a container (pyxis `--container-image`) or spans `server.nnodes` nodes. A multi-node
//! server gets the framework's own multi-node flags on every node: SGLang's (and the
//! simulator's) `--nnodes`, `--node-rank`, `--dist-init-addr HEAD:PORT`; vLLM's data-parallel
//! launch (`--data-parallel-address`, `--data-parallel-rpc-port`, `--data-parallel-size-local`,
//! and on the other nodes `--headless --data-parallel-start-rank`). Node rank 0 runs on the node
//! of the job's batch script (where the worker runs and drives load over loopback); rank `r`
//! runs as an `srun --relative=r` step, so Slurm places it on the job's `r`-th node.

use serde_json::Value;

use shared::flags::FlagMap;
use shared::kinds::Framework;

use crate::config::{RunConfig, SlurmPlan};

/// One node's part of a server: its rank, its flags and the `srun` words before its command.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct NodeLaunch {
    /// Node rank (0: the head).
    pub rank: usize,
    /// The candidate's flags with this node's multi-node flags.
    pub flags: FlagMap,
    /// `srun ...` before the server command (empty: started here as it is).
    pub prefix: Vec<String>,
}

/// The launches of a candidate's server in a Slurm job (`plan`), head first; `dist_host` is the
/// head's address as the other nodes reach it and `dist_port` a free port there.
pub(super) fn launches(
    cfg: &RunConfig,
    plan: &SlurmPlan,
    flags: &FlagMap,
    dist_host: &str,
    dist_port: u16,
) -> Result<Vec<NodeLaunch>, String> {
    (0..plan.nnodes.max(1))
        .map(|rank| {
            let flags = if plan.nnodes > 1 {
                rank_flags(
                    cfg.server.framework,
                    flags,
                    plan.nnodes,
                    rank,
                    dist_host,
                    dist_port,
                )?
            } else {
                flags.clone()
            };
            let prefix = if rank > 0 || plan.container.is_some() {
                srun_prefix(plan, rank)
            } else {
                Vec::new()
            };
            Ok(NodeLaunch {
                rank,
                flags,
                prefix,
            })
        })
        .collect()
}

/// `srun` for node `rank` of the job: one task there, sharing the job's resources with the
/// batch step, in the container when there is one (its variables passed by name).
pub(super) fn srun_prefix(plan: &SlurmPlan, rank: usize) -> Vec<String> {
    let mut out = vec![
        "srun".to_string(),
        "--nodes=1".into(),
        "--ntasks=1".into(),
        format!("--relative={rank}"),
        "--overlap".into(),
        "--kill-on-bad-exit=1".into(),
    ];
    if let Some(container) = &plan.container {
        out.push(format!("--container-image={}", container.image));
        if !container.mounts.is_empty() {
            out.push(format!("--container-mounts={}", container.mounts.join(",")));
        }
        if let Some(names) = plan.pass_env.as_ref().filter(|n| !n.is_empty()) {
            out.push(format!("--container-env={}", names.join(",")));
        }
    }
    out
}

/// The flags of node `rank` of an `nnodes`-node server.
pub(super) fn rank_flags(
    framework: Framework,
    flags: &FlagMap,
    nnodes: usize,
    rank: usize,
    host: &str,
    port: u16,
) -> Result<FlagMap, String> {
    let mut out = flags.clone();
    match framework {
        Framework::Sglang | Framework::Sim => {
            out.insert("nnodes".into(), Value::from(nnodes));
            out.insert("node_rank".into(), Value::from(rank));
            out.insert(
                "dist_init_addr".into(),
                Value::from(format!("{host}:{port}")),
            );
        }
        Framework::Vllm => {
            let size = ["data_parallel_size", "dp_size", "dp"]
                .iter()
                .find_map(|k| flags.get(*k))
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                .unwrap_or(1) as usize;
            if !size.is_multiple_of(nnodes) {
                return Err(format!(
                    "vLLM spans nodes by data parallelism: data_parallel_size {size} does not split over {nnodes} nodes"
                ));
            }
            let local = size / nnodes;
            out.insert("data_parallel_size_local".into(), Value::from(local));
            out.insert("data_parallel_address".into(), Value::from(host));
            out.insert("data_parallel_rpc_port".into(), Value::from(port));
            if rank > 0 {
                out.insert("headless".into(), Value::Bool(true));
                out.insert("data_parallel_start_rank".into(), Value::from(rank * local));
            }
        }
        other => {
            return Err(format!(
                "autobench does not start {} across nodes",
                other.name()
            ));
        }
    }
    Ok(out)
}

/// This node's name as the job's other nodes reach it.
pub(super) fn head_host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "127.0.0.1".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plan::Container;

    fn flags(json: Value) -> FlagMap {
        serde_json::from_value(json).expect("flags")
    }

    #[test]
    fn sglang_nodes_get_their_rank_and_the_heads_address() {
        let mut plan = crate::session::slurm::test_plan();
        plan.container = None;
        let base = flags(serde_json::json!({"model_path": "m", "tp_size": 16}));
        let rank1 = rank_flags(Framework::Sglang, &base, 2, 1, "node17", 5000).expect("flags");
        assert_eq!(rank1["nnodes"], 2);
        assert_eq!(rank1["node_rank"], 1);
        assert_eq!(rank1["dist_init_addr"], "node17:5000");
        assert_eq!(srun_prefix(&plan, 1)[3], "--relative=1");
    }

    #[test]
    fn vllm_nodes_split_data_parallelism_and_followers_are_headless() {
        let base = flags(serde_json::json!({"model": "m", "data_parallel_size": 4}));
        let head = rank_flags(Framework::Vllm, &base, 2, 0, "n1", 13345).expect("head");
        assert_eq!(head["data_parallel_size_local"], 2);
        assert!(head.get("headless").is_none());
        let follower = rank_flags(Framework::Vllm, &base, 2, 1, "n1", 13345).expect("follower");
        assert_eq!(follower["headless"], true);
        assert_eq!(follower["data_parallel_start_rank"], 2);
        let odd = flags(serde_json::json!({"model": "m", "data_parallel_size": 3}));
        assert!(rank_flags(Framework::Vllm, &odd, 2, 0, "n1", 1).is_err());
        assert!(rank_flags(Framework::Trtllm, &base, 2, 0, "n1", 1).is_err());
    }

    #[test]
    fn a_container_runs_through_srun_with_its_image_mounts_and_variables() {
        let mut plan = crate::session::slurm::test_plan();
        plan.container = Some(Container {
            image: "nvcr.io#nvidia/pytorch:24.05-py3".into(),
            mounts: vec!["/lustre/me:/lustre/me".into(), "/models:/models:ro".into()],
        });
        let prefix = srun_prefix(&plan, 0).join(" ");
        assert_eq!(
            prefix,
            "srun --nodes=1 --ntasks=1 --relative=0 --overlap --kill-on-bad-exit=1 --container-image=nvcr.io#nvidia/pytorch:24.05-py3 --container-mounts=/lustre/me:/lustre/me,/models:/models:ro --container-env=HF_TOKEN,PATH"
        );
    }
}
