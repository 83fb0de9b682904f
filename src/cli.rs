//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Lands Notion databases in Delta Lake bronze tables, incrementally and idempotently.
#[derive(Debug, Parser)]
#[command(name = "notion-sync", version, about, long_about = None)]
pub struct Cli {
    /// Load environment variables from this file first (variables already set win).
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Databases file (default: $NOTION_SYNC_CONFIG, else ./notion-sync.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format; default json when stderr is not a terminal.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// Log level or filter (e.g. `debug`, `notion_sync=trace`); RUST_LOG also works.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync configured databases into bronze (incremental unless --full-refresh).
    Sync(SyncArgs),
    /// Create every bronze table that does not exist yet (safe to run again).
    InitTables,
    /// List configured databases and those the token can see.
    ListDatabases,
    /// Check the token, each configured database and that the lake is writable.
    Health,
    /// Show watermarks, last runs and row counts per database.
    Status(StatusArgs),
    /// Compact small files, write a checkpoint and vacuum files older than the retention, in every table.
    Optimize(OptimizeArgs),
    /// Run the sync on a schedule as a service, with `/health` and `/metrics` over HTTP.
    Serve(ServeArgs),
    /// Print the SQL that registers the bronze tables in a catalog (Unity Catalog external tables).
    Ddl(DdlArgs),
    /// List the restore points: versions of the pages table and, per database, what the history covers.
    Snapshots(SnapshotsArgs),
    /// Bring a snapshot back into Notion in place: plan by default, write with --apply.
    Restore(RestoreArgs),
    /// Write a self-contained, verifiable backup of the selected databases at a point in time.
    Export(ExportArgs),
    /// Check an export: every file's size, rows and SHA-256, and every count, against its manifest.
    Verify(VerifyArgs),
    /// Generate a typed view per database (a column per property) as SQL; create them with --apply.
    Views(ViewsArgs),
    /// Run SQL over the lake with DataFusion: every bronze table and typed view is registered by name.
    Query(QueryArgs),
    /// Run a local demo: a simulated Notion workspace synced into ./lakehouse-demo.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
}

/// `restore` options.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The point to restore: a version of notion_raw_pages or an RFC 3339 timestamp (default: the latest).
    #[arg(long, value_name = "VERSION|TIMESTAMP", conflicts_with = "from")]
    pub as_of: Option<String>,
    /// Restore from an export (`notion-sync export`) instead of the lake: a path or object-store URI.
    #[arg(long, value_name = "PATH")]
    pub from: Option<String>,
    /// The age identity file that decrypts an encrypted export.
    #[arg(long, value_name = "FILE", requires = "from")]
    pub identity: Option<PathBuf>,
    /// Only these databases (repeatable), by configured name.
    #[arg(short = 'd', long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
    /// Only these pages (snapshot page ids, comma-separated).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub pages: Vec<String>,
    /// Carry the plan out (without it nothing is written to Notion).
    #[arg(long)]
    pub apply: bool,
    /// Write every planned action to this file as JSON.
    #[arg(long, value_name = "FILE")]
    pub plan_json: Option<PathBuf>,
    /// Trash the pages made after the snapshot (they are only reported otherwise).
    #[arg(long)]
    pub trash_new: bool,
    /// Write select and multi-select options today's schema no longer has (Notion adds them back).
    #[arg(long)]
    pub add_missing_properties: bool,
    /// Continue the restore with this id (from an earlier run's output or notion_restore_log).
    #[arg(long, value_name = "RESTORE_ID")]
    pub resume: Option<String>,
    /// Recreate the databases whole under this page (new ids) instead of restoring them in place.
    #[arg(long, value_name = "PAGE_ID", conflicts_with_all = ["pages", "trash_new", "add_missing_properties"])]
    pub into_page: Option<String>,
    /// With --into-page: write the snapshot's comments too (by the integration, under the original
    /// author's name).
    #[arg(long, requires = "into_page")]
    pub comments: bool,
    /// Upload Notion-hosted files again from bronze's copies (synced with NOTION_SYNC_INCLUDE=files);
    /// without it, hosted files a page no longer holds are reported, not written.
    #[arg(long)]
    pub upload_files: bool,
}

