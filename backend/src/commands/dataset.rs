//! The `convert` and `validate` subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use shared::outward::dataset::{ConvertLengths, ConvertSummary};

use crate::config::{self, DatasetKind, DatasetPlan, Scenario};
use crate::dataset::{self, DatasetRow, gsp::GspOptions, validate};
use crate::stdout;

/// `autobench convert` flags (upstream's `sglang.auto_benchmark convert`).
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Dataset kind: sharegpt, custom (`autobench` is an alias), random, generated-shared-prefix.
    #[arg(long, value_parser = config::value_parser::<DatasetKind>())]
    pub kind: DatasetKind,
    /// Input file (custom, sharegpt); empty for sharegpt means download it.
    #[arg(long, default_value = "")]
    pub path: String,
    /// Tokenizer: a local folder with tokenizer.json, the file, or a hub model id.
    #[arg(long)]
    pub tokenizer: String,
    /// Accepted for compatibility.
    #[arg(long)]
    pub model: Option<String>,
    /// Rows to write (custom: 0 = all).
    #[arg(long)]
    pub num_prompts: Option<u64>,
    /// Fixed output length (sharegpt/custom); for random, the same as --random-output-len.
    #[arg(long)]
    pub output_len: Option<u64>,
    /// Drop rows longer than this (input + output tokens).
    #[arg(long)]
    pub context_len: Option<u64>,
    /// Appended to legacy prompts.
    #[arg(long, default_value = "")]
    pub prompt_suffix: String,
    /// Wrap legacy prompts in the tokenizer's chat template.
    #[arg(long)]
    pub apply_chat_template: bool,
    /// Random input length.
    #[arg(long)]
    pub random_input_len: Option<u64>,
    /// Random output length.
    #[arg(long)]
    pub random_output_len: Option<u64>,
    /// Upstream length ratio (omit for exact lengths).
    #[arg(long)]
    pub random_range_ratio: Option<f64>,
    /// Shared-prefix groups.
    #[arg(long, default_value_t = 64)]
    pub gsp_num_groups: u64,
    /// Prompts per group.
    #[arg(long, default_value_t = 16)]
    pub gsp_prompts_per_group: u64,
    /// System prompt tokens.
    #[arg(long, default_value_t = 2048)]
    pub gsp_system_prompt_len: u64,
    /// Question tokens.
    #[arg(long, default_value_t = 128)]
    pub gsp_question_len: u64,
    /// Output tokens.
    #[arg(long, default_value_t = 256)]
    pub gsp_output_len: u64,
    /// Length ratio (1.0 = exact).
    #[arg(long, default_value_t = 1.0)]
    pub gsp_range_ratio: f64,
    /// Skip prompt tokenisation.
    #[arg(long)]
    pub gsp_fast_prepare: bool,
    /// Per-group routing keys.
    #[arg(long)]
    pub gsp_send_routing_key: bool,
    /// Turns per request.
    #[arg(long, default_value_t = 1)]
    pub gsp_num_turns: u64,
    /// Keep group order.
    #[arg(long)]
    pub gsp_ordered: bool,
    /// Seed (same inputs and seed give a byte-identical file).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output JSONL file.
    #[arg(long)]
    pub output: PathBuf,
}

/// `autobench validate` flags.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Canonical JSONL file.
    #[arg(long)]
    pub dataset_path: PathBuf,
    /// Tokenizer: a local folder with tokenizer.json, the file, or a hub model id.
    #[arg(long)]
    pub tokenizer: String,
    /// Flag rows whose input + output tokens exceed this.
    #[arg(long)]
    pub context_len: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Builds the dataset plan and scenario `convert` prepares.
