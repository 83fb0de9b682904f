//! Bronze records ↔ cells, in the column order of each [`TableSpec`](super::schema::TableSpec).

use chrono::{DateTime, Utc};

use super::cells::Cell;
use crate::bronze::{
    DatabaseRecord, PageRecord, RejectRecord, RestoreLogRecord, RunRecord, RunStatus, SyncMode,
    WatermarkRecord,
};

pub(super) fn s(v: &str) -> Cell {
    Cell::Str(Some(v.to_string()))
}

pub(super) fn os(v: &Option<String>) -> Cell {
    Cell::Str(v.clone())
}

pub(super) fn t(v: DateTime<Utc>) -> Cell {
    Cell::Ts(Some(v))
}

/// A page row as stored, with the column the sink owns.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPage {
    /// The row.
    pub record: PageRecord,
    /// When the page first reached bronze.
    pub first_synced_at: DateTime<Utc>,
}

/// Cells of a page row (`first_synced_at` = `synced_at` for inserts; the MERGE keeps the stored one).
pub fn page_cells(r: &PageRecord) -> Vec<Cell> {
    vec![
        s(&r.page_id),
        s(&r.database_id),
        s(&r.data_source_id),
        s(&r.database_name),
        t(r.created_time),
        t(r.last_edited_time),
        os(&r.created_by),
        os(&r.last_edited_by),
        Cell::Bool(Some(r.in_trash)),
        Cell::Bool(Some(r.is_archived)),
        Cell::Bool(Some(r.is_deleted)),
        Cell::Ts(r.deleted_at),
        os(&r.url),
        os(&r.public_url),
        s(&r.title),
        s(&r.properties),
        s(&r.payload),
        s(&r.payload_sha256),
        s(&r.api_version),
        t(r.synced_at),
        t(r.synced_at),
        s(&r.sync_run_id),
        os(&r.deleted_reason),
        Cell::Str(hydrated_text(&r.hydrated_properties)),
    ]
}

/// `hydrated_properties` as stored: a JSON array of property ids, null when none.
fn hydrated_text(ids: &[String]) -> Option<String> {
    (!ids.is_empty()).then(|| serde_json::Value::from(ids.to_vec()).to_string())
}

/// Cells of a history row: the page as observed by this run.
pub fn version_cells(r: &PageRecord) -> Vec<Cell> {
    vec![
        s(&r.page_id),
        s(&r.database_id),
        s(&r.data_source_id),
        t(r.last_edited_time),
        Cell::Bool(Some(r.in_trash)),
        Cell::Bool(Some(r.is_archived)),
        Cell::Bool(Some(r.is_deleted)),
        s(&r.payload_sha256),
        s(&r.payload),
        s(&r.api_version),
        t(r.synced_at),
        s(&r.sync_run_id),
    ]
}

/// One row of `notion_raw_page_versions`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion {
    /// Page id.
    pub page_id: String,
    /// Database id.
    pub database_id: String,
    /// Data source id.
    pub data_source_id: String,
    /// `last_edited_time` of this version.
    pub last_edited_time: DateTime<Utc>,
    /// Trash flag of this version.
    pub in_trash: bool,
    /// Deleted flag when observed.
    pub is_deleted: bool,
    /// Hash of `payload`.
    pub payload_sha256: String,
    /// The page JSON.
    pub payload: String,
    /// When it was first observed.
    pub observed_at: DateTime<Utc>,
    /// The run that observed it.
    pub sync_run_id: String,
}

/// A history row from its cells.
pub fn version_from(c: &[Cell]) -> StoredVersion {
    StoredVersion {
        page_id: c[0].text(),
        database_id: c[1].text(),
        data_source_id: c[2].text(),
        last_edited_time: c[3].ts().unwrap_or_default(),
        in_trash: c[4].flag(),
        is_deleted: c[6].flag(),
        payload_sha256: c[7].text(),
        payload: c[8].text(),
        observed_at: c[10].ts().unwrap_or_default(),
        sync_run_id: c[11].text(),
    }
}

