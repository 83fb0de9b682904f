//! Copies of Notion-hosted files (`NOTION_SYNC_INCLUDE=files`): a page's `files` properties, icon and
//! cover, and the media blocks of its content, when Notion hosts them (`type: "file"`; external files
//! are only links). Their signed URLs expire an hour after they were read, so each batch's files are
//! copied right after the batch is read and before its page rows are committed: a crash in between
//! reads the pages again, and the copy is repeated (a file's object is named by its key, so nothing is
//! stored twice). A file already copied is not copied again.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::SyncError;
use super::source::SourceJob;
use crate::bronze::FileRecord;
use crate::notion::files::{file_error, file_key};
use crate::notion::{Client, ErrorClass};
use crate::sink::{BronzeSink, SinkError};

/// A Notion-hosted file a page or block holds.
#[derive(Debug, Clone, PartialEq)]
pub struct HostedFile {
    /// Its URL path (stable while the file exists).
    pub key: String,
    /// The signed URL it was read with.
    pub url: String,
    /// Its name.
    pub name: String,
    /// The page holding it.
    pub page_id: String,
    /// The media block holding it.
    pub block_id: Option<String>,
    /// The files property holding it (its id).
    pub property_id: Option<String>,
}

/// The URL and name of a file object Notion hosts (`{"type": "file", "file": {"url"}}`).
fn hosted(item: &Value) -> Option<(String, String)> {
    if item["type"] != "file" {
        return None;
    }
    let url = item["file"]["url"].as_str()?.to_string();
    let name = item["name"]
        .as_str()
        .map(str::to_string)
        .or_else(|| file_key(&url)?.rsplit('/').next().map(str::to_string))
        .unwrap_or_default();
    Some((url, name))
}

/// The hosted files of a page object: its `files` properties, icon and cover.
pub fn in_page(page_id: &str, page: &Value) -> Vec<HostedFile> {
    let mut out = Vec::new();
    let mut push = |item: &Value, property_id: Option<String>| {
        if let Some((url, name)) = hosted(item)
            && let Some(key) = file_key(&url)
        {
            out.push(HostedFile {
                key,
                url,
                name,
                page_id: page_id.to_string(),
                block_id: None,
                property_id,
            });
        }
    };
    for prop in page["properties"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        if prop["type"] == "files" {
            for item in prop["files"].as_array().into_iter().flatten() {
                push(item, prop["id"].as_str().map(str::to_string));
            }
        }
    }
    push(&page["icon"], None);
    push(&page["cover"], None);
    out
}

/// The hosted file of a media block (`image`, `video`, `audio`, `pdf`, `file`), if any.
pub fn in_block(page_id: &str, block: &Value) -> Option<HostedFile> {
    let kind = block["type"].as_str()?;
    if !matches!(kind, "image" | "video" | "audio" | "pdf" | "file") {
        return None;
    }
    let (url, name) = hosted(&block[kind])?;
    Some(HostedFile {
        key: file_key(&url)?,
        url,
        name,
        page_id: page_id.to_string(),
        block_id: block["id"].as_str().map(str::to_string),
        property_id: None,
    })
}

/// Copies `files` not in `copied` into the lake and records them; adds their keys to `copied`.
/// Returns how many were copied.
pub async fn copy<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
    files: Vec<HostedFile>,
    copied: &mut HashSet<String>,
) -> Result<usize, SyncError> {
    let mut rows = Vec::new();
    for f in files {
        if !copied.insert(f.key.clone()) {
            continue;
        }
        let row = match copy_one(client, sink, job, &f, &f.url).await {
            // The URL expired since the read (a long batch): read the object again for a fresh one.
            Err(SyncError::Notion(e)) if e.class == ErrorClass::Auth => {
                let fresh = fresh_url(client, job, &f).await?;
                copy_one(client, sink, job, &f, &fresh).await?
            }
            other => other?,
        };
        rows.push(row);
    }
    let n = rows.len();
    sink.record_files(rows).await?;
    Ok(n)
}