/// `views` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ViewsArgs {
    /// Only these databases (repeatable), by configured name.
    #[arg(short = 'd', long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
    /// SQL dialect of the views (default: the sink's own: datafusion for a Delta lake, else the
    /// warehouse's).
    #[arg(long, value_enum)]
    pub dialect: Option<crate::views::render::ViewDialect>,
    /// Also create the views in the warehouse, under NOTION_SYNC_VIEWS_SCHEMA (warehouse sink only).
    #[arg(long)]
    pub apply: bool,
    /// Folder to write `<dialect>/<view>.sql` under (default: NOTION_SYNC_VIEWS_DIR, else sql/generated).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `query` options.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// The SQL (DataFusion's dialect), e.g. "SELECT status, count(*) FROM tasks GROUP BY status".
    pub sql: String,
    /// Query the lake as it was: a version of notion_raw_pages (the other tables as of its commit) or an
    /// RFC 3339 timestamp.
    #[arg(long, value_name = "VERSION|TIMESTAMP")]
    pub as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::query::output::Format,
    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `snapshots` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SnapshotsArgs {
    /// Only these databases' history (repeatable), by configured name.
    #[arg(short = 'd', long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `export` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Where to write: a new or empty directory (`dir`), a new file (`zip`, `sqlite`), or for those an
    /// object URI (s3://, az://, gs://; the lake's object-store settings are used).
    #[arg(long, value_name = "PATH")]
    pub to: String,
    /// The point to export: a version of notion_raw_pages or an RFC 3339 timestamp (default: the latest).
    #[arg(long, value_name = "VERSION|TIMESTAMP", value_parser = crate::restore::AsOf::parse)]
    pub as_of: Option<crate::restore::AsOf>,
    /// Only these databases (repeatable), by configured name.
    #[arg(short = 'd', long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
    /// Layout of the export.
    #[arg(long, value_enum, default_value = "dir")]
    pub format: crate::restore::export::Format,
    /// Encrypt the export (zip or sqlite) to this age recipient (an X25519 public key, `age1...`).
    #[arg(long, value_name = "RECIPIENT")]
    pub encrypt_to: Option<String>,
}

/// `verify` options.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The export: a directory, a zip or SQLite file (encrypted or not), or an object URI.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The age identity file that decrypts an encrypted export.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// `ddl` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DdlArgs {
    /// SQL dialect of the catalog.
    #[arg(long, value_enum, default_value = "databricks")]
    pub dialect: DdlDialect,
    /// Object-store URI of the folder holding the tables (default: LAKEHOUSE_URI/BRONZE_SCHEMA).
    #[arg(long, value_name = "URI")]
    pub location: Option<String>,
    /// Catalog to register the tables in.
    #[arg(long, default_value = "main")]
    pub catalog: String,
    /// Schema to register the tables in (default: BRONZE_SCHEMA).
    #[arg(long)]
    pub schema: Option<String>,
}

/// Dialects `ddl` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DdlDialect {
    /// Databricks SQL (Unity Catalog).
    Databricks,
}

/// `optimize` options.
#[derive(Debug, Clone, clap::Args)]
pub struct OptimizeArgs {
    /// Keep files removed from the tables for this many hours (time travel reaches back that far); older
    /// ones are deleted. The history table keeps every version regardless.
    #[arg(long, value_name = "HOURS", default_value_t = 168)]
    pub retention_hours: u64,
    /// Compact and checkpoint only; delete nothing.
    #[arg(long)]
    pub no_vacuum: bool,
}

/// `sync` options.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Re-read every page (both the default and the archived partition), ignoring watermarks, then flag
    /// rows whose pages vanished.
    #[arg(long)]
    pub full_refresh: bool,
    /// After the incremental read, list every page id (asking Notion for the title only) and flag rows
    /// whose pages were trashed, moved, purged or unshared.
    #[arg(long)]
    pub detect_deletes: bool,
    /// Only these databases (repeatable), by configured name.
    #[arg(short = 'd', long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
    /// Also sync `content` (page blocks), `comments`, `users` and/or `files` (copies of hosted files)
    /// for every database, comma-separated
    /// (added to each database's `notion-sync.toml` options and `NOTION_SYNC_INCLUDE`).
    #[arg(long, value_name = "KINDS")]
    pub include: Option<String>,
    /// After the run, write its metrics to this file in the Prometheus text format (written to a temporary
    /// file in the same directory, then renamed), e.g. for node_exporter's textfile collector.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// `serve` options. Durations are written like the settings': `250ms`, `90s`, `15m`, `24h`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Start a sync of the configured databases this often (a run still going when the next is due makes
    /// that one skipped, never concurrent).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub every: Duration,
    /// Make a run a full refresh (re-read everything, flag what vanished) when none finished within this
    /// long; by default every run is incremental.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub full_refresh_every: Option<Duration>,
    /// Serve `/health` and `/metrics` here. Loopback by default: any other address exposes the error
    /// messages of the runs to that network.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// `/health` answers 503 when a database's last successful sync is at least this old.
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "1h")]
    pub stale_after: Duration,
}

/// Parses a positive duration flag.
fn duration(raw: &str) -> Result<Duration, String> {
    match crate::config::parse_duration(raw) {
        Some(d) if !d.is_zero() => Ok(d),
        Some(_) => Err("must be longer than zero".into()),
        None => Err(format!(
            "{raw:?} is not a duration; write e.g. 250ms, 10s, 5m or 1h"
        )),
    }
}

/// `status` options.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `demo` options.
#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the demo lake.
    #[arg(long, default_value = "./lakehouse-demo")]
    pub lake: String,
    /// Simulator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn demo_subcommand_exists_only_with_the_demo_feature() {
        let has_demo = Cli::command()
            .get_subcommands()
            .any(|c| c.get_name() == "demo");
        assert_eq!(has_demo, cfg!(feature = "demo"));
    }
}
