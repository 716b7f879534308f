//! The `autobench` binary: parse arguments, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;

// Dataset preparation and the load generator allocate many small objects across threads;
// mimalloc is markedly faster than the system allocator there (see the dataset_prep benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) = backend::as_fake_nvidia_smi() {
        return ExitCode::from(code);
    }
    let cli = backend::cli::Cli::parse();
    match backend::cli::dispatch(cli).await {
        Ok(code) => code,
        Err(error) => {
            #[expect(clippy::print_stderr, reason = "errors are reported on stderr")]
            {
                eprintln!("error: {error:#}");
            }
            backend::launcher::registry::kill_all();
            ExitCode::from(backend::exit::ERROR)
        }
    }
}