/// Streams one file into its object and returns its row.
async fn copy_one<S: BronzeSink>(
    client: &Client,
    sink: &S,
    job: &SourceJob<'_>,
    f: &HostedFile,
    url: &str,
) -> Result<FileRecord, SyncError> {
    let mut resp = client.download(url, job.stats).await?;
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut out = sink.file_writer(&f.key)?;
    let store_error = |e: std::io::Error| {
        SyncError::Sink(SinkError::Transient {
            table: crate::sink::tables::FILES.to_string(),
            reason: format!("cannot store the copy of {}: {e}", f.key),
        })
    };
    let mut hash = Sha256::new();
    let mut size = 0u64;
    loop {
        let chunk = resp.chunk().await.map_err(|e| {
            SyncError::Notion(file_error(
                &f.key,
                Some(&f.page_id),
                "transport",
                e.without_url().to_string(),
                Some("the download was cut off; the next run copies it again".into()),
                ErrorClass::Transient,
            ))
        })?;
        let Some(chunk) = chunk else { break };
        hash.update(&chunk);
        size += chunk.len() as u64;
        out.writer.write_all(&chunk).await.map_err(store_error)?;
    }
    out.writer.shutdown().await.map_err(store_error)?;
    Ok(FileRecord {
        file_key: f.key.clone(),
        database_id: job.ctx.database_id.clone(),
        page_id: f.page_id.clone(),
        block_id: f.block_id.clone(),
        property_id: f.property_id.clone(),
        name: f.name.clone(),
        content_type,
        size_bytes: size as i64,
        sha256: hex::encode(hash.finalize()),
        object_path: out.object_path,
        copied_at: Utc::now(),
        sync_run_id: job.ctx.run_id.clone(),
    })
}

/// A new signed URL of `f`, from its page or block read again.
async fn fresh_url(
    client: &Client,
    job: &SourceJob<'_>,
    f: &HostedFile,
) -> Result<String, SyncError> {
    let found = match &f.block_id {
        Some(block) => {
            let v: Value = client
                .get(&format!("/v1/blocks/{block}"), &[], Some(block), job.stats)
                .await?;
            in_block(&f.page_id, &v).into_iter().collect::<Vec<_>>()
        }
        None => {
            let v: Value = client
                .get(
                    &format!("/v1/pages/{}", f.page_id),
                    &[],
                    Some(&f.page_id),
                    job.stats,
                )
                .await?;
            in_page(&f.page_id, &v)
        }
    };
    found
        .into_iter()
        .find(|g| g.key == f.key)
        .map(|g| g.url)
        .ok_or_else(|| {
            SyncError::Notion(file_error(
                &f.key,
                Some(&f.page_id),
                "file_gone",
                format!(
                    "the hosted file {} is no longer on page {}",
                    f.key, f.page_id
                ),
                Some(
                    "the page changed since it was read; the next run copies what it holds".into(),
                ),
                ErrorClass::Transient,
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosted_files_are_found_in_properties_icons_and_media_blocks_and_external_ones_are_not() {
        let page = json!({
            "icon": {"type": "file", "file": {"url": "https://files.example/ws/1/icon.png?X-Amz-Signature=s"}},
            "cover": {"type": "external", "external": {"url": "https://example.com/c.png"}},
            "properties": {
                "Files": {"id": "f%3D", "type": "files", "files": [
                    {"name": "spec.pdf", "type": "file", "file": {"url": "https://files.example/ws/2/spec.pdf?sig=1"}},
                    {"name": "link", "type": "external", "external": {"url": "https://example.com/x"}}
                ]},
                "Name": {"id": "title", "type": "title", "title": []}
            }
        });
        let found = in_page("p1", &page);
        let keys: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|f| (f.key.as_str(), f.name.as_str(), f.property_id.as_deref()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("ws/2/spec.pdf", "spec.pdf", Some("f%3D")),
                ("ws/1/icon.png", "icon.png", None)
            ]
        );
        let block = json!({"id": "b1", "type": "image", "image": {"type": "file", "caption": [],
            "file": {"url": "http://127.0.0.1:9/files/3/pic.png?X-Amz-Date=x", "expiry_time": "2026-01-01T00:00:00Z"}}});
        let f = in_block("p1", &block).unwrap();
        assert_eq!(
            (f.key.as_str(), f.name.as_str(), f.block_id.as_deref()),
            ("files/3/pic.png", "pic.png", Some("b1"))
        );
        let external = json!({"id": "b2", "type": "image", "image": {"type": "external", "external": {"url": "https://e/x.png"}}});
        assert_eq!(in_block("p1", &external), None);
    }
}
