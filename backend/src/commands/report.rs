//! `autobench report RUN_DIR`: writes `report.html` and prints its path; with `--sla KEY=VALUE`,
//! first what the run's recorded trials say at those limits ([`shared::whatif`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::exit;
use crate::stdout;

/// `autobench report RUN_DIR [--sla KEY=VALUE ...]`.
pub(crate) fn report(run_dir: &Path, overrides: &[(String, f64)]) -> anyhow::Result<ExitCode> {
    if !overrides.is_empty() {
        stdout::print(what_if(run_dir, overrides)?)?;
    }
    let path = crate::report::write(run_dir)?;
    stdout::println(path.display())?;
    Ok(ExitCode::from(exit::MET))
}

/// Every scenario's recorded trials re-judged at the run's SLA with `overrides`: the sentence,
/// then each candidate's rate.
fn what_if(run_dir: &Path, overrides: &[(String, f64)]) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let data = crate::report::load(run_dir)?;
    let sla = data.sla().with_context(|| {
        format!(
            "{} has no SLA in run_meta.json: it was not written by autobench run",
            run_dir.display()
        )
    })?;
    let sla = shared::whatif::with_overrides(&sla, overrides)?;
    let mut out = String::new();
    for scenario in &data.scenarios {
        let whatifs = shared::whatif::rejudge(&scenario.records, &sla);
        let names = shared::answer::Names::of(&scenario.records);
        let _ = writeln!(out, "scenario {}:", scenario.name);
        let _ = writeln!(
            out,
            "  {}",
            shared::whatif::headline(&whatifs, &scenario.records, &sla)
        );
        for w in &whatifs {
            let held = match (w.holds_up_to, w.at_least()) {
                (Some(rate), true) => format!("at least {}", shared::answer::rate(rate)),
                (Some(rate), false) => shared::answer::rate(rate),
                (None, _) => "no rate measured".into(),
            };
            let failed = w
                .fails_at
                .map(|f| format!(", failed at {}", shared::answer::rate(f)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {}: {held}{failed}",
                names.plain(w.stage, w.candidate)
            );
        }
    }
    Ok(out)
}
