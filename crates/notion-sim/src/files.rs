//! Notion-hosted files, served like S3 presigned URLs on the simulator's own address.
//!
//! A hosted file is stored as `{"key": KEY}` (the only member) inside a file object (`"file": {...}`):
//! the key is its stable path (`{id}/{name}`). Every response and the state dump replace that
//! object, at render time, with `{"url": "{base}/files/{KEY}?X-Amz-...", "expiry_time": now + 1h}`,
//! so a client is only ever sent to 127.0.0.1 and the key stays the same across renders (only the
//! query changes). `GET /files/{KEY}` serves the bytes with S3's rules for presigned URLs.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::faults::FaultKind;
use crate::model::{Workspace, iso};
use crate::rng::Rng;
use crate::state::Shared;

/// Lifetime of a signed URL, in seconds.
pub const EXPIRES: i64 = 3600;

/// Where served URLs of hosted files start (after the base URL).
pub const PREFIX: &str = "/files/";

/// The bytes behind a key.
#[derive(Debug, Clone)]
pub enum Blob {
    /// Deterministic bytes derived from the key, of this length.
    Generated(usize),
    /// Bytes uploaded through the File Upload API.
    Bytes(Arc<Vec<u8>>),
}

/// The stored form of a hosted file object (rendered as a signed URL).
pub fn hosted_ref(key: &str) -> Value {
    json!({ "key": key })
}

/// Registers a generated file of the size chosen by its key; returns its stored file object.
pub fn generated(ws: &mut Workspace, key: &str) -> Value {
    ws.files
        .insert(key.to_string(), Blob::Generated(generated_size(key)));
    hosted_ref(key)
}

/// The stored key of a file object (`{"key": ...}`), if it is a hosted one.
pub fn stored_key(file: &Value) -> Option<&str> {
    file.get("key").and_then(Value::as_str)
}

/// The file name of a key (its last path segment).
pub fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

fn hash(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(h).next_u64()
}

/// Size of a generated file: 1 KB to 200 KB, chosen by the key.
pub fn generated_size(key: &str) -> usize {
    1024 + (hash(key.as_bytes(), 1) % (200 * 1024 - 1024 + 1)) as usize
}

/// The bytes of a generated file: a stream seeded by the key.
pub fn generated_bytes(key: &str, size: usize) -> Vec<u8> {
    let mut rng = Rng::new(hash(key.as_bytes(), 2));
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(size);
    out
}

/// The bytes a key serves, if known.
pub fn bytes(ws: &Workspace, key: &str) -> Option<Arc<Vec<u8>>> {
    match ws.files.get(key)? {
        Blob::Generated(n) => Some(Arc::new(generated_bytes(key, *n))),
        Blob::Bytes(b) => Some(b.clone()),
    }
}

/// `Content-Type` by extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("mp4") => "video/mp4",
        Some("mp3") => "audio/mpeg",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The signature of a presigned URL: 64 hex digits over the secret, key, date and lifetime.
pub fn signature(secret: &str, key: &str, amz_date: &str, expires: &str) -> String {
    let msg = format!("{secret}\n{key}\n{amz_date}\n{expires}");
    (0..4u64)
        .map(|i| format!("{:016x}", hash(msg.as_bytes(), 100 + i)))
        .collect()
}