/// A page row from its cells.
pub fn page_from(c: &[Cell]) -> StoredPage {
    StoredPage {
        record: PageRecord {
            page_id: c[0].text(),
            database_id: c[1].text(),
            data_source_id: c[2].text(),
            database_name: c[3].text(),
            created_time: c[4].ts().unwrap_or_default(),
            last_edited_time: c[5].ts().unwrap_or_default(),
            created_by: c[6].opt_text(),
            last_edited_by: c[7].opt_text(),
            in_trash: c[8].flag(),
            is_archived: c[9].flag(),
            is_deleted: c[10].flag(),
            deleted_at: c[11].ts(),
            url: c[12].opt_text(),
            public_url: c[13].opt_text(),
            title: c[14].text(),
            properties: c[15].text(),
            payload: c[16].text(),
            payload_sha256: c[17].text(),
            api_version: c[18].text(),
            synced_at: c[20].ts().unwrap_or_default(),
            sync_run_id: c[21].text(),
            deleted_reason: c[22].opt_text(),
            hydrated_properties: c[23]
                .opt_text()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        },
        first_synced_at: c[19].ts().unwrap_or_default(),
    }
}

/// Cells of a schema snapshot.
pub fn database_cells(r: &DatabaseRecord) -> Vec<Cell> {
    vec![
        s(&r.database_id),
        s(&r.data_source_id),
        s(&r.database_name),
        s(&r.title),
        s(&r.schema),
        s(&r.payload),
        s(&r.schema_sha256),
        s(&r.api_version),
        t(r.observed_at),
        s(&r.sync_run_id),
    ]
}

/// A schema snapshot from its cells.
pub fn database_from(c: &[Cell]) -> DatabaseRecord {
    DatabaseRecord {
        database_id: c[0].text(),
        data_source_id: c[1].text(),
        database_name: c[2].text(),
        title: c[3].text(),
        schema: c[4].text(),
        payload: c[5].text(),
        schema_sha256: c[6].text(),
        api_version: c[7].text(),
        observed_at: c[8].ts().unwrap_or_default(),
        sync_run_id: c[9].text(),
    }
}

/// Cells of a watermark row.
pub fn watermark_cells(r: &WatermarkRecord) -> Vec<Cell> {
    vec![
        s(&r.database_id),
        s(&r.data_source_id),
        s(&r.database_name),
        Cell::Ts(r.watermark),
        Cell::Ts(r.last_full_refresh_at),
        s(&r.last_run_id),
        t(r.updated_at),
        Cell::Ts(r.query_started_at),
    ]
}

/// A watermark row from its cells.
pub fn watermark_from(c: &[Cell]) -> WatermarkRecord {
    WatermarkRecord {
        database_id: c[0].text(),
        data_source_id: c[1].text(),
        database_name: c[2].text(),
        watermark: c[3].ts(),
        last_full_refresh_at: c[4].ts(),
        last_run_id: c[5].text(),
        updated_at: c[6].ts().unwrap_or_default(),
        query_started_at: c[7].ts(),
    }
}

/// Cells of a run row.
pub fn run_cells(r: &RunRecord) -> Vec<Cell> {
    let n = |v: i64| Cell::I64(Some(v));
    vec![
        s(&r.run_id),
        s(&r.database_name),
        s(&r.database_id),
        t(r.started_at),
        t(r.finished_at),
        s(r.status.as_str()),
        s(r.mode.as_str()),
        n(r.fetched),
        n(r.inserted),
        n(r.updated),
        n(r.unchanged),
        n(r.soft_deleted),
        n(r.hydration_requests),
        n(r.api_requests),
        n(r.throttled_429),
        n(r.retries),
        n(r.restarts),
        Cell::Ts(r.watermark_before),
        Cell::Ts(r.watermark_after),
        os(&r.error_class),
        os(&r.error_message),
        s(&r.tool_version),
        s(&r.api_version),
        n(r.rejected),
        n(r.wait_ms),
        n(r.content.pages),
        n(r.content.requests),
        n(r.content.written),
        n(r.content.deleted),
        n(r.content.depth_cuts),
    ]
}

