//! Notion-hosted files: reading them from their signed URLs, and writing them back through Notion's File
//! Upload API (`POST /v1/file_uploads`, then `send`, then `complete` for files sent in parts).
//!
//! A hosted file's URL is signed and expires after an hour; it is fetched without the token (the URL
//! is its own credential, and S3 refuses a request carrying two). The signature is never logged or put
//! in an error: errors name the file by its path alone.

use bytes::Bytes;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::client::Body;
use super::{Client, ErrorClass, NotionError, RequestStats};
use crate::retry::{Class, Operation, TokioClock};

/// Files up to this size are sent in one part (Notion's single-part limit).
pub const SINGLE_PART_MAX: u64 = 20 * 1024 * 1024;
/// The size of each part of a larger file but the last (Notion takes 5 to 20 MB).
pub const PART_BYTES: u64 = 10 * 1024 * 1024;

/// One part of a file upload.
#[derive(Debug, Clone)]
pub struct FilePart {
    /// The file's name.
    pub name: String,
    /// Its media type.
    pub content_type: String,
    /// The bytes of this part.
    pub bytes: Bytes,
    /// 1-based, for files sent in parts.
    pub part_number: Option<u32>,
}

impl FilePart {
    /// The `multipart/form-data` body of the part.
    pub(super) fn form(&self) -> Result<reqwest::multipart::Form, reqwest::Error> {
        let part = reqwest::multipart::Part::stream_with_length(
            self.bytes.clone(),
            self.bytes.len() as u64,
        )
        .file_name(self.name.clone())
        .mime_str(&self.content_type)?;
        let form = reqwest::multipart::Form::new().part("file", part);
        Ok(match self.part_number {
            Some(n) => form.text("part_number", n.to_string()),
            None => form,
        })
    }
}

/// A hosted file's URL without its signature: the stable path that names it.
pub fn file_key(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https")
        .then(|| parsed.path().trim_start_matches('/').to_string())
}

/// Whether a payload's text may hold a Notion-hosted file (every hosted file object has an
/// `expiry_time`): a test on the text that spares parsing the payloads that hold none.
pub fn may_hold_hosted(text: &str) -> bool {
    text.contains("\"expiry_time\"")
}

/// `v` with each Notion-hosted file object's signature left out: its `file.url` cut at the query and
/// its `file.expiry_time` removed. Notion signs a hosted file's URL anew at every read, so these are
/// the parts of a payload that change although nothing in Notion did.
pub fn unsigned(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out: serde_json::Map<String, Value> =
                m.iter().map(|(k, x)| (k.clone(), unsigned(x))).collect();
            if out.get("type").and_then(Value::as_str) == Some("file")
                && let Some(Value::Object(file)) = out.get_mut("file")
            {
                file.remove("expiry_time");
                if let Some(Value::String(url)) = file.get_mut("url")
                    && let Some(cut) = url.find('?')
                {
                    url.truncate(cut);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(unsigned).collect()),
        _ => v.clone(),
    }
}

/// How a failed download is retried: throttles and server errors are, refusals are not.
#[derive(Debug)]
struct Failed {
    status: Option<u16>,
    retry_after: Option<std::time::Duration>,
    message: String,
}

impl Client {
    /// `GET` of a hosted file's signed URL, retried like a read; the response streams the bytes. A 403
    /// (the URL expired) is an `Auth`-class error: read the page or block again for a fresh URL.
    pub async fn download(
        &self,
        url: &str,
        stats: &RequestStats,
    ) -> Result<reqwest::Response, NotionError> {
        let key = file_key(url).ok_or_else(|| {
            download_error("?", None, "not an http(s) URL".into(), ErrorClass::Internal)
        })?;
        let (http, policy) = self.files_http();
        let attempt = || async {
            RequestStats::bump(&stats.requests);
            match http.get(url).send().await {
                Ok(resp) if resp.status().is_success() => Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(std::time::Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    Err(Failed {
                        status: Some(status),
                        retry_after,
                        message: s3_message(&text).unwrap_or_else(|| format!("HTTP {status}")),
                    })
                }
                Err(e) => Err(Failed {
                    status: None,
                    retry_after: None,
                    message: without_url(e),
                }),
            }
        };
        let classify = |f: &Failed| match f.status {
            Some(429) => Class::Throttled(f.retry_after),
            Some(s) if s >= 500 => Class::Transient,
            Some(_) => Class::Permanent,
            None => Class::Transient,
        };
        let retried = |_: &Failed, _: &crate::retry::Decision| RequestStats::bump(&stats.retries);
        policy
            .run(&TokioClock, attempt, classify, retried)
            .await
            .map_err(|f| {
                let class = match f.status {
                    Some(401 | 403) => ErrorClass::Auth,
                    Some(s) if s == 429 || s >= 500 => ErrorClass::Transient,
                    None => ErrorClass::Transient,
                    Some(_) => ErrorClass::Internal,
                };
                download_error(&key, f.status, f.message, class)
            })
    }

