//! The File Upload API: create an upload, send its bytes (one part, or 5–20 MB parts then
//! complete), retrieve it. An uploaded file is attached by id (`{"type": "file_upload",
//! "file_upload": {"id": ...}}`, see [`crate::writes`]) and then reads back as a Notion-hosted file.
//!
//! `mode: "external_url"` (Notion fetching a public URL itself) is answered 400 `validation_error`:
//! the simulator never leaves loopback.

use std::sync::Arc;

use chrono::Duration;
use serde_json::{Value, json};

use crate::errors::{ApiError, ApiResult, not_found, validation};
use crate::files::{self, Blob};
use crate::model::{Upload, UploadMode, Workspace, floor_minute, iso};
use crate::state::Shared;
use crate::writes::invalid;

/// Largest single-part upload and largest part: 20 MB.
pub const MAX_PART: usize = 20 * 1024 * 1024;
/// Smallest part of a multi-part upload other than the last: 5 MB.
pub const MIN_PART: usize = 5 * 1024 * 1024;
/// Most parts of a multi-part upload.
const MAX_PARTS: u64 = 1000;

/// Whether an upload can still be sent to or attached at `ws.now`.
pub fn expired(ws: &Workspace, u: &Upload) -> bool {
    ws.now > u.expiry
}

/// The status served: `pending`, `uploaded`, or `expired` once its hour is over.
pub fn status(ws: &Workspace, u: &Upload) -> &'static str {
    if expired(ws, u) {
        "expired"
    } else if u.key.is_some() {
        "uploaded"
    } else {
        "pending"
    }
}

/// The `file_upload` object.
fn render(ws: &Workspace, base: &str, u: &Upload) -> Value {
    let status = status(ws, u);
    let mut out = json!({
        "object": "file_upload",
        "id": u.id,
        "created_time": iso(u.created),
        "created_by": {"id": ws.bot_id(), "type": "bot"},
        "last_edited_time": iso(u.edited),
        "expiry_time": iso(u.expiry),
    });
    if status == "pending" {
        out["upload_url"] = json!(format!("{base}/v1/file_uploads/{}/send", u.id));
        if u.mode == UploadMode::MultiPart {
            out["complete_url"] = json!(format!("{base}/v1/file_uploads/{}/complete", u.id));
        }
    }
    let more = json!({
        "archived": false,
        "in_trash": false,
        "status": status,
        "filename": u.filename,
        "content_type": u.content_type,
        "content_length": u.content_length,
    });
    if let (Some(o), Some(m)) = (out.as_object_mut(), more.as_object()) {
        o.extend(m.clone());
    }
    if let Some(total) = u.total_parts {
        out["number_of_parts"] = json!({"total": total, "sent": u.parts.len()});
    }
    out
}

fn optional_string(body: &Value, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(invalid(format!(
            "body.{field} should be a string, instead was `{v}`."
        ))),
    }
}

/// `POST /v1/file_uploads`.
pub fn create(shared: &Shared, body: &Value) -> ApiResult {
    let mode = match body.get("mode").filter(|m| !m.is_null()).map(Value::as_str) {
        None | Some(Some("single_part")) => UploadMode::SinglePart,
        Some(Some("multi_part")) => UploadMode::MultiPart,
        Some(Some("external_url")) => {
            // Notion would fetch `external_url` itself; the simulator never leaves 127.0.0.1.
            return Err(validation(
                "body failed validation: body.mode `external_url` is not supported by this server; use `single_part` or `multi_part`.",
            ));
        }
        _ => {
            return Err(invalid(format!(
                "body.mode should be one of `single_part`, `multi_part`, `external_url`, instead was `{}`.",
                body["mode"]
            )));
        }
    };
    let filename = optional_string(body, "filename")?;
    let content_type = optional_string(body, "content_type")?;
    let total_parts = match (mode, body.get("number_of_parts")) {
        (UploadMode::SinglePart, None | Some(Value::Null)) => None,
        (UploadMode::SinglePart, Some(_)) => {
            return Err(validation(
                "body failed validation: body.number_of_parts should be not present when body.mode is `single_part`.",
            ));
        }
        (UploadMode::MultiPart, v) => match v.and_then(Value::as_u64) {
            Some(n @ 1..=MAX_PARTS) => Some(n as u32),
            Some(_) => {
                return Err(invalid(format!(
                    "body.number_of_parts should be ≥ `1` and ≤ `{MAX_PARTS}`, instead was `{}`.",
                    body["number_of_parts"]
                )));
            }
            None => {
                return Err(invalid(
                    "body.number_of_parts should be defined, instead was `undefined`.",
                ));
            }
        },
    };
    if mode == UploadMode::MultiPart && filename.is_none() {
        return Err(invalid(
            "body.filename should be defined, instead was `undefined`.",
        ));
    }
    let created = floor_minute(shared.now());
    let id = shared.new_id();
    let mut ws = shared.write();
    let content_type = content_type.or_else(|| {
        filename
            .as_deref()
            .map(|f| files::content_type(f).to_string())
    });
    let upload = Upload {
        id: id.clone(),
        mode,
        created,
        edited: created,
        expiry: created + Duration::hours(1),
        filename,
        content_type,
        total_parts,
        parts: Default::default(),
        key: None,
        content_length: None,
    };
    let out = render(&ws, shared.base_url(), &upload);
    ws.uploads.insert(id, upload);
    Ok(out.into())
}