/// Cells of a reject row.
pub fn reject_cells(r: &RejectRecord) -> Vec<Cell> {
    vec![
        s(&r.database_id),
        s(&r.data_source_id),
        s(&r.database_name),
        os(&r.page_id),
        s(&r.error),
        s(&r.raw),
        s(&r.raw_sha256),
        t(r.observed_at),
        s(&r.sync_run_id),
    ]
}

/// A reject row from its cells.
pub fn reject_from(c: &[Cell]) -> RejectRecord {
    RejectRecord {
        database_id: c[0].text(),
        data_source_id: c[1].text(),
        database_name: c[2].text(),
        page_id: c[3].opt_text(),
        error: c[4].text(),
        raw: c[5].text(),
        raw_sha256: c[6].text(),
        observed_at: c[7].ts().unwrap_or_default(),
        sync_run_id: c[8].text(),
    }
}

/// A run row from its cells.
pub fn run_from(c: &[Cell]) -> RunRecord {
    RunRecord {
        run_id: c[0].text(),
        database_name: c[1].text(),
        database_id: c[2].text(),
        started_at: c[3].ts().unwrap_or_default(),
        finished_at: c[4].ts().unwrap_or_default(),
        status: match c[5].text().as_str() {
            "succeeded" => RunStatus::Succeeded,
            "unchanged" => RunStatus::Unchanged,
            _ => RunStatus::Failed,
        },
        mode: match c[6].text().as_str() {
            "full_refresh" => SyncMode::FullRefresh,
            _ => SyncMode::Incremental,
        },
        fetched: c[7].int(),
        inserted: c[8].int(),
        updated: c[9].int(),
        unchanged: c[10].int(),
        soft_deleted: c[11].int(),
        hydration_requests: c[12].int(),
        api_requests: c[13].int(),
        throttled_429: c[14].int(),
        retries: c[15].int(),
        restarts: c[16].int(),
        watermark_before: c[17].ts(),
        watermark_after: c[18].ts(),
        error_class: c[19].opt_text(),
        error_message: c[20].opt_text(),
        tool_version: c[21].text(),
        api_version: c[22].text(),
        rejected: c[23].int(),
        wait_ms: c[24].int(),
        content: crate::bronze::ContentCounts {
            pages: c[25].int(),
            requests: c[26].int(),
            written: c[27].int(),
            deleted: c[28].int(),
            depth_cuts: c[29].int(),
        },
    }
}

/// Cells of a restore journal row.
pub fn restore_log_cells(r: &RestoreLogRecord) -> Vec<Cell> {
    let s = |v: &str| Cell::Str(Some(v.to_string()));
    vec![
        s(&r.restore_id),
        Cell::I64(Some(r.step)),
        s(&r.database_id),
        s(&r.action),
        s(&r.old_id),
        Cell::Str(r.new_id.clone()),
        s(&r.status),
        Cell::Str(r.request_id.clone()),
        Cell::Str(r.detail.clone()),
        Cell::Ts(Some(r.at)),
    ]
}

/// A restore journal row from its cells.
pub fn restore_log_from(c: &[Cell]) -> RestoreLogRecord {
    RestoreLogRecord {
        restore_id: c[0].text(),
        step: c[1].int(),
        database_id: c[2].text(),
        action: c[3].text(),
        old_id: c[4].text(),
        new_id: c[5].opt_text(),
        status: c[6].text(),
        request_id: c[7].opt_text(),
        detail: c[8].opt_text(),
        at: c[9].ts().unwrap_or_default(),
    }
}
