//! `autobench sim`: a simulated SGLang-like inference server for machines without a GPU.
//!
//! It is launched as a real child process with SGLang's launch flags, takes a configurable time
//! to become ready (`--sim-startup-s`), fails at start-up with a CUDA-style out-of-memory error
//! when the flags do not fit the simulated GPU, and serves SGLang's HTTP API with latencies from
//! a continuous-batching GPU model ([`model`]). `--fixed-ttft-ms`/`--fixed-itl-ms` switch to a
//! fixed-latency mode with unlimited capacity, for measuring the load generator itself, served by
//! a lean HTTP/1.1 server of its own ([`fixed_server`]) whose token writers ([`token_writer`])
//! put each token on the wire at its due time.
//! `--sim-like transformers` takes `transformers serve`'s flags and API quirks instead.

mod args;
mod engine;
mod fixed_server;
mod http;
mod model;
mod nodes;
mod openai_like;
mod speculation;
mod token_writer;
mod transformers;
pub(crate) mod truth;

#[cfg(test)]
mod fixed_server_tests;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

pub(crate) use args::SimArgs;
pub(crate) use model::{GpuModel, StartupError};

/// Runs the simulated server until it is killed. Returns the process exit status.
#[expect(
    clippy::print_stderr,
    reason = "the simulated server logs to stderr like a real one"
)]
pub(crate) async fn main(raw_args: &[String]) -> i32 {
    let like = match like(raw_args) {
        Ok(like) => like,
        Err(error) => {
            eprintln!("{error}");
            return 2;
        }
    };
    if let Some(asked) = raw_args
        .iter()
        .find(|a| *a == "--help" || *a == "-h" || a.starts_with("--help="))
    {
        let text = match &like {
            Some((Personality::Transformers, _)) => transformers::help_text(),
            Some((Personality::Other(other), _)) => other.help_text(asked).to_string(),
            None => SimArgs::help_text(),
        };
        // Like `--help` of a real server, a closed stdout is not an error.
        let _ = crate::stdout::print(text);
        return 0;
    }
    let api = match &like {
        None => http::Surface::Sglang,
        Some((Personality::Transformers, _)) => http::Surface::Transformers,
        Some((Personality::Other(openai_like::Like::Vllm), _)) => http::Surface::Vllm,
        Some((Personality::Other(openai_like::Like::Trtllm), _)) => http::Surface::Trtllm,
    };
    let translated = match like {
        None => Ok(raw_args.to_vec()),
        Some((Personality::Transformers, rest)) => transformers::translate(&rest),
        Some((Personality::Other(other), rest)) => openai_like::translate(other, &rest),
    };
    let parsed = translated.and_then(|args| SimArgs::parse(&args));
    let args = match parsed {
        Ok(args) => args,
        Err(error) => {
            eprintln!("{error}");
            return 2;
        }
    };
    let model_path = args.text("model-path").unwrap_or_default().to_string();
    eprintln!("[sim] server_args={}", args.as_json());
    if let Some(name) = nodes::missing_env(&args) {
        eprintln!("[sim] ERROR: the environment variable {name} is not set (--sim-require-env)");
        return 1;
    }
    let _joined = match nodes::join(&args).await {
        Ok(nodes::Role::Serve(joined)) => joined,
        Ok(nodes::Role::Follow(head)) => return nodes::follow(head).await,
        Err(error) => {
            eprintln!("[sim] ERROR: {error}");
            return 1;
        }
    };
    eprintln!("[sim] Load weight begin. model_path={model_path}");
    let startup = Duration::from_secs_f64(args.number("sim-startup-s").unwrap_or(2.0).max(0.0));
    tokio::time::sleep(startup.mul_f64(0.6)).await;
    let fixed = fixed_mode(&args);
    let gpu = match (&fixed, GpuModel::from_args(&args)) {
        (Some(_), _) => None,
        (None, Ok(gpu)) => {
            eprintln!(
                "[sim] Memory pool end. max_total_num_tokens={}, max_running_requests={}, chunked_prefill_size={}, cuda_graph_max_bs={}",
                gpu.kv_capacity, gpu.max_running, gpu.chunk_tokens, gpu.cuda_graph_max_bs
            );
            let gpu_gb = args.number("sim-gpu-mem-gb").unwrap_or(80.0);
            let fraction = args.number("mem-fraction-static").unwrap_or(0.88);
            crate::gpus::fake_hold(
                &std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_else(|_| "0".into()),
                gpu_gb * 1024.0 * fraction,
                args.number("sim-gpu-release-s").unwrap_or(0.0),
            );
            Some(gpu)
        }
        (None, Err(StartupError::OutOfMemory(message))) => {
            eprintln!(
                "[sim] Traceback (most recent call last):\n  File \"model_runner.py\", line 1, in init_memory_pool\n{message}"
            );
            return 1;
        }
    };
    tokio::time::sleep(startup.mul_f64(0.4)).await;
    let state = build_state(&args, gpu, fixed, model_path, api);
    let host = args.text("host").unwrap_or("127.0.0.1").to_string();
    let port = args.number("port").unwrap_or(30000.0) as u16;
    let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("[sim] ERROR: cannot bind {host}:{port}: {error}");
            return 1;
        }
    };
    eprintln!("[sim] The server is fired up and ready to roll! Listening on http://{host}:{port}");
    if fixed.is_some() {
        return match serve_fixed(listener, state).await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("[sim] ERROR: cannot start the token writers: {error}");
                1
            }
        };
    }
    // Stream chunks are tiny: without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold them
    // back by tens of milliseconds, which would show up as TTFT/ITL that no real server has.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    match axum::serve(listener, http::router(state)).await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("[sim] server error: {error}");
            1
        }
    }
}

