//! The simulated GPU: memory budget at start-up and the cost of each scheduler step.
//!
//! The model is a small continuous-batching server in the style of SGLang. Memory: each GPU has
//! `--sim-gpu-mem-gb` (80); `--mem-fraction-static` of it holds the weights (`--sim-model-gb`
//! split over `tp_size`) and the KV pool; the rest must hold activations and CUDA-graph buffers,
//! which grow with `--chunked-prefill-size` and `--cuda-graph-max-bs`. When either side does not
//! fit, start-up fails with a CUDA-style out-of-memory error, as a real server does.
//!
//! Time: a prefill step costs a launch overhead plus a per-token cost plus an attention term that
//! grows with prompt length squared; a decode step costs a launch overhead (lower inside a CUDA
//! graph, i.e. at batch sizes up to `--cuda-graph-max-bs`) plus a per-sequence cost plus a KV-read
//! cost proportional to the total context in the batch. Attention backends scale these terms
//! differently (fa3 has the fastest prefill; flashinfer the cheapest large-batch decode), tensor
//! parallelism divides compute but adds communication. Prefill steps pause decoding, so a large
//! chunk raises TPOT while a small chunk adds launch overhead and raises TTFT; a large
//! `--max-running-requests` raises throughput and TPOT together. So candidates have genuinely
//! different SLA-limited maximum rates. All costs scale with `--sim-time-scale`.

use super::args::SimArgs;

/// Resolved simulation parameters of one data-parallel replica.
#[derive(Debug, Clone)]
pub(crate) struct GpuModel {
    /// Tensor parallel size.
    pub tp: f64,
    /// Tokens per prefill step (chunked prefill).
    pub chunk_tokens: u64,
    /// Batch cap.
    pub max_running: usize,
    /// KV pool size in tokens.
    pub kv_capacity: u64,
    /// Largest batch run inside a CUDA graph (0: graphs disabled).
    pub cuda_graph_max_bs: usize,
    prefill_factor: f64,
    decode_kv_factor: f64,
    decode_launch_extra_ms: f64,
    lpm: bool,
    time_scale: f64,
    /// Speculative decoding, when launched with it: each decode step is a verify step that emits
    /// a varying number of tokens per sequence.
    pub speculation: Option<super::speculation::Speculation>,
    /// Relative standard deviation of each step's duration (`--sim-noise-pct` / 100): real GPU
    /// steps vary, so repeated measurements of one point differ.
    pub noise: f64,
    /// Seed of that noise (`--sim-noise-seed`).
    pub noise_seed: u64,
}

/// Why the simulated server cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartupError {
    /// Out of GPU memory.
    #[error("{0}")]
    OutOfMemory(String),
}

fn backend_factors(prefill: &str, decode: &str) -> (f64, f64, f64) {
    let prefill_factor = match prefill {
        "fa3" | "fa4" => 0.7,
        "flashinfer" | "flashmla" | "trtllm_mha" => 1.0,
        "triton" => 1.35,
        _ => 2.5,
    };
    let (kv, launch) = match decode {
        "flashinfer" | "flashmla" | "trtllm_mha" => (1.0, 0.0),
        "fa3" | "fa4" => (1.1, 0.25),
        "triton" => (1.3, 0.1),
        _ => (2.5, 0.5),
    };
    (prefill_factor, kv, launch)
}

fn model_size_gb(args: &SimArgs) -> f64 {
    if let Some(gb) = args.number("sim-model-gb") {
        return gb;
    }
    let path = args
        .text("model-path")
        .unwrap_or_default()
        .to_ascii_lowercase();
    // "Qwen3-32B" -> 32 billion parameters -> 64 GB in bf16.
    let billions = path
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter_map(|word| word.strip_suffix('b').and_then(|n| n.parse::<f64>().ok()))
        .next_back();
    billions.map_or(16.0, |b| b * 2.0)
}

