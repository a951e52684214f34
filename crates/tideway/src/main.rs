//! The `tideway` binary: parse the command line and run it.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = tideway::cli::Cli::parse();
    match tideway::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tideway: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
