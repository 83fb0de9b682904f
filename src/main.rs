//! The `notion-sync` binary: parse, set up logging, run, exit with a documented code.

use std::process::ExitCode;

use clap::Parser;
use notion_sync::cli::Cli;

/// mimalloc instead of the system allocator: decoding and Arrow conversion allocate many small,
/// short-lived buffers, and glibc's malloc and free were the largest item of a full refresh's profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                notion_sync::exit::USAGE
            } else {
                notion_sync::exit::OK
            });
        }
    };
    notion_sync::logging::init(cli.log_format, &cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(notion_sync::exit::INTERNAL);
        }
    };
    ExitCode::from(runtime.block_on(notion_sync::commands::run(cli)))
}