impl GpuModel {
    /// Checks memory and derives the model, as a server does while loading.
    pub(crate) fn from_args(args: &SimArgs) -> Result<GpuModel, StartupError> {
        let tp = args
            .number("tp-size")
            .or_else(|| args.number("tensor-parallel-size"))
            .unwrap_or(1.0)
            .max(1.0);
        let gpu_gb = args.number("sim-gpu-mem-gb").unwrap_or(80.0);
        let mem_fraction = args.number("mem-fraction-static").unwrap_or(0.88);
        let weights_gb = model_size_gb(args) / tp;
        let chunk = args.number("chunked-prefill-size").unwrap_or(8192.0);
        let chunk_tokens = if chunk <= 0.0 { 1 << 20 } else { chunk as u64 };
        let graphs = !args.flag("disable-cuda-graph");
        let graph_bs = if graphs {
            args.number("cuda-graph-max-bs").unwrap_or(160.0)
        } else {
            0.0
        };
        let static_gb = gpu_gb * mem_fraction;
        if static_gb < weights_gb + 1.0 {
            return Err(StartupError::OutOfMemory(format!(
                "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {:.2} GiB. GPU 0 has a total capacity of {gpu_gb:.2} GiB \
                 (weights need {weights_gb:.2} GiB per GPU but mem_fraction_static={mem_fraction} leaves {static_gb:.2} GiB)",
                weights_gb + 1.0 - static_gb
            )));
        }
        let activation_gb = 1.5 + 0.01 * graph_bs + (chunk_tokens.min(65536) as f64) / 4096.0 * 1.5;
        let free_gb = gpu_gb - static_gb;
        if activation_gb > free_gb {
            return Err(StartupError::OutOfMemory(format!(
                "RuntimeError: CUDA out of memory while capturing cuda graph. Tried to allocate {:.2} GiB; {free_gb:.2} GiB free outside \
                 the static pool (mem_fraction_static={mem_fraction}, chunked_prefill_size={chunk}, cuda_graph_max_bs={graph_bs}). \
                 Possible solutions: reduce --mem-fraction-static, --chunked-prefill-size or --cuda-graph-max-bs",
                activation_gb - free_gb
            )));
        }
        let kv_mb_per_token = args.number("sim-kv-mb-per-token").unwrap_or(0.25) / tp;
        let mut kv_capacity = ((static_gb - weights_gb) * 1024.0 / kv_mb_per_token) as u64;
        if let Some(max_total) = args.number("max-total-tokens") {
            kv_capacity = kv_capacity.min(max_total as u64);
        }
        let default_running = (kv_capacity / 512).clamp(16, 2048) as usize;
        let attention = args.text("attention-backend").unwrap_or("flashinfer");
        let prefill = args.text("prefill-attention-backend").unwrap_or(attention);
        let decode = args.text("decode-attention-backend").unwrap_or(attention);
        let (prefill_factor, decode_kv_factor, decode_launch_extra_ms) =
            backend_factors(prefill, decode);
        let speculation = super::speculation::Speculation::from_args(args);
        Ok(GpuModel {
            tp,
            chunk_tokens,
            max_running: args
                .number("max-running-requests")
                .map_or(default_running, |n| n.max(1.0) as usize),
            kv_capacity,
            cuda_graph_max_bs: graph_bs as usize,
            prefill_factor,
            decode_kv_factor,
            decode_launch_extra_ms,
            lpm: args.text("schedule-policy").unwrap_or("fcfs") == "lpm",
            time_scale: args.number("sim-time-scale").unwrap_or(1.0).max(0.0),
            speculation,
            noise: args
                .number("sim-noise-pct")
                .unwrap_or(0.0)
                .clamp(0.0, 100.0)
                / 100.0,
            noise_seed: args.number("sim-noise-seed").unwrap_or(0.0).max(0.0) as u64,
        })
    }

    fn compute_share(&self) -> f64 {
        if self.tp > 1.0 {
            1.0 / (self.tp * 0.85)
        } else {
            1.0
        }
    }

    fn comm_ms(&self) -> f64 {
        if self.tp > 1.0 {
            0.08 * self.tp.log2()
        } else {
            0.0
        }
    }

    /// Milliseconds for a prefill step over `(already_cached, new_tokens)` pieces.
    pub(crate) fn prefill_ms(&self, pieces: &[(u64, u64)], waiting: usize) -> f64 {
        let tokens: u64 = pieces.iter().map(|p| p.1).sum();
        let attention: f64 = pieces
            .iter()
            .map(|&(done, new)| new as f64 * (done as f64 + new as f64 / 2.0) * 4e-6)
            .sum();
        let compute = tokens as f64 * 0.012 + attention * self.prefill_factor;
        self.scaled(
            2.0 + compute * self.compute_share() + self.comm_ms() + self.scheduling_ms(waiting),
        )
    }

    /// Milliseconds for a decode step of `batch` sequences holding `context_tokens` in total.
    pub(crate) fn decode_ms(&self, batch: usize, context_tokens: u64, waiting: usize) -> f64 {
        let in_graph = batch <= self.cuda_graph_max_bs;
        let launch = if in_graph { 0.6 } else { 2.2 } + self.decode_launch_extra_ms;
        let compute = (batch as f64 * 0.07
            + context_tokens as f64 * 0.00025 * self.decode_kv_factor)
            * self.speculation.map_or(1.0, |s| s.cost_factor);
        self.scaled(
            launch + compute * self.compute_share() + self.comm_ms() + self.scheduling_ms(waiting),
        )
    }

    fn scheduling_ms(&self, waiting: usize) -> f64 {
        if self.lpm {
            0.004 * waiting as f64
        } else {
            0.0
        }
    }

    fn scaled(&self, ms: f64) -> f64 {
        ms * self.time_scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(flags: &str) -> Result<GpuModel, StartupError> {
        let args: Vec<String> = format!("--model-path m {flags}")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        GpuModel::from_args(&SimArgs::parse(&args).expect("args"))
    }

    #[test]
    fn memory_limits_cause_oom() {
        assert!(model("").is_ok());
        assert!(matches!(
            model("--mem-fraction-static 0.97"),
            Err(StartupError::OutOfMemory(_))
        ));
        assert!(matches!(
            model("--sim-model-gb 120"),
            Err(StartupError::OutOfMemory(_))
        ));
        assert!(model("--sim-model-gb 120 --tp-size 2").is_ok());
        assert!(matches!(
            model("--chunked-prefill-size 32768"),
            Err(StartupError::OutOfMemory(_))
        ));
    }

    #[test]
    fn backends_and_graphs_change_costs() {
        let fa3 = model("--attention-backend fa3").expect("ok");
        let flashinfer = model("--attention-backend flashinfer").expect("ok");
        assert!(fa3.prefill_ms(&[(0, 4000)], 0) < flashinfer.prefill_ms(&[(0, 4000)], 0));
        assert!(fa3.decode_ms(64, 64_000, 0) > flashinfer.decode_ms(64, 64_000, 0));
        let no_graph = model("--disable-cuda-graph").expect("ok");
        assert!(no_graph.decode_ms(8, 1000, 0) > flashinfer.decode_ms(8, 1000, 0));
        assert!(flashinfer.decode_ms(64, 64_000, 0) > flashinfer.decode_ms(8, 8_000, 0));
    }
}