    /// Uploads a file of `size` bytes read part by part through `read(range)`: one part up to
    /// [`SINGLE_PART_MAX`], parts of [`PART_BYTES`] above. Returns the upload's id, to attach as
    /// `{"type": "file_upload", "file_upload": {"id": ...}}`.
    pub async fn upload_file<F, Fut, E>(
        &self,
        name: &str,
        content_type: &str,
        size: u64,
        mut read: F,
        stats: &RequestStats,
    ) -> Result<String, UploadError<E>>
    where
        F: FnMut(std::ops::Range<u64>) -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, E>>,
    {
        let parts = size.div_ceil(PART_BYTES).max(1);
        let multi = size > SINGLE_PART_MAX;
        let mut create = json!({"filename": name, "content_type": content_type});
        if multi {
            create["mode"] = json!("multi_part");
            create["number_of_parts"] = json!(parts);
        }
        let made: Value = self
            .write(Method::POST, "/v1/file_uploads", &create, None, stats)
            .await?;
        let id = made["id"].as_str().unwrap_or_default().to_string();
        let path = format!("/v1/file_uploads/{id}/send");
        // One part of the whole file, or parts of PART_BYTES.
        let (count, step) = if multi {
            (parts, PART_BYTES)
        } else {
            (1, size.max(1))
        };
        let ranges: Vec<std::ops::Range<u64>> = (0..count)
            .map(|i| i * step..((i + 1) * step).min(size))
            .collect();
        for (i, range) in ranges.into_iter().enumerate() {
            let part = FilePart {
                name: name.to_string(),
                content_type: content_type.to_string(),
                bytes: read(range).await.map_err(UploadError::Source)?,
                part_number: multi.then_some(i as u32 + 1),
            };
            self.call::<Value>(
                Operation::Write,
                Method::POST,
                &path,
                &[],
                Body::Part(&part),
                Some(&id),
                stats,
            )
            .await?;
        }
        if multi {
            let done = format!("/v1/file_uploads/{id}/complete");
            self.write::<Value>(Method::POST, &done, &json!({}), Some(&id), stats)
                .await?;
        }
        Ok(id)
    }
}

/// A failed upload: Notion refused or failed it, or the bytes could not be read.
#[derive(Debug)]
pub enum UploadError<E> {
    /// Notion's answer.
    Notion(NotionError),
    /// Reading the copy failed.
    Source(E),
}

impl<E> From<NotionError> for UploadError<E> {
    fn from(e: NotionError) -> Self {
        UploadError::Notion(e)
    }
}

/// The `<Message>` of an S3-style XML error body.
fn s3_message(body: &str) -> Option<String> {
    let start = body.find("<Message>")? + "<Message>".len();
    let end = body[start..].find("</Message>")? + start;
    Some(body[start..end].to_string())
}

/// A transport error's text without the URL (its query is the signature).
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

fn download_error(
    key: &str,
    status: Option<u16>,
    message: String,
    class: ErrorClass,
) -> NotionError {
    let code = status.map_or_else(|| "transport".to_string(), |s| format!("http_{s}"));
    let hint = (class == ErrorClass::Auth).then(|| {
        "the file's signed URL expired or was refused; read its page again for a new one".into()
    });
    NotionError {
        status,
        ..file_error(key, None, &code, message, hint, class)
    }
}

/// An error about hosted file `key` (named by its path alone: its URL's signature is a credential).
pub fn file_error(
    key: &str,
    object_id: Option<&str>,
    code: &str,
    message: String,
    hint: Option<String>,
    class: ErrorClass,
) -> NotionError {
    NotionError {
        status: None,
        code: code.to_string(),
        message,
        request_id: None,
        endpoint: format!("GET hosted file {key}"),
        object_id: object_id.map(str::to_string),
        hint,
        class,
        committed_id: None,
        committed_children: Vec::new(),
    }
}