/// Percent-encodes a key for a URL path (`/` kept between segments).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes a URL path (`+` is literal).
fn decode_path(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The key of a served URL (any host) or of a bare key.
pub fn key_of(url_or_key: &str) -> String {
    let mut rest = url_or_key;
    if let Some((_, after)) = rest.split_once("://") {
        rest = after.find('/').map_or("", |i| &after[i..]);
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let rest = rest.strip_prefix(PREFIX).unwrap_or(rest);
    decode_path(rest.trim_start_matches('/'))
}

/// The `X-Amz-Date` form of a time.
fn amz_date(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The signed URL of a key, as rendered at `now`.
pub fn signed_url(base: &str, secret: &str, key: &str, now: DateTime<Utc>) -> String {
    let date = amz_date(now);
    let expires = EXPIRES.to_string();
    let sig = signature(secret, key, &date, &expires);
    format!(
        "{base}{PREFIX}{}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-Signature={sig}",
        encode_key(key)
    )
}

/// Renders hosted file objects for a client: signed URLs and expiry times at `now`.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// Base URL served.
    pub base: &'a str,
    /// Signing secret.
    pub secret: &'a str,
    /// Render time.
    pub now: DateTime<Utc>,
}

impl Signer<'_> {
    /// The rendered file object of a key.
    fn object(&self, key: &str) -> Value {
        json!({
            "url": signed_url(self.base, self.secret, key, self.now),
            "expiry_time": iso(self.now + chrono::Duration::seconds(EXPIRES)),
        })
    }

    /// Rewrites every stored hosted file object in a value.
    pub fn value(&self, v: &mut Value) {
        match v {
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if k == "file"
                        && let Some(key) = x
                            .as_object()
                            .filter(|f| f.len() == 1)
                            .and_then(|f| f.get("key").and_then(Value::as_str).map(str::to_string))
                    {
                        *x = self.object(&key);
                    } else {
                        self.value(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.value(x)),
            _ => {}
        }
    }

    /// Rewrites every stored hosted file object in serialised JSON (compact, as serde_json writes
    /// it: `"file":{"key":"..."}` occurs only as structure, never inside a string).
    pub fn text(&self, text: String) -> String {
        const NEEDLE: &str = "\"file\":{\"key\":";
        if !text.contains(NEEDLE) {
            return text;
        }
        let mut out = String::with_capacity(text.len() + 256);
        let mut rest = text.as_str();
        while let Some(i) = rest.find(NEEDLE) {
            let start = i + NEEDLE.len();
            out.push_str(&rest[..i]);
            // The key string, then the closing brace.
            let tail = &rest[start..];
            let mut de = serde_json::Deserializer::from_str(tail).into_iter::<String>();
            match (de.next(), de.byte_offset()) {
                (Some(Ok(key)), end) if tail[end..].starts_with('}') => {
                    out.push_str("\"file\":");
                    out.push_str(&self.object(&key).to_string());
                    rest = &tail[end + 1..];
                }
                _ => {
                    out.push_str(NEEDLE);
                    rest = tail;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// An S3-style XML error.
fn s3_error(status: u16, code: &str, message: &str, extra: &[(&'static str, &str)]) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

/// `GET`/`HEAD /files/{key}`: a presigned download (no Notion token or version). Counted and
/// logged as `download_file`; fault rules for that endpoint apply.
pub async fn serve(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    let fault = shared
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pick(crate::faults::Request {
            endpoint: "download_file",
            method: method.as_str(),
            write: false,
            has_cursor: false,
        });
    match &fault {
        Some(FaultKind::Status(s) | FaultKind::Committed(s)) => {
            let (code, message) = match s {
                503 => ("SlowDown", "Please reduce your request rate."),
                429 => ("TooManyRequests", "Please reduce your request rate."),
                500 => (
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                ),
                _ => ("ServiceUnavailable", "Injected failure."),
            };
            return s3_error(*s, code, message, &[("retry-after", "1")]);
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let resp = download(shared, method, uri, headers);
    if let Some(FaultKind::DelayAfter(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    match fault {
        Some(FaultKind::TruncatedBody) => crate::server::mangle(resp, false).await,
        Some(FaultKind::DropConnection) => crate::server::mangle(resp, true).await,
        _ => resp,
    }
}

fn download(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return s3_error(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            &[],
        );
    }
    if headers.contains_key("authorization") {
        return s3_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
            &[],
        );
    }
    let key = key_of(uri.path());
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), crate::server::decode(v)))
        .collect();
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(sig), Some(date), Some(expires)) =
        (q("X-Amz-Signature"), q("X-Amz-Date"), q("X-Amz-Expires"))
    else {
        return s3_error(403, "AccessDenied", "Access Denied", &[]);
    };
    if q("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256")
        || sig != signature(&shared.token, &key, date, expires)
    {
        return s3_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            &[],
        );
    }
    let signed_at = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc());
    let lifetime = expires.parse::<i64>().ok();
    let (Some(signed_at), Some(lifetime)) = (signed_at, lifetime) else {
        return s3_error(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            &[],
        );
    };
    if shared.now() > signed_at + chrono::Duration::seconds(lifetime) {
        return s3_error(403, "AccessDenied", "Request has expired", &[]);
    }
    let Some(data) = bytes(&shared.read(), &key) else {
        return s3_error(404, "NoSuchKey", "The specified key does not exist.", &[]);
    };
    let len = data.len();
    let mut r = if *method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(Arc::unwrap_or_clone(data)))
    };
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static(content_type(name_of(&key))),
    );
    h.insert("content-length", HeaderValue::from(len));
    r
}

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
pub struct FormPart<'a> {
    /// Field name.
    pub name: String,
    /// File name, for file fields.
    pub filename: Option<String>,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
    /// Content.
    pub data: &'a [u8],
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = from;
    while i + needle.len() <= hay.len() {
        match hay[i..].iter().position(|b| *b == first) {
            Some(p) => i += p,
            None => return None,
        }
        if i + needle.len() <= hay.len() && &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// A header parameter (`name="x"`) of a `Content-Disposition` value.
fn disposition_param(value: &str, param: &str) -> Option<String> {
    value.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Parses a `multipart/form-data` body; `None` when the content type or body is malformed.
pub fn multipart<'a>(content_type: &str, body: &'a [u8]) -> Option<Vec<FormPart<'a>>> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })?;
    let delim = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut pos = find(body, delim.as_bytes(), 0)? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Some(parts);
        }
        pos += 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = std::str::from_utf8(body.get(pos..head_end)?).ok()?;
        let data_start = head_end + 4;
        let data_end = find(body, next.as_bytes(), data_start)?;
        let (mut name, mut filename, mut ctype) = (None, None, None);
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = disposition_param(v, "name");
                filename = disposition_param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                ctype = Some(v.trim().to_string());
            }
        }
        parts.push(FormPart {
            name: name?,
            filename,
            content_type: ctype,
            data: &body[data_start..data_end],
        });
        pos = data_end + next.len();
        if pos > body.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_signed_urls() {
        let now = DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
            .map(|t| t.to_utc())
            .expect("time");
        let key = "abc/my file+1.pdf";
        let url = signed_url("http://127.0.0.1:1", "s", key, now);
        assert!(url.starts_with("http://127.0.0.1:1/files/abc/my%20file%2B1.pdf?X-Amz-Algorithm="));
        assert!(url.contains("X-Amz-Date=20260105T090000Z&X-Amz-Expires=3600&X-Amz-Signature="));
        assert_eq!(key_of(&url), key);
        assert_eq!(key_of(key), key);
        let signer = Signer {
            base: "http://h",
            secret: "s",
            now,
        };
        let text = json!({"a": {"type": "file", "file": hosted_ref("k/\"x\".png")}}).to_string();
        let out: Value = serde_json::from_str(&signer.text(text)).expect("json");
        let mut v = json!({"a": {"type": "file", "file": hosted_ref("k/\"x\".png")}});
        signer.value(&mut v);
        assert_eq!(out, v);
        assert_eq!(
            key_of(v["a"]["file"]["url"].as_str().unwrap_or("")),
            "k/\"x\".png"
        );
        assert_eq!(v["a"]["file"]["expiry_time"], "2026-01-05T10:00:00.000Z");
    }

    #[test]
    fn generated_files_are_deterministic_and_sized_by_key() {
        let n = generated_size("a/b.pdf");
        assert!((1024..=200 * 1024).contains(&n));
        assert_eq!(generated_bytes("a/b.pdf", n), generated_bytes("a/b.pdf", n));
        assert_ne!(
            generated_bytes("a/b.pdf", 64),
            generated_bytes("a/c.pdf", 64)
        );
        assert_eq!(content_type("x.PNG"), "image/png");
        assert_eq!(content_type("x.xlsx"), "application/octet-stream");
    }

    #[test]
    fn multipart_bodies_parse() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"part_number\"\r\n\r\n2\r\n--XY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XY--\r\n";
        let parts = multipart("multipart/form-data; boundary=XY", body).expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "part_number");
        assert_eq!(parts[0].data, b"2");
        assert_eq!(parts[1].filename.as_deref(), Some("a.txt"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(parts[1].data, b"hello");
        assert!(multipart("application/json", body).is_none());
    }
}
