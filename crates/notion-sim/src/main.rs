//! `notion-sim`: serve a simulated Notion workspace on 127.0.0.1 until stopped.

use std::io::Write;
use std::time::Duration;

use clap::Parser;
use notion_sim::{ClockMode, SimConfig, Simulator, WorkspaceKind};

/// Serve a simulated Notion API on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "notion-sim", version)]
struct Args {
    /// Port (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed of the generated workspace.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Workspace: demo, full or large.
    #[arg(long, default_value = "demo")]
    workspace: WorkspaceKind,
    /// Rows of the large workspace (0 = 10,000); a scale hint for demo and full.
    #[arg(long, default_value_t = 0)]
    pages: usize,
    /// Request budget per token per minute (0 = unlimited).
    #[arg(long, default_value_t = 180)]
    requests_per_minute: u32,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let cfg = SimConfig {
        seed: args.seed,
        workspace: args.workspace,
        pages: args.pages,
        requests_per_minute: args.requests_per_minute,
        rate_window: Duration::from_secs(60),
        port: args.port,
        clock: ClockMode::System,
        ..SimConfig::default()
    };
    let sim = match Simulator::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "NOTION_API_BASE_URL={}", sim.base_url());
    let _ = writeln!(out, "NOTION_API_KEY={}", sim.token());
    for db in sim.databases() {
        let name: String = db
            .title
            .to_ascii_uppercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let _ = writeln!(out, "NOTION_{name}_DB_ID={}", db.id);
    }
    let _ = out.flush();
    drop(out);
    wait_for_stop().await;
    sim.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
