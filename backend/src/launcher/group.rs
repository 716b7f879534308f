//! A server that spans several nodes: the head (node rank 0, the one that answers HTTP) and one
//! follower per other node, each its own process (an `srun` step on its node) in its own process
//! group. They start together, the head's health check fails at once when any of them exits,
//! and every one is stopped on every exit path (graceful shutdown, an error while starting,
//! `Drop`).

use super::{LaunchError, LaunchSpec, RunningServer, spawn, wait_ready};

/// A multi-node server while it runs.
#[derive(Debug)]
pub struct ServerGroup {
    /// Node rank 0.
    pub head: RunningServer,
    /// Ranks 1.. in order.
    pub followers: Vec<RunningServer>,
}

/// Starts the followers, then the head, and waits for the head's health check.
pub async fn launch_group(
    head: &LaunchSpec,
    followers: &[LaunchSpec],
    cancel: &mut crate::cancel::CancelReceiver,
) -> Result<ServerGroup, LaunchError> {
    let mut started = Vec::with_capacity(followers.len());
    for spec in followers {
        match spawn(spec) {
            Ok(server) => started.push(server),
            Err(error) => {
                stop_all(started).await;
                return Err(error);
            }
        }
    }
    let mut server = match spawn(head) {
        Ok(server) => server,
        Err(error) => {
            stop_all(started).await;
            return Err(error);
        }
    };
    match wait_ready(&mut server, &mut started, head, cancel).await {
        Ok(()) => Ok(ServerGroup {
            head: server,
            followers: started,
        }),
        Err(error) => {
            server.shutdown().await;
            stop_all(started).await;
            Err(error)
        }
    }
}

/// Stops every follower (each: SIGTERM to its group, the grace, then SIGKILL).
pub async fn stop_all(followers: Vec<RunningServer>) {
    for follower in followers {
        follower.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn spec(dir: &std::path::Path, name: &str, script: &str) -> LaunchSpec {
        LaunchSpec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: Vec::new(),
            log_path: dir.join(format!("{name}.log")),
            // Nothing listens here, so the head never becomes ready on its own.
            base_url: "http://127.0.0.1:9".into(),
            health_path: "/health".into(),
            ready_timeout: Duration::from_secs(60),
            grace: Duration::from_millis(200),
            state_dir: dir.join("state"),
        }
    }

    #[tokio::test]
    async fn a_node_that_exits_fails_the_start_at_once_and_the_head_is_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("state")).expect("state dir");
        let head = spec(dir.path(), "head", "echo head up; exec sleep 60");
        let follower = spec(
            dir.path(),
            "node1",
            "echo cannot reach the head >&2; exit 3",
        );
        let (_keep, mut cancel) = crate::cancel::channel();
        let started = Instant::now();
        let error = launch_group(&head, &[follower], &mut cancel)
            .await
            .expect_err("a node exited");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let text = error.to_string();
        assert!(text.contains("node rank 1 exited"), "{text}");
        assert!(text.contains("cannot reach the head"), "{text}");
        assert!(
            dir.path().join("state/servers.jsonl").exists(),
            "both were recorded"
        );
        let gone = crate::launcher::registry::surviving_processes(&dir.path().join("state"));
        assert!(gone.is_empty(), "the head was stopped: {gone:?}");
    }
}
