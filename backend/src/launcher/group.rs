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