pub(crate) fn convert_plan(args: &ConvertArgs) -> anyhow::Result<(DatasetPlan, Scenario)> {
    let kind = args.kind;
    let random_output = match (
        kind == DatasetKind::Random,
        args.output_len,
        args.random_output_len,
    ) {
        (true, Some(a), Some(b)) if a != b => bail!(
            "--output-len {a} and --random-output-len {b} disagree; for --kind random give only one"
        ),
        (true, a, b) => Some(b.or(a).unwrap_or(256)),
        (false, _, _) => None,
    };
    let path = Some(args.path.as_str())
        .filter(|p| !p.is_empty() && *p != "sharegpt")
        .map(PathBuf::from);
    if kind == DatasetKind::Custom && path.is_none() {
        bail!("--path is required for --kind custom");
    }
    let plan = DatasetPlan {
        num_prompts: args
            .num_prompts
            .unwrap_or(if kind == DatasetKind::Custom { 0 } else { 1000 }),
        output_len_override: if kind == DatasetKind::Random {
            None
        } else {
            args.output_len
        },
        random_range_ratio: args.random_range_ratio,
        context_len: args.context_len,
        seed: args.seed,
        prompt_suffix: args.prompt_suffix.clone(),
        apply_chat_template: args.apply_chat_template,
        gsp: GspOptions {
            num_groups: args.gsp_num_groups,
            prompts_per_group: args.gsp_prompts_per_group,
            system_prompt_len: args.gsp_system_prompt_len,
            question_len: args.gsp_question_len,
            output_len: args.gsp_output_len,
            range_ratio: args.gsp_range_ratio,
            fast_prepare: args.gsp_fast_prepare,
            send_routing_key: args.gsp_send_routing_key,
            num_turns: args.gsp_num_turns,
            ordered: args.gsp_ordered,
            seed: args.seed,
        },
        kind,
        path,
    };
    let scenario = Scenario {
        name: "default".into(),
        slug: "default".into(),
        input_len: random_output.map(|_| args.random_input_len.unwrap_or(1024)),
        output_len: random_output,
    };
    Ok((plan, scenario))
}

/// The figures of prepared rows.
pub(crate) fn summary(rows: &[DatasetRow]) -> ConvertSummary {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for row in rows {
        *kinds
            .entry(dataset::prompt_kind(&row.prompt).name().to_string())
            .or_default() += 1;
    }
    let inputs: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.prompt_len)
        .map(|l| l as f64)
        .collect();
    let outputs: Vec<f64> = rows.iter().map(|r| r.output_len as f64).collect();
    ConvertSummary {
        num_requests: rows.len(),
        prompt_kinds: kinds,
        input_tokens: ConvertLengths::of(&inputs),
        output_tokens: ConvertLengths::of(&outputs),
    }
}

/// `autobench convert`.
pub(crate) async fn convert(args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let (plan, scenario) = convert_plan(args)?;
    let rows = dataset::prepare(&plan, &scenario, 0, &args.tokenizer).await?;
    dataset::write_prepared(&args.output, &rows)?;
    stdout::println(format_args!(
        "prepared_dataset={}\nrows={}\n{}",
        args.output.display(),
        rows.len(),
        serde_json::to_string_pretty(&summary(&rows))?
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `autobench validate`: exit 0 when clean (warnings allowed), 1 when the file has errors (also
/// when stdout was closed before the report was out).
pub(crate) async fn validate_command(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let bundle = dataset::load_bundle(&args.tokenizer).await?;
    let report = validate::validate(&args.dataset_path, &bundle, args.context_len)?;
    let printed = if args.json {
        stdout::println(serde_json::to_string_pretty(&report)?)
    } else {
        stdout::print(render(&report))
    };
    stdout::unless_closed(printed)?;
    Ok(ExitCode::from(u8::from(report.has_errors())))
}

/// Human-readable report.
pub(crate) fn render(report: &validate::Report) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "dataset: {}\nrequests: {}\n",
        report.path, report.num_requests
    );
    let kinds: Vec<String> = report
        .prompt_kinds
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "prompt kinds: {}", kinds.join(", "));
    let lengths = |l: &validate::Lengths| {
        format!(
            "p50 {:.0}, p95 {:.0}, max {:.0}, mean {:.1}",
            l.p50, l.p95, l.max, l.mean
        )
    };
    let _ = writeln!(out, "input tokens: {}", lengths(&report.input_tokens));
    let _ = writeln!(out, "output tokens: {}", lengths(&report.output_tokens));
    if let Some(method) = report.chat_count_method {
        let _ = writeln!(out, "chat prompts counted with: {}", method.name());
    }
    if !report.extras.is_empty() {
        let extras: Vec<String> = report
            .extras
            .iter()
            .map(|(k, v)| format!("{k} ({v} rows)"))
            .collect();
        let _ = writeln!(out, "per-request extras: {}", extras.join(", "));
    }
    let errors = report.errors().count();
    let _ = writeln!(
        out,
        "problems: {errors} error(s), {} warning(s)",
        report.problems.len() - errors
    );
    for p in &report.problems {
        let _ = writeln!(
            out,
            "  {}:{}: {}: {}",
            report.path, p.line, p.severity, p.message
        );
    }
    out.push_str("\nfirst rows as they will be sent:\n");
    for row in &report.samples {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(row).unwrap_or_default()
        );
    }
    out
}
