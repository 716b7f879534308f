//! The `autobench` binary: parse arguments, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = backend::cli::Cli::parse();
    match backend::cli::dispatch(cli).await {
        Ok(code) => code,
        Err(error) => {
            #[expect(clippy::print_stderr, reason = "errors are reported on stderr")]
            {
                eprintln!("error: {error:#}");
            }
            backend::launcher::registry::kill_all();
            ExitCode::from(backend::cli::exit::ERROR)
        }
    }
}