/// `GET /v1/file_uploads/{id}`.
pub fn retrieve(shared: &Shared, id: &str) -> ApiResult {
    let ws = shared.read();
    let u = ws
        .uploads
        .get(id)
        .ok_or_else(|| not_found("file_upload", id))?;
    Ok(render(&ws, shared.base_url(), u).into())
}

/// The upload an operation sends to: known, still pending and within its hour.
fn pending<'a>(ws: &'a Workspace, id: &str) -> Result<&'a Upload, ApiError> {
    let u = ws
        .uploads
        .get(id)
        .ok_or_else(|| not_found("file_upload", id))?;
    match status(ws, u) {
        "pending" => Ok(u),
        s => Err(validation(format!(
            "File upload {id} has status `{s}`; only a `pending` file upload accepts this request."
        ))),
    }
}

/// Stores the whole file of an upload under its hosted key.
fn finish(ws: &mut Workspace, id: &str, data: Vec<u8>, now: chrono::DateTime<chrono::Utc>) {
    let Some(u) = ws.uploads.get_mut(id) else {
        return;
    };
    let name = u.filename.clone().unwrap_or_else(|| "file".to_string());
    let key = format!("{id}/{name}");
    u.content_length = Some(data.len());
    u.key = Some(key.clone());
    u.edited = now;
    u.parts.clear();
    ws.files.insert(key, Blob::Bytes(Arc::new(data)));
}

/// `POST /v1/file_uploads/{id}/send`: a `multipart/form-data` body with `file` (and `part_number`
/// for multi-part uploads).
pub fn send(shared: &Shared, id: &str, content_type: &str, body: &[u8]) -> ApiResult {
    let form = files::multipart(content_type, body).ok_or_else(|| {
        validation("Send file upload requests must be multipart/form-data with a `file` field.")
    })?;
    let file = form
        .iter()
        .find(|p| p.name == "file")
        .ok_or_else(|| invalid("body.file should be defined, instead was `undefined`."))?;
    let part_number = form
        .iter()
        .find(|p| p.name == "part_number")
        .map(|p| String::from_utf8_lossy(p.data).trim().to_string());
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let u = pending(&ws, id)?.clone();
    let size = file.data.len();
    if size > MAX_PART {
        return Err(validation(format!(
            "The file is {size} bytes, more than the {MAX_PART}-byte (20 MB) limit of one send; use a multi_part upload with parts of 5 MB to 20 MB."
        )));
    }
    match u.mode {
        UploadMode::SinglePart => {
            if part_number.is_some() {
                return Err(validation(
                    "body failed validation: body.part_number should be not present for a single_part upload.",
                ));
            }
            let upload = ws
                .uploads
                .get_mut(id)
                .ok_or_else(|| not_found("file_upload", id))?;
            if upload.filename.is_none() {
                upload.filename = Some(file.filename.clone().unwrap_or_else(|| "file".into()));
            }
            if upload.content_type.is_none() {
                let name = upload.filename.clone().unwrap_or_default();
                upload.content_type = Some(
                    file.content_type
                        .clone()
                        .unwrap_or_else(|| files::content_type(&name).to_string()),
                );
            }
            finish(&mut ws, id, file.data.to_vec(), now);
        }
        UploadMode::MultiPart => {
            let total = u.total_parts.unwrap_or(1);
            let n = part_number
                .as_deref()
                .ok_or_else(|| {
                    invalid("body.part_number should be defined, instead was `undefined`.")
                })?
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=total).contains(n))
                .ok_or_else(|| {
                    invalid(format!(
                        "body.part_number should be an integer ≥ `1` and ≤ `{total}`, instead was `{}`.",
                        part_number.as_deref().unwrap_or_default()
                    ))
                })?;
            if n < total && size < MIN_PART {
                return Err(validation(format!(
                    "Part {n} is {size} bytes; every part but the last must be at least {MIN_PART} bytes (5 MB)."
                )));
            }
            let upload = ws
                .uploads
                .get_mut(id)
                .ok_or_else(|| not_found("file_upload", id))?;
            upload.parts.insert(n, Arc::new(file.data.to_vec()));
            upload.edited = now;
        }
    }
    let u = ws
        .uploads
        .get(id)
        .ok_or_else(|| not_found("file_upload", id))?;
    Ok(render(&ws, shared.base_url(), u).into())
}

