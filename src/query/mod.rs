//! `notion-sync query`: SQL over the Delta lake with DataFusion, no Spark needed.
//!
//! Every bronze table is registered by its name and every database's typed view by the database's name
//! (plus `<name>_deleted`), all at the same point: the latest state, a version of `notion_raw_pages` (the
//! other tables as they were when that version was committed) or a point in time. Results stream from
//! DataFusion to the output ([`output`]) batch by batch.

pub mod output;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::prelude::SessionContext;

use crate::bronze::DatabaseRecord;
use crate::restore::AsOf;
use crate::sink::SinkError;
use crate::sink::delta::{DeltaSink, TableAt};
use crate::sink::tables;
use crate::views::render::{Target, ViewDialect};
use crate::views::{self, ViewSpec};

/// Pages read per database to learn formula and rollup result types.
pub const SAMPLE_PAGES: usize = 200;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL does not parse or plan (DataFusion's message): exit 2.
    #[error("{0}")]
    Sql(String),
    /// Reading the lake failed.
    #[error(transparent)]
    Lake(#[from] SinkError),
    /// Running the query or writing its output failed.
    #[error("{message}")]
    Run {
        /// What failed.
        message: String,
        /// Whether retrying later may work (object-store and I/O faults).
        transient: bool,
    },
}

impl QueryError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            QueryError::Sql(_) => crate::exit::USAGE,
            QueryError::Lake(e) => crate::exit::for_class(e.class()),
            QueryError::Run {
                transient: true, ..
            } => crate::exit::TRANSIENT,
            QueryError::Run { .. } => crate::exit::INTERNAL,
        }
    }
}

/// DataFusion's error, classed: a planning error is the user's SQL, an I/O or object-store error
/// transient, anything else internal. Never carries a secret.
pub fn classify(e: DataFusionError) -> QueryError {
    let message = crate::config::scrub_secrets(e.to_string());
    match e.find_root() {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => QueryError::Sql(message),
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => QueryError::Run {
            message,
            transient: true,
        },
        _ => QueryError::Run {
            message,
            transient: false,
        },
    }
}

/// A DataFusion session over `lake` at `at`, with every bronze table and typed view registered; also
/// returns the views.
pub async fn session(
    lake: &DeltaSink,
    at: AsOf,
) -> Result<(SessionContext, Vec<ViewSpec>), QueryError> {
    let ctx = SessionContext::new();
    views::udf::register(&ctx);
    let point = match at {
        AsOf::Latest => None,
        AsOf::Time(t) => Some(t),
        AsOf::Version(v) => Some(lake.committed_at(tables::PAGES, v).await?.ok_or_else(|| {
            QueryError::Sql(format!(
                "--as-of {v}: notion_raw_pages has no commit {v} (see `notion-sync snapshots`)"
            ))
        })?),
    };
    for name in tables::ALL {
        let table_at = match (at, point) {
            (AsOf::Version(v), _) if name == tables::PAGES => TableAt::Version(v),
            (_, Some(t)) => TableAt::Time(t),
            _ => TableAt::Latest,
        };
        register(lake, &ctx, name, table_at).await?;
    }
    let specs = plan_views(lake, &ctx, point).await?;
    let target = Target {
        pages: tables::PAGES.to_string(),
        schema: None,
    };
    for v in &specs {
        for stmt in views::render::statements(ViewDialect::Datafusion, &target, v) {
            ctx.sql(&stmt).await.map_err(classify)?;
        }
    }
    Ok((ctx, specs))
}

/// Every database's view as of now, planned from the lake (`notion-sync views`): only the pages table is
/// registered, for the formula samples.
pub async fn latest_views(lake: &DeltaSink) -> Result<Vec<ViewSpec>, QueryError> {
    let ctx = SessionContext::new();
    register(lake, &ctx, tables::PAGES, TableAt::Latest).await?;
    plan_views(lake, &ctx, None).await
}

/// Registers table `name` at `at` in `ctx`, when it exists then.
async fn register(
    lake: &DeltaSink,
    ctx: &SessionContext,
    name: &str,
    at: TableAt,
) -> Result<(), QueryError> {
    let Some(table) = lake.table_at(name, at).await? else {
        return Ok(());
    };
    let internal = |e: &dyn std::fmt::Display| SinkError::Internal {
        table: name.to_string(),
        reason: crate::config::scrub_secrets(e.to_string()),
    };
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| internal(&e))?;
    let provider = table.table_provider().await.map_err(|e| internal(&e))?;
    ctx.register_table(name, provider).map_err(classify)?;
    Ok(())
}

/// Runs `sql` in `ctx` and writes its result to `out` in `format` as it streams; returns the rows.
pub async fn run_sql(
    ctx: &SessionContext,
    sql: &str,
    format: output::Format,
    out: Box<dyn std::io::Write + Send>,
) -> Result<u64, QueryError> {
    let df = ctx.sql(sql).await.map_err(classify)?;
    let stream = df.execute_stream().await.map_err(classify)?;
    output::write(stream, format, out).await
}

/// The views of the databases whose schema snapshots were observed by `point` (all when `None`). The
/// snapshots come from the latest `notion_raw_databases`: a sync commits a database's snapshot after its
/// pages, so the table as of a pages version may lack the snapshot those pages were read with.
async fn plan_views(
    lake: &DeltaSink,
    ctx: &SessionContext,
    point: Option<DateTime<Utc>>,
) -> Result<Vec<ViewSpec>, QueryError> {
    if !ctx.table_exist(tables::PAGES).map_err(classify)?
        || lake
            .table_at(tables::DATABASES, TableAt::Latest)
            .await?
            .is_none()
    {
        return Ok(Vec::new());
    }
    let mut schemas = lake.read_schemas().await?;
    if let Some(t) = point {
        schemas.retain(|s| s.observed_at <= t);
    }
    let mut samples = HashMap::new();
    for db in needs_samples(&schemas) {
        let sql = format!(
            "SELECT properties FROM {} WHERE database_id = {} AND NOT is_deleted LIMIT {SAMPLE_PAGES}",
            tables::PAGES,
            views::render::literal(ViewDialect::Datafusion, &db)
        );
        let mut texts = Vec::new();
        for b in collect(ctx, &sql).await? {
            let a = cast(b.column(0), &DataType::Utf8).map_err(|e| run(e.to_string()))?;
            if let Some(a) = a.as_any().downcast_ref::<StringArray>() {
                texts.extend(a.iter().flatten().map(str::to_string));
            }
        }
        samples.insert(db, texts);
    }
    Ok(views::plan(&schemas, &samples))
}

/// The databases whose latest schema has a formula or rollup, whose result type only pages tell.
pub fn needs_samples(schemas: &[DatabaseRecord]) -> Vec<String> {
    let mut out: Vec<String> = views::latest(schemas)
        .into_iter()
        .filter(|s| s.schema.contains("\"formula\"") || s.schema.contains("\"rollup\""))
        .map(|s| s.database_id.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
    ctx.sql(sql)
        .await
        .map_err(classify)?
        .collect()
        .await
        .map_err(classify)
}

fn run(message: String) -> QueryError {
    QueryError::Run {
        message,
        transient: false,
    }
}
