//! The `tideway` binary: parse the command line and run it.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match tideway::cli::run_invocation(tideway::cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tideway: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