/// Serves the fixed-latency mode on `listener` until the process ends.
async fn serve_fixed(
    listener: tokio::net::TcpListener,
    state: Arc<http::SimState>,
) -> std::io::Result<()> {
    let writers = token_writer::TokenWriters::start(writer_threads())?;
    fixed_server::serve(listener, http::router(state), writers).await;
    Ok(())
}

/// Token writer threads of the fixed-latency mode: one per core, at most
/// [`token_writer::MAX_THREADS`]. On two cores one writer alone falls behind at 2,000 requests/s
/// (64,000 tokens/s); more writers than cores would only wake each other.
fn writer_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(token_writer::MAX_THREADS)
}

/// A server the simulator can play besides SGLang.
enum Personality {
    /// `transformers serve`.
    Transformers,
    /// `vllm serve` or `trtllm-serve serve`.
    Other(openai_like::Like),
}

/// With `--sim-like NAME` (anywhere), the personality and the other arguments without it.
fn like(args: &[String]) -> Result<Option<(Personality, Vec<String>)>, String> {
    let Some(at) = args.iter().position(|a| a == "--sim-like") else {
        return Ok(None);
    };
    let name = args.get(at + 1).map(String::as_str).unwrap_or("");
    let personality = match name {
        "transformers" => Personality::Transformers,
        other => Personality::Other(openai_like::Like::from_name(other).ok_or_else(|| {
            format!(
                "--sim-like: `{other}` is not a personality; expected transformers, vllm or trtllm"
            )
        })?),
    };
    let mut rest = args.to_vec();
    rest.drain(at..(at + 2).min(args.len()));
    Ok(Some((personality, rest)))
}

fn fixed_mode(args: &SimArgs) -> Option<(Duration, Duration)> {
    let ttft = args.number("fixed-ttft-ms")?;
    let itl = args.number("fixed-itl-ms").unwrap_or(0.0);
    Some((
        Duration::from_secs_f64(ttft.max(0.0) / 1000.0),
        Duration::from_secs_f64(itl.max(0.0) / 1000.0),
    ))
}

fn build_state(
    args: &SimArgs,
    gpu: Option<GpuModel>,
    fixed: Option<(Duration, Duration)>,
    model_path: String,
    api: http::Surface,
) -> Arc<http::SimState> {
    let replicas = args
        .number("dp-size")
        .or_else(|| args.number("data-parallel-size"))
        .unwrap_or(1.0)
        .max(1.0) as usize;
    let accept = Arc::new(speculation::AcceptStats::default());
    let speculative = gpu.as_ref().is_some_and(|g| g.speculation.is_some());
    let senders = gpu
        .map(|gpu| {
            (0..replicas)
                .map(|replica| {
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                    let noise = engine::StepNoise::new(&gpu, replica as u64);
                    tokio::spawn(engine::run(gpu.clone(), rx, noise, Arc::clone(&accept)));
                    tx
                })
                .collect()
        })
        .unwrap_or_default();
    let tokenizer_dir = args
        .text("tokenizer-path")
        .unwrap_or(&model_path)
        .to_string();
    Arc::new(http::SimState {
        served_name: args
            .text("served-model-name")
            .unwrap_or(&model_path)
            .to_string(),
        model_path,
        flags: args.as_json(),
        replicas: senders,
        next_replica: AtomicUsize::new(0),
        tokenizer: crate::dataset::load_tokenizer(&tokenizer_dir).ok(),
        fixed,
        strict_openai: api == http::Surface::Transformers,
        api,
        runtime_oom_every: args
            .number("sim-runtime-oom-every")
            .map(|n| n.max(0.0) as u64),
        crash_after_requests: args
            .number("sim-crash-after-requests")
            .map(|n| n.max(0.0) as u64),
        served: AtomicUsize::new(0),
        accept: speculative.then_some(accept),
    })
}
