//! Command implementations. Each returns the process exit code; errors are printed for operators.

mod ddl;
#[cfg(feature = "demo")]
mod demo;
mod export;
mod health;
mod init;
mod list;
mod query;
mod restore;
mod serve;
mod snapshots;
mod status;
mod sync;
mod table;
mod views;

use std::path::Path;

use crate::cli::{Cli, Command};
use crate::config::SinkChoice;
use crate::config::{ConfigError, EnvVars, FileConfig, Settings};
use crate::exit;
use crate::sink::delta::DeltaSink;
#[cfg(feature = "warehouse")]
use crate::sink::warehouse::WarehouseSink;
use crate::sink::{Sink, SinkError};

pub use sync::{print_summary, run_sync};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> u8 {
    #[cfg(feature = "demo")]
    if let Command::Demo(args) = &cli.command {
        return demo::run(args).await;
    }
    if let Command::Verify(args) = &cli.command {
        return export::verify(&cli, args).await;
    }
    let settings = match load_settings(&cli) {
        Ok(s) => s,
        Err(e) => return report_config(&e),
    };
    match &cli.command {
        Command::Sync(args) => sync::run(&settings, args).await,
        Command::InitTables => init::run(&settings).await,
        Command::Optimize(args) => init::optimize(&settings, args).await,
        Command::ListDatabases => list::run(&settings).await,
        Command::Health => health::run(&settings).await,
        Command::Status(args) => status::run(&settings, args).await,
        Command::Serve(args) => serve::run(&settings, args).await,
        Command::Ddl(args) => ddl::run(&settings, args),
        Command::Snapshots(args) => snapshots::run(&settings, args).await,
        Command::Restore(args) => restore::run(&settings, args).await,
        Command::Export(args) => export::run(&cli, &settings, args).await,
        Command::Views(args) => views::run(&settings, args).await,
        Command::Query(args) => query::run(&settings, args).await,
        Command::Verify(_) => exit::INTERNAL,
        #[cfg(feature = "demo")]
        Command::Demo(_) => exit::INTERNAL,
    }
}

/// Prints a configuration error and returns the usage exit code.
pub fn report_config(e: &ConfigError) -> u8 {
    eprintln!("error: configuration: {e}");
    tracing::error!(setting = %e.setting, "configuration error: {}", e.message);
    exit::USAGE
}

/// Prints a sink error and returns its exit code.
pub fn report_sink(e: &SinkError) -> u8 {
    eprintln!("error: {e}");
    tracing::error!(error = %e, "lakehouse error");
    exit::for_class(e.class())
}

/// The environment, after loading `--env-file` when given.
pub fn load_env(cli: &Cli) -> Result<EnvVars, ConfigError> {
    if let Some(path) = &cli.env_file {
        dotenvy::from_path(path).map_err(|e| {
            ConfigError::new("--env-file", format!("cannot load {}: {e}", path.display()))
        })?;
    }
    EnvVars::from_process().map_err(|e| ConfigError::new("environment", e.to_string()))
}

/// Reads the environment (after `--env-file`), the databases file and validates them.
pub fn load_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let env = load_env(cli)?;
    let file_path = cli
        .config
        .clone()
        .or_else(|| env.notion_sync_config.clone().map(Into::into))
        .or_else(|| {
            Path::new("notion-sync.toml")
                .exists()
                .then(|| "notion-sync.toml".into())
        });
    let file = match file_path {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
            })?;
            Some(FileConfig::parse(&text, &path.display().to_string())?)
        }
        None => None,
    };
    let settings = Settings::from_sources(&env, file.as_ref(), &|p| std::fs::read_to_string(p))?;
    settings.remember_secrets();
    Ok(settings)
}

/// Builds the Notion client; on failure prints why and returns the exit code.
pub fn open_client(settings: &Settings) -> Result<crate::notion::Client, u8> {
    let options =
        crate::notion::ClientOptions::from_settings(settings).map_err(|e| report_config(&e))?;
    crate::notion::Client::new(options).map_err(|e| {
        eprintln!("error: {e}");
        exit::for_class(e.class)
    })
}

/// What `sync` and `serve` start from.
pub struct Prepared {
    /// The selected databases (all configured when none were named).
    pub databases: Vec<crate::config::DatabaseConfig>,
    /// The Notion client.
    pub client: crate::notion::Client,
    /// The lake or warehouse, checked writable, with every bronze table created.
    pub sink: Sink,
}

/// Selects the databases, builds the client and opens the lake (checked writable, tables created), all
/// before any request is sent to Notion; on failure prints why and returns the exit code.
pub async fn prepare(settings: &Settings, selected: &[String]) -> Result<Prepared, u8> {
    use crate::sink::BronzeSink;
    let databases = match settings.select_databases(selected) {
        Ok(d) if d.is_empty() => {
            return Err(report_config(&ConfigError::new(
                "NOTION_<NAME>_DB_ID",
                "no databases configured; set e.g. NOTION_PROJECTS_DB_ID or list them in notion-sync.toml",
            )));
        }
        Ok(d) => d,
        Err(e) => return Err(report_config(&e)),
    };
    let client = open_client(settings)?;
    let sink = open_sink(settings).map_err(|e| report_sink(&e))?;
    // An unusable lake is a configuration error, found before any request is sent to Notion.
    sink.check_writable().await.map_err(|e| report_sink(&e))?;
    sink.init_tables().await.map_err(|e| report_sink(&e))?;
    Ok(Prepared {
        databases,
        client,
        sink,
    })
}

/// Opens the configured sink: the Delta lake, or the SQL warehouse.
pub fn open_sink(settings: &Settings) -> Result<Sink, SinkError> {
    match &settings.sink {
        SinkChoice::Delta => open_lake(settings).map(Sink::Delta),
        #[cfg(feature = "warehouse")]
        SinkChoice::Warehouse(w) => Ok(Sink::Warehouse(
            WarehouseSink::new((**w).clone()).with_lock_ttl(settings.lock_ttl),
        )),
        #[cfg(not(feature = "warehouse"))]
        SinkChoice::Warehouse(w) => Err(SinkError::Location {
            uri: w.describe.clone(),
            reason:
                "this build has no warehouse sink; use a build with the cargo feature `warehouse` \
                     (the default and the container image have it)"
                    .into(),
        }),
    }
}

/// Opens the configured Delta lake (commands that read its history: restore, export, snapshots, optimize).
pub fn open_lake(settings: &Settings) -> Result<DeltaSink, SinkError> {
    if let Some(w) = settings.warehouse() {
        return Err(SinkError::Location {
            uri: w.describe.clone(),
            reason:
                "this command works on a Delta lake; set NOTION_SYNC_SINK=delta and LAKEHOUSE_URI \
                     to the lake (the warehouse keeps its own table history)"
                    .into(),
        });
    }
    DeltaSink::new(&settings.lakehouse_uri, &settings.bronze_schema)?
        .with_storage_options(settings.storage.options().clone())
        .map(|sink| sink.with_lock_ttl(settings.lock_ttl))
}
