//! `autobench report RUN_DIR`: writes `report.html` and prints its path.

use std::path::Path;
use std::process::ExitCode;

use crate::exit;
use crate::stdout;

/// `autobench report RUN_DIR`: prints the file it wrote.
pub(crate) fn report(run_dir: &Path) -> anyhow::Result<ExitCode> {
    let path = crate::report::write(run_dir)?;
    stdout::println(path.display())?;
    Ok(ExitCode::from(exit::MET))
}
