//! The simulator across nodes, with SGLang's flags (`--nnodes N --node-rank R --dist-init-addr
//! HOST:PORT`), so autobench's multi-node launch is tested end to end: node rank 0 listens on
//! the init address and answers HTTP only once every other rank has joined; a rank above 0
//! joins the head, serves nothing, and exits when the head goes away (as a real server's
//! worker does when its head dies).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::SimArgs;

/// How long ranks wait for each other.
const JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What this process is in a multi-node server.
pub(super) enum Role {
    /// Alone, or the head once every other rank joined (their connections kept open).
    Serve(Vec<TcpStream>),
    /// A rank above 0: it has joined and waits for the head to go.
    Follow(TcpStream),
}

/// Joins the other ranks as `--nnodes`/`--node-rank` say; an error text when that fails.
#[expect(clippy::print_stderr, reason = "the simulated server logs to stderr")]
pub(super) async fn join(args: &SimArgs) -> Result<Role, String> {
    let nnodes = args.number("nnodes").unwrap_or(1.0).max(1.0) as usize;
    if nnodes == 1 {
        return Ok(Role::Serve(Vec::new()));
    }
    let rank = args.number("node-rank").unwrap_or(0.0).max(0.0) as usize;
    let address = args
        .text("dist-init-addr")
        .ok_or("--nnodes above 1 needs --dist-init-addr HOST:PORT")?
        .to_string();
    if rank >= nnodes {
        return Err(format!("--node-rank {rank} is not below --nnodes {nnodes}"));
    }
    if rank > 0 {
        let mut stream = connect(&address).await?;
        stream
            .write_all(format!("rank {rank}\n").as_bytes())
            .await
            .map_err(|e| format!("cannot reach the head at {address}: {e}"))?;
        eprintln!(
            "[sim] node rank {rank} of {nnodes} joined the head at {address}{}",
            slurm_node()
        );
        return Ok(Role::Follow(stream));
    }
    let port = address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .ok_or_else(|| format!("--dist-init-addr {address}: expected HOST:PORT"))?;
    let listener = TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|e| format!("cannot listen on the init address {address}: {e}"))?;
    eprintln!(
        "[sim] node rank 0 waiting for {} more node(s) on {address}",
        nnodes - 1
    );
    let mut joined = Vec::new();
    while joined.len() + 1 < nnodes {
        let accepted = tokio::time::timeout(JOIN_TIMEOUT, listener.accept()).await;
        let (stream, _) = accepted
            .map_err(|_| {
                format!(
                    "only {} of {nnodes} nodes joined in {} s",
                    joined.len() + 1,
                    JOIN_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        let mut reader = BufReader::new(stream);
        let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
        eprintln!("[sim] node {} joined", line.trim());
        joined.push(reader.into_inner());
    }
    eprintln!("[sim] all {nnodes} nodes joined{}", slurm_node());
    Ok(Role::Serve(joined))
}

/// ` on NODE` inside a Slurm job step (`SLURMD_NODENAME`), so a test can see where a rank ran.
fn slurm_node() -> String {
    std::env::var("SLURMD_NODENAME")
        .map(|node| format!(" on {node}"))
        .unwrap_or_default()
}

/// A follower waits until the head closes its connection; then it exits with an error.
#[expect(clippy::print_stderr, reason = "the simulated server logs to stderr")]
pub(super) async fn follow(mut head: TcpStream) -> i32 {
    let mut buffer = [0_u8; 64];
    while matches!(head.read(&mut buffer).await, Ok(n) if n > 0) {}
    eprintln!("[sim] ERROR: lost the connection to the head node; exiting");
    1
}

async fn connect(address: &str) -> Result<TcpStream, String> {
    let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
    loop {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("cannot reach the head at {address}: {error}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// `--sim-require-env A,B`: the variables the server needs set (a test of job environments).
pub(super) fn missing_env(args: &SimArgs) -> Option<String> {
    args.text("sim-require-env")?
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .find(|name| std::env::var_os(name).is_none_or(|v| v.is_empty()))
        .map(str::to_string)
}