/// `POST /v1/file_uploads/{id}/complete`: a multi-part upload whose every part was sent.
pub fn complete(shared: &Shared, id: &str) -> ApiResult {
    let now = floor_minute(shared.now());
    let mut ws = shared.write();
    let u = pending(&ws, id)?;
    if u.mode != UploadMode::MultiPart {
        return Err(validation(format!(
            "File upload {id} is a single_part upload; only multi_part uploads are completed."
        )));
    }
    let total = u.total_parts.unwrap_or(1);
    let missing: Vec<String> = (1..=total)
        .filter(|n| !u.parts.contains_key(n))
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(validation(format!(
            "File upload {id} expects {total} parts; {} sent, missing part(s) {}.",
            u.parts.len(),
            missing.join(", ")
        )));
    }
    let mut data = Vec::with_capacity(u.parts.values().map(|p| p.len()).sum());
    for p in u.parts.values() {
        data.extend_from_slice(p);
    }
    finish(&mut ws, id, data, now);
    let u = ws
        .uploads
        .get(id)
        .ok_or_else(|| not_found("file_upload", id))?;
    Ok(render(&ws, shared.base_url(), u).into())
}

/// The stored file object of an upload a write attaches (`{"type": "file", "file": {key}}`), with
/// the upload's file name; the upload must be uploaded and within its hour.
pub fn attach(ws: &Workspace, path: &str, f: &Value) -> Result<(Value, String), ApiError> {
    let raw = f["file_upload"]["id"].as_str().unwrap_or_default();
    let id = crate::server::norm_id(raw).unwrap_or_else(|| raw.to_string());
    let u = ws.uploads.get(&id).ok_or_else(|| {
        validation(format!(
            "Could not find file_upload with ID: {id}. ({path})"
        ))
    })?;
    match (status(ws, u), &u.key) {
        ("uploaded", Some(key)) => {
            let name = files::name_of(key).to_string();
            Ok((
                json!({"type": "file", "file": files::hosted_ref(key)}),
                name,
            ))
        }
        (s, _) => Err(validation(format!(
            "{path}: file upload {id} has status `{s}`; only an `uploaded` file upload (within an hour of its creation) can be attached."
        ))),
    }
}

/// A JSON summary of a send request for the request log: part number and the file's name, type
/// and size.
pub fn send_summary(content_type: &str, body: &[u8]) -> Vec<u8> {
    let Some(form) = files::multipart(content_type, body) else {
        return Vec::new();
    };
    let mut out = json!({});
    for p in &form {
        if p.name == "file" {
            out["file"] = json!({"filename": p.filename, "content_type": p.content_type, "content_length": p.data.len()});
        } else {
            out[p.name.as_str()] = json!(String::from_utf8_lossy(p.data));
        }
    }
    out.to_string().into_bytes()
}
