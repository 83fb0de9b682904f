//! Database → data sources, with a schema snapshot of each.

use chrono::{DateTime, Utc};
use serde_json::Value;
use serde_json::value::RawValue;

use super::convert::{RowContext, json_sha256};
use crate::bronze::DatabaseRecord;
use crate::config::DatabaseConfig;
use crate::notion::ids::normalize_id;
use crate::notion::model::plain_text;
use crate::notion::{Client, NotionError, RequestStats};

/// A data source to query, with its schema snapshot.
#[derive(Debug, Clone)]
pub struct Source {
    /// Data source id (the database id under 2022-06-28).
    pub data_source_id: String,
    /// The snapshot row for `notion_raw_databases`.
    pub snapshot: DatabaseRecord,
}

/// Resolves a configured database to its data sources. Under 2025-09-03+ that is `GET /v1/databases/{id}`
/// and one `GET /v1/data_sources/{id}` per source; under 2022-06-28 the database is its only source.
///
/// With `known` data source ids (from earlier runs) the database read is skipped: an incremental run with
/// nothing to do then costs one schema read and one query per data source. Should one of them be gone,
/// the database is read after all.
pub async fn resolve_sources(
    client: &Client,
    db: &DatabaseConfig,
    known: Option<&[String]>,
    run_id: &str,
    observed_at: DateTime<Utc>,
    stats: &RequestStats,
) -> Result<Vec<Source>, NotionError> {
    let ctx = RowContext {
        database_id: db.id.clone(),
        data_source_id: db.id.clone(),
        database_name: db.name.clone(),
        api_version: client.api_version(),
        run_id: run_id.to_string(),
        synced_at: observed_at,
    };
    if let Some(ids) =
        known.filter(|ids| !ids.is_empty() && client.api_version().has_data_sources())
    {
        match data_sources(client, &ctx, ids, stats).await {
            Ok(sources) => return Ok(sources),
            Err(e) if e.status == Some(404) => {
                tracing::info!(database = %db.name, "a known data source is gone; reading the database");
            }
            Err(e) => return Err(e),
        }
    }
    resolve_all(client, db, &ctx, stats).await
}

/// `GET` each data source and snapshot its schema.
async fn data_sources(
    client: &Client,
    ctx: &RowContext,
    ids: &[String],
    stats: &RequestStats,
) -> Result<Vec<Source>, NotionError> {
    let mut sources = Vec::with_capacity(ids.len());
    for ds in ids {
        let raw: Box<RawValue> = client
            .get(&format!("/v1/data_sources/{ds}"), &[], Some(ds), stats)
            .await?;
        sources.push(Source {
            snapshot: schema_record(
                &raw,
                &RowContext {
                    data_source_id: ds.clone(),
                    ..ctx.clone()
                },
            ),
            data_source_id: ds.clone(),
        });
    }
    Ok(sources)
}

async fn resolve_all(
    client: &Client,
    db: &DatabaseConfig,
    ctx: &RowContext,
    stats: &RequestStats,
) -> Result<Vec<Source>, NotionError> {
    let not_shared = |e: NotionError| {
        if e.status == Some(404) {
            let hint = format!(
                "database '{}' ({}) is not shared with the integration or does not exist: open it in Notion, \
                 ... > Connections > add the integration, or fix NOTION_{}_DB_ID",
                db.name,
                db.id,
                db.name.to_ascii_uppercase()
            );
            e.with_hint(hint)
        } else {
            e
        }
    };
    let database: Box<RawValue> = client
        .get(
            &format!("/v1/databases/{}", db.id),
            &[],
            Some(&db.id),
            stats,
        )
        .await
        .map_err(not_shared)?;
    if !client.api_version().has_data_sources() {
        return Ok(vec![Source {
            data_source_id: db.id.clone(),
            snapshot: schema_record(&database, ctx),
        }]);
    }
    let container: Value = serde_json::from_str(database.get()).unwrap_or(Value::Null);
    let ids: Vec<String> = container
        .get("data_sources")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.get("id").and_then(Value::as_str).and_then(normalize_id))
                .collect()
        })
        .unwrap_or_default();
    data_sources(client, ctx, &ids, stats)
        .await
        .map_err(not_shared)
}

/// The schema snapshot of a data source (or a 2022-06-28 database) object, stamped with `ctx`.
pub fn schema_record(raw: &RawValue, ctx: &RowContext) -> DatabaseRecord {
    let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    let schema = value
        .get("properties")
        .cloned()
        .unwrap_or(Value::Null)
        .to_string();
    DatabaseRecord {
        database_id: ctx.database_id.clone(),
        data_source_id: ctx.data_source_id.clone(),
        database_name: ctx.database_name.clone(),
        title: plain_text(value.get("title").unwrap_or(&Value::Null)),
        schema_sha256: json_sha256(&schema),
        schema,
        payload: raw.get().to_string(),
        api_version: ctx.api_version.as_str().to_string(),
        observed_at: ctx.synced_at,
        sync_run_id: ctx.run_id.clone(),
    }
}
