//! Raw page JSON → bronze row.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::bronze::PageRecord;
use crate::notion::ApiVersion;
use crate::notion::ids::normalize_id;
use crate::notion::model::{PageEnvelope, title_of};

/// Lineage stamped on every row read from one data source in one run.
#[derive(Debug, Clone)]
pub struct RowContext {
    /// Database id.
    pub database_id: String,
    /// Data source id.
    pub data_source_id: String,
    /// Configured database name.
    pub database_name: String,
    /// API version used.
    pub api_version: ApiVersion,
    /// Run id.
    pub run_id: String,
    /// Time the run stamps on rows.
    pub synced_at: DateTime<Utc>,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The content hash of a JSON document: SHA-256 of its canonical form (keys sorted, no whitespace), so the
/// same content hashes the same whether it came from a query, a page read or a hydration. Text that is not
/// JSON hashes as it is.
pub fn json_sha256(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => sha256_hex(&v.to_string()),
        Err(_) => sha256_hex(text),
    }
}

/// Converts one query result into a page row. `Ok(None)` for results that are not pages (a wiki's query
/// can list data sources). A page without an id or `last_edited_time` is an error naming the page: it is
/// never silently skipped, because the watermark would then move past it.
pub fn page_record(raw: &RawValue, ctx: &RowContext) -> Result<Option<PageRecord>, String> {
    let env: PageEnvelope = serde_json::from_str(raw.get()).map_err(|e| {
        let head: String = raw.get().chars().take(120).collect();
        format!("a query result could not be decoded ({e}); it starts with {head}")
    })?;
    if env.object != "page" {
        return Ok(None);
    }
    let page_id =
        normalize_id(&env.id).ok_or_else(|| format!("a page has a malformed id {:?}", env.id))?;
    let last_edited_time = env
        .last_edited_time
        .ok_or_else(|| format!("page {page_id} has no last_edited_time"))?;
    let created_time = env.created_time.unwrap_or(last_edited_time);
    let properties = env.properties.as_deref().map(RawValue::get).unwrap_or("{}");
    let title = env.properties.as_deref().map(title_of).unwrap_or_default();
    let payload = raw.get().to_string();
    Ok(Some(PageRecord {
        page_id,
        database_id: ctx.database_id.clone(),
        data_source_id: ctx.data_source_id.clone(),
        database_name: ctx.database_name.clone(),
        created_time,
        last_edited_time,
        created_by: env.created_by.map(|u| u.id),
        last_edited_by: env.last_edited_by.map(|u| u.id),
        // Before 2026-03-11 `archived` was the trash flag's alias.
        in_trash: env.in_trash || env.archived,
        is_archived: env.is_archived,
        is_deleted: false,
        deleted_at: None,
        deleted_reason: None,
        url: env.url,
        public_url: env.public_url,
        title,
        properties: properties.to_string(),
        payload_sha256: json_sha256(&payload),
        payload,
        hydrated_properties: Vec::new(),
        api_version: ctx.api_version.as_str().to_string(),
        synced_at: ctx.synced_at,
        sync_run_id: ctx.run_id.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RowContext {
        RowContext {
            database_id: "d".into(),
            data_source_id: "s".into(),
            database_name: "tasks".into(),
            api_version: ApiVersion::V2025_09_03,
            run_id: "r".into(),
            synced_at: Utc::now(),
        }
    }

    #[test]
    fn envelope_fields_and_verbatim_payload() {
        let text = r#"{"object":"page","id":"195DE9221179449FAB8075A27C979105","created_time":"2026-01-01T10:00:00.000Z",
            "last_edited_time":"2026-01-02T11:03:00.000Z","created_by":{"object":"user","id":"u1"},
            "archived":true,"is_archived":false,"url":"https://www.notion.so/x",
            "properties":{"Name":{"id":"title","type":"title","title":[{"plain_text":"Hi"}]},"Z":{"type":"hologram","hologram":1}}}"#;
        let raw = RawValue::from_string(text.to_string()).unwrap();
        let row = page_record(&raw, &ctx()).unwrap().unwrap();
        assert_eq!(row.page_id, "195de922-1179-449f-ab80-75a27c979105");
        assert_eq!(row.title, "Hi");
        assert!(row.in_trash);
        assert_eq!(row.payload, text);
        assert_eq!(row.payload_sha256, json_sha256(text));
        assert!(row.properties.contains("hologram"));
        assert_eq!(
            row.last_edited_time.to_rfc3339(),
            "2026-01-02T11:03:00+00:00"
        );
    }

    #[test]
    fn missing_last_edited_time_names_the_page() {
        let raw = RawValue::from_string(
            r#"{"object":"page","id":"195de9221179449fab8075a27c979105"}"#.into(),
        )
        .unwrap();
        let err = page_record(&raw, &ctx()).unwrap_err();
        assert!(
            err.contains("195de922-1179-449f-ab80-75a27c979105"),
            "{err}"
        );
    }

    #[test]
    fn non_pages_are_skipped() {
        let raw = RawValue::from_string(r#"{"object":"data_source","id":"x"}"#.into()).unwrap();
        assert!(page_record(&raw, &ctx()).unwrap().is_none());
    }
}
