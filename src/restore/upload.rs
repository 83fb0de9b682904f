//! `--upload-files`: Notion-hosted files sent back from bronze's copies (`NOTION_SYNC_INCLUDE=files`).
//!
//! Notion takes a hosted file back only as a new upload (a request cannot name a hosted file a page
//! does not hold). A plan writes such a file as an upload of its key ([`marker`]); right before the
//! write that carries it, the copy is uploaded (in one part up to 20 MB, in parts of 10 MB above) and
//! the marker resolved to the upload's id. An upload must be attached within an hour, so each is made
//! when it is first needed and made again when it is older than [`UPLOAD_FRESH`].

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::RestoreError;
use super::apply::Created;
use super::journal::Journal;
use super::plan::RECREATED;
use super::write::Remap;
use crate::bronze::FileRecord;
use crate::notion::files::{UploadError, file_key};
use crate::notion::{Client, RequestStats};
use crate::sink::Sink;
use crate::sink::delta::DeltaSink;

/// How long an upload is used before it is made again (Notion expires unattached uploads after an hour).
pub const UPLOAD_FRESH: Duration = Duration::from_secs(45 * 60);

/// What a restore made for hosted file `key`, in its map of what it made.
pub fn upload_ref(key: &str) -> String {
    format!("upload:{key}")
}

/// The reference a plan writes for the upload of `key`, resolved right before the write.
pub fn marker(key: &str) -> String {
    format!("{RECREATED}{}", upload_ref(key))
}

/// A `files` value to send: hosted files the page holds now (`kept`, by key) as they are (Notion keeps
/// them); others as the upload `remap` gives for their [`upload_ref`]; hosted files without a copy
/// are left out and named in `lost`.
pub fn files_value(
    value: &Value,
    kept: &HashSet<String>,
    remap: Remap<'_>,
    lost: &mut Vec<String>,
) -> Value {
    let Some(items) = value.as_array() else {
        return value.clone();
    };
    let mut out = Vec::new();
    for f in items {
        if f["type"] != "file" {
            out.push(f.clone());
            continue;
        }
        let key = f["file"]["url"]
            .as_str()
            .and_then(file_key)
            .unwrap_or_default();
        if kept.contains(&key) {
            out.push(f.clone());
            continue;
        }
        let wanted = upload_ref(&key);
        let id = remap(&wanted);
        if id == wanted {
            lost.push(f["name"].as_str().unwrap_or(&key).to_string());
            continue;
        }
        out.push(json!({"name": f["name"], "type": "file_upload", "file_upload": {"id": id}}));
    }
    Value::Array(out)
}

/// Rewrites the hosted files of live `files` value `have` that a restore uploaded (per `created`'s
/// [`file_ref`] entries) as the snapshot's items in `want` they were uploaded from, so they compare
/// equal.
pub fn as_uploaded_from(have: &mut Value, want: &Value, created: &Created) {
    // Snapshot item by the key Notion gave its upload.
    let uploaded: HashMap<&str, &Value> = want
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let key = f["file"]["url"].as_str().and_then(file_key)?;
            Some((created.get(&file_ref(&key))?.as_str(), f))
        })
        .collect();
    if uploaded.is_empty() {
        return;
    }
    for item in have.as_array_mut().into_iter().flatten() {
        let key = item["file"]["url"].as_str().and_then(file_key);
        if let Some(original) = key.and_then(|k| uploaded.get(k.as_str()).copied()) {
            *item = original.clone();
        }
    }
}

/// The keys of the hosted files a `files` value holds.
pub fn hosted_keys(value: &Value) -> HashSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["type"] == "file")
        .filter_map(|f| f["file"]["url"].as_str().and_then(file_key))
        .collect()
}

/// Bronze's copies, and the uploads made from them.
pub struct Uploads<'a> {
    sink: &'a DeltaSink,
    copies: HashMap<String, FileRecord>,
    made: Mutex<HashMap<String, Instant>>,
}

impl<'a> Uploads<'a> {
    /// The copies bronze holds.
    pub async fn load(sink: &'a Sink) -> Result<Uploads<'a>, RestoreError> {
        let sink = sink.lake("--upload-files")?;
        let copies = sink
            .read_files()
            .await?
            .into_iter()
            .map(|f| (f.file_key.clone(), f))
            .collect();
        Ok(Uploads {
            sink,
            copies,
            made: Mutex::new(HashMap::new()),
        })
    }

    /// The keys of the files bronze holds copies of.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.copies.keys()
    }

