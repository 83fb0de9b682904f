//! Raw page JSON → bronze row.

use std::borrow::Cow;

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
///
/// The canonical form is the text `serde_json::Value::to_string` gives, written straight into the hasher
/// from a borrowed parse (no map or string per node), which keeps hashing off the allocator.
pub fn json_sha256(text: &str) -> String {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde::Deserialize::deserialize(&mut de).and_then(|c: Canon<'_>| {
        de.end()?;
        Ok(c)
    });
    match parsed {
        Ok(canon) => {
            let mut out = HashWriter(Sha256::new());
            canon.write(&mut out);
            hex::encode(out.0.finalize())
        }
        Err(_) => sha256_hex(text),
    }
}

/// The hash of a page or block payload: [`json_sha256`] of it without the signatures of its
/// Notion-hosted files ([`crate::notion::files::unsigned`]), so an unchanged page or block keeps its
/// hash although every read signs its files anew. The payload itself is stored as received.
pub fn payload_sha256(text: &str) -> String {
    if !crate::notion::files::may_hold_hosted(text) {
        return json_sha256(text);
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => json_sha256(&crate::notion::files::unsigned(&v).to_string()),
        Err(_) => json_sha256(text),
    }
}

/// A JSON value borrowed from its text, as the canonical hash needs it.
enum Canon<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Cow<'a, str>),
    Array(Vec<Canon<'a>>),
    Object(Vec<(Cow<'a, str>, Canon<'a>)>),
}

impl Canon<'_> {
    fn write(&self, out: &mut HashWriter) {
        match self {
            Canon::Null => out.put(b"null"),
            Canon::Bool(true) => out.put(b"true"),
            Canon::Bool(false) => out.put(b"false"),
            Canon::Number(n) => out.json(n),
            Canon::Str(s) => out.json(s),
            Canon::Array(items) => {
                out.put(b"[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.put(b",");
                    }
                    item.write(out);
                }
                out.put(b"]");
            }
            Canon::Object(entries) => {
                out.put(b"{");
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.put(b",");
                    }
                    out.json(key);
                    out.put(b":");
                    value.write(out);
                }
                out.put(b"}");
            }
        }
    }
}

/// Feeds canonical JSON text into SHA-256.
struct HashWriter(Sha256);

impl HashWriter {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Writes a string or number exactly as `serde_json` serialises it.
    fn json<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        // Writing into a hasher cannot fail, and these types always serialise.
        let _ = serde_json::to_writer(&mut *self, value);
    }
}

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for Canon<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CanonVisitor)
    }
}

struct CanonVisitor;

impl<'de> serde::de::Visitor<'de> for CanonVisitor {
    type Value = Canon<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Canon::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Canon::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Canon::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Canon::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // serde_json never yields a non-finite float; `Value` would store one as null.
        Ok(serde_json::Number::from_f64(v).map_or(Canon::Null, Canon::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Canon::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Canon::Str(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Canon::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Canon::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Canon<'de>)> = Vec::new();
        while let Some(key) = map.next_key::<Canon<'de>>()? {
            let Canon::Str(key) = key else {
                return Err(serde::de::Error::custom("object key is not a string"));
            };
            entries.push((key, map.next_value()?));
        }
        // Sorted by key, the last of equal keys winning: the order and choice of a `BTreeMap`.
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        Ok(Canon::Object(entries))
    }
}

/// Converts one query result into a page row. `Ok(None)` for results that are not pages (a wiki's query
/// can list data sources). A page without a well-formed id or without `last_edited_time` cannot be a row:
/// it is an error naming the page, and the caller rejects the result (it is kept raw, with that message,
/// in the rejects table) instead of dropping it unseen.
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
        payload_sha256: payload_sha256(&payload),
        payload,
        hydrated_properties: Vec::new(),
        api_version: ctx.api_version.as_str().to_string(),
        synced_at: ctx.synced_at,
        sync_run_id: ctx.run_id.clone(),
    }))
}

/// A row context for unit tests.
#[cfg(test)]
pub(crate) fn test_ctx() -> RowContext {
    RowContext {
        database_id: "d".into(),
        data_source_id: "s".into(),
        database_name: "tasks".into(),
        api_version: ApiVersion::V2025_09_03,
        run_id: "r".into(),
        synced_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> RowContext {
        test_ctx()
    }

    #[test]
    fn hosted_files_signed_anew_keep_the_payload_hash() {
        let at = |date: &str, sig: &str| {
            format!(
                r#"{{"id":"b","type":"image","image":{{"type":"file","caption":[],"file":{{"url":"https://s3.example/ws/1/a.png?X-Amz-Date={date}&X-Amz-Signature={sig}","expiry_time":"{date}"}}}}}}"#
            )
        };
        let (first, later) = (at("20260101T000000Z", "aa"), at("20260101T010000Z", "bb"));
        assert_eq!(payload_sha256(&first), payload_sha256(&later));
        let other = first.replace("ws/1/a.png", "ws/2/b.png");
        assert_ne!(payload_sha256(&first), payload_sha256(&other));
        let plain = r#"{"id":"p","properties":{}}"#;
        assert_eq!(payload_sha256(plain), json_sha256(plain));
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
    fn canonical_hash_is_the_sorted_value_text() {
        for text in [
            r#"{"b":1,"a":[true,null,-0.0,1e3,12345678901234567890,-5,"x\u00e9\n\"q\""],"c":{"z":{},"y":[]}}"#,
            r#"{"k":1,"k":2,"é":"\ud83d\ude00","":0.1}"#,
            r#"  [ 1.5e-7 , "a\/b" , { } ] "#,
            "\"just a string\"",
            "17",
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(json_sha256(text), sha256_hex(&value.to_string()), "{text}");
        }
        assert_eq!(json_sha256("{\"a\":1} x"), sha256_hex("{\"a\":1} x"));
        assert_eq!(json_sha256("not json"), sha256_hex("not json"));
    }

    #[test]
    fn non_pages_are_skipped() {
        let raw = RawValue::from_string(r#"{"object":"data_source","id":"x"}"#.into()).unwrap();
        assert!(page_record(&raw, &ctx()).unwrap().is_none());
    }
}