    /// Whether bronze holds a copy of `key`.
    pub fn has(&self, key: &str) -> bool {
        self.copies.contains_key(key)
    }

    /// Uploads the files `v` refers to by [`marker`] that have no fresh upload yet; records each upload's
    /// id in `created` under its [`upload_ref`].
    pub async fn prepare(
        &self,
        client: &Client,
        v: &Value,
        created: &mut Created,
        stats: &RequestStats,
    ) -> Result<(), RestoreError> {
        let mut keys = Vec::new();
        markers(v, &mut keys);
        for key in keys {
            let fresh = self
                .made
                .lock()
                .map(|m| m.get(&key).is_some_and(|t| t.elapsed() < UPLOAD_FRESH))
                .unwrap_or(false);
            if fresh && created.contains_key(&upload_ref(&key)) {
                continue;
            }
            let Some(copy) = self.copies.get(&key) else {
                continue;
            };
            let content_type = copy
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            let read =
                |range: std::ops::Range<u64>| self.sink.read_file(&copy.object_path, Some(range));
            let id = client
                .upload_file(
                    &copy.name,
                    &content_type,
                    copy.size_bytes as u64,
                    read,
                    stats,
                )
                .await
                .map_err(|e| match e {
                    UploadError::Notion(n) => RestoreError::from(n),
                    UploadError::Source(s) => RestoreError::from(s),
                })?;
            created.insert(upload_ref(&key), id);
            if let Ok(mut m) = self.made.lock() {
                m.insert(key, Instant::now());
            }
        }
        Ok(())
    }
}

impl Uploads<'_> {
    /// After a write that carried uploads (`sent`, before its markers were resolved) was answered with
    /// `answer`: the key each uploaded file has now, by the snapshot key it was uploaded from, journaled
    /// (`upload`, `file:<snapshot key>` → live key) and kept in `created`, so a later plan sees the
    /// file as restored instead of uploading it again.
    pub async fn record(
        &self,
        sent: &Value,
        answer: &Value,
        database_id: &str,
        journal: &mut Journal<'_>,
        created: &mut Created,
    ) -> Result<(), RestoreError> {
        let mut keys = Vec::new();
        markers(sent, &mut keys);
        if keys.is_empty() {
            return Ok(());
        }
        let mut live = Vec::new();
        hosted_items(answer, &mut live);
        let claimed: HashSet<&String> = created.values().collect();
        let mut found = Vec::new();
        for key in keys {
            let Some(copy) = self.copies.get(&key) else {
                continue;
            };
            let now = live.iter().find(|(k, name)| {
                name == &copy.name
                    && !self.copies.contains_key(k)
                    && !claimed.contains(k)
                    && !found.iter().any(|(_, l): &(String, String)| l == k)
            });
            if let Some((l, _)) = now {
                found.push((key, l.clone()));
            }
        }
        for (key, l) in found {
            let old = file_ref(&key);
            journal
                .outcome(database_id, "upload", &old, "done", Some(&l), None, None)
                .await?;
            created.insert(old, l);
        }
        Ok(())
    }
}

/// What a restore's map of what it made holds for hosted file `key` once uploaded: the key the file
/// has in Notion now.
pub fn file_ref(key: &str) -> String {
    format!("file:{key}")
}

/// The (key, name) of every hosted file object in `v`.
fn hosted_items(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("file")
                && let Some(key) = m
                    .get("file")
                    .and_then(|f| f["url"].as_str())
                    .and_then(file_key)
            {
                let name = m
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| key.rsplit('/').next().map(str::to_string))
                    .unwrap_or_default();
                out.push((key, name));
            }
            m.values().for_each(|x| hosted_items(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| hosted_items(x, out)),
        _ => {}
    }
}

/// The file keys of the upload markers in `v`.
fn markers(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(key) = s
                .strip_prefix(RECREATED)
                .and_then(|r| r.strip_prefix("upload:"))
                && !out.iter().any(|k| k == key)
            {
                out.push(key.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|x| markers(x, out)),
        Value::Object(m) => m.values().for_each(|x| markers(x, out)),
        _ => {}
    }
}
