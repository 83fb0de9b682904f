//! Notion-hosted files (presigned loopback URLs) and the File Upload API.

use chrono::Duration;
use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, SimConfig, SimHandle, WorkspaceKind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const MB: usize = 1024 * 1024;

async fn full() -> SimHandle {
    start(SimConfig {
        workspace: WorkspaceKind::Full,
        ..SimConfig::default()
    })
    .await
}

async fn first_page(sim: &SimHandle, db: &str) -> Value {
    query_all(sim, &ds_of(sim, db), json!({})).await[0].clone()
}

/// A download: status, content type and body.
async fn download(url: &str, auth: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.expect("download");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ctype, r.bytes().await.expect("body").to_vec())
}

/// A deterministic byte pattern.
fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect()
}

/// `POST /v1/file_uploads/{id}/send` with a form: `file` and optionally `part_number`.
async fn send(sim: &SimHandle, id: &str, name: &str, data: &[u8], part: Option<u32>) -> Resp {
    let boundary = "simboundary7f3a";
    let mut body = Vec::new();
    if let Some(n) = part {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"part_number\"\r\n\r\n{n}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = reqwest::Client::new()
        .post(format!("{}/v1/file_uploads/{id}/send", sim.base_url()))
        .bearer_auth(sim.token())
        .header("Notion-Version", V_NEW)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("text");
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// Creates a single-part upload and sends `data`; returns its id.
async fn uploaded(sim: &SimHandle, name: &str, data: &[u8]) -> String {
    let r = post(sim, "/v1/file_uploads", json!({"filename": name})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["object"], "file_upload");
    assert_eq!(r.body["status"], "pending");
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        r.body["upload_url"],
        format!("{}/v1/file_uploads/{id}/send", sim.base_url())
    );
    let s = send(sim, &id, name, data, None).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["status"], "uploaded");
    assert_eq!(s.body["content_length"], data.len());
    id
}

#[tokio::test]
async fn hosted_files_are_served_on_loopback_like_presigned_urls() {
    let sim = full().await;
    let page = first_page(&sim, "Everything").await;
    let f = &page["properties"]["Files"]["files"][0];
    assert_eq!(f["type"], "file");
    let url = f["file"]["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with(&format!("{}/files/", sim.base_url())),
        "{url}"
    );
    assert!(url.contains("/spec.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260105T090000Z&X-Amz-Expires=3600&X-Amz-Signature="), "{url}");
    assert_eq!(f["file"]["expiry_time"], "2026-01-05T10:00:00.000Z");
    // The dump renders the same URL.
    let dumped = dump_entry(&sim, page["id"].as_str().unwrap_or_default());
    assert!(dumped.to_string().contains(&url));

    let (status, ctype, bytes) = download(&url, None).await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/pdf");
    assert!((1024..=200 * 1024).contains(&bytes.len()));
    assert_eq!(Some(bytes.clone()), sim.file_bytes(&url));

    // Like S3: a second auth mechanism is refused.
    let (status, _, body) = download(&url, Some(&format!("Bearer {}", sim.token()))).await;
    assert_eq!(status, 400);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
    assert!(body.contains("Only one auth mechanism allowed"), "{body}");

    // No signature, or a tampered one.
    let bare = url.split('?').next().unwrap_or_default();
    assert_eq!(download(bare, None).await.0, 403);
    let tampered = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=99999");
    assert_eq!(download(&tampered, None).await.0, 403);

    // An unknown key, correctly signed.
    let (status, _, body) = download(&sim.signed_url("nope/missing.pdf"), None).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("<Code>NoSuchKey</Code>"));

    // After the hour the URL is refused; a fresh render gives a fresh URL, same key.
    sim.advance_clock(Duration::minutes(61));
    let (status, _, body) = download(&url, None).await;
    assert_eq!(status, 403);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("Request has expired"), "{body}");
    let again = get(
        &sim,
        &format!("/v1/pages/{}", page["id"].as_str().unwrap_or("")),
    )
    .await;
    let fresh = &again.body["properties"]["Files"]["files"][0]["file"];
    let fresh_url = fresh["url"].as_str().unwrap_or_default();
    assert_eq!(fresh_url.split('?').next(), Some(bare));
    assert_eq!(fresh["expiry_time"], "2026-01-05T11:01:00.000Z");
    assert_eq!(download(fresh_url, None).await.2, bytes);

    // Downloads are counted and logged, and faults can target them.
    assert!(sim.counters().by_endpoint["download_file"] >= 6);
    sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("download_file".into()),
            kind: FaultKind::Status(503),
            mode: FaultMode::Nth(1),
        }],
    });
    assert_eq!(download(fresh_url, None).await.0, 503);
    assert_eq!(download(fresh_url, None).await.0, 200);
    sim.set_faults(FaultPlan {
        rules: vec![FaultRule {
            endpoint: Some("download_file".into()),
            kind: FaultKind::Status(429),
            mode: FaultMode::Nth(1),
        }],
    });
    assert_eq!(download(fresh_url, None).await.0, 429);
    sim.shutdown().await;
}

#[tokio::test]
async fn media_blocks_and_test_files_of_any_size_are_hosted() {
    let sim = demo().await;
    let page = first_page(&sim, "Tasks").await;
    let id = page["id"].as_str().expect("id");
    let block = sim
        .add_hosted_media_block(id, "pdf", "big.pdf", 21 * MB)
        .expect("block");
    let r = get(&sim, &format!("/v1/blocks/{block}")).await;
    assert_eq!(r.body["type"], "pdf");
    assert_eq!(r.body["pdf"]["type"], "file");
    let url = r.body["pdf"]["file"]["url"].as_str().expect("url");
    let (status, ctype, bytes) = download(url, None).await;
    assert_eq!(
        (status, ctype.as_str(), bytes.len()),
        (200, "application/pdf", 21 * MB)
    );
    assert_eq!(sim.file_bytes(url), Some(bytes));
    assert!(
        sim.add_hosted_media_block(id, "paragraph", "x", 1)
            .is_none()
    );

    // The showcase's hosted media render on loopback too.
    let dump = sim.state_dump(V_NEW).to_string();
    assert!(
        !dump.contains("amazonaws.com/"),
        "no S3 host is ever rendered"
    );
    assert!(dump.contains(&format!("{}/files/", sim.base_url())));

    let full = full().await;
    let every = first_page(&full, "Everything").await;
    let eid = every["id"].as_str().expect("id");
    let key = full
        .add_hosted_file(eid, "Files", "notes.txt", 3000)
        .expect("key");
    assert!(full.add_hosted_file(eid, "Number", "x.txt", 1).is_none());
    let served = get(&full, &format!("/v1/pages/{eid}")).await.body;
    let files = served["properties"]["Files"]["files"]
        .as_array()
        .expect("files");
    let last = files.last().expect("one");
    assert_eq!(last["name"], "notes.txt");
    let (status, ctype, bytes) = download(last["file"]["url"].as_str().unwrap_or(""), None).await;
    assert_eq!(
        (status, ctype.as_str(), bytes.len()),
        (200, "text/plain", 3000)
    );
    assert_eq!(full.file_bytes(&key), Some(bytes));
    sim.shutdown().await;
    full.shutdown().await;
}

#[tokio::test]
async fn a_single_part_upload_attaches_to_files_and_image_blocks() {
    let sim = full().await;
    sim.clear_request_log();
    let data = pattern(70_000, 7);
    let upload = uploaded(&sim, "chart.png", &data).await;
    let r = get(&sim, &format!("/v1/file_uploads/{upload}")).await;
    assert_eq!(r.body["status"], "uploaded");
    assert_eq!(r.body["filename"], "chart.png");
    assert_eq!(r.body["content_type"], "image/png");
    assert_eq!(r.body["expiry_time"], "2026-01-05T10:00:00.000Z");

    let page = first_page(&sim, "Everything").await;
    let id = page["id"].as_str().expect("id");
    let body = json!({"properties": {"Files": {"files": [
        {"type": "file_upload", "file_upload": {"id": upload}, "name": "Chart"}
    ]}}});
    let r = patch(&sim, &format!("/v1/pages/{id}"), body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = &r.body["properties"]["Files"]["files"][0];
    assert_eq!(f["type"], "file");
    assert_eq!(f["name"], "Chart");
    assert_eq!(f["file"]["expiry_time"], "2026-01-05T10:00:00.000Z");
    let url = f["file"]["url"].as_str().expect("url");
    assert!(
        url.contains(&format!("/files/{upload}/chart.png?")),
        "{url}"
    );
    let (status, ctype, bytes) = download(url, None).await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"));
    assert_eq!(bytes, data);

    // Re-sending the hosted object as read keeps that file.
    let r = patch(
        &sim,
        &format!("/v1/pages/{id}"),
        json!({"properties": {"Files": {"files": [f]}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["properties"]["Files"]["files"][0]["file"]["url"],
        f["file"]["url"]
    );

    // The same upload goes into an image block too.
    let r = patch(
        &sim,
        &format!("/v1/blocks/{id}/children"),
        json!({"children": [{"type": "image", "image": {"type": "file_upload", "file_upload": {"id": upload}, "caption": rt("A chart")}}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let image = &r.body["results"][0]["image"];
    assert_eq!(image["type"], "file");
    assert_eq!(image["caption"][0]["plain_text"], "A chart");
    assert!(image.get("file_upload").is_none());
    let url = image["file"]["url"].as_str().expect("url");
    assert_eq!(download(url, None).await.2, data);
    assert_eq!(sim.file_bytes(url), Some(data));

    let endpoints: Vec<String> = sim
        .write_requests()
        .iter()
        .map(|r| r.endpoint.clone())
        .collect();
    assert_eq!(
        &endpoints[..2],
        ["create_file_upload", "send_file_upload"],
        "{endpoints:?}"
    );
    let sent = &sim.write_requests()[1];
    assert_eq!(
        sent.body
            .as_ref()
            .map(|b| b["file"]["content_length"].clone()),
        Some(json!(70_000))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_multi_part_upload_is_completed_and_attached() {
    let sim = demo().await;
    let r = post(
        &sim,
        "/v1/file_uploads",
        json!({"mode": "multi_part", "filename": "film.mp4", "number_of_parts": 3}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["number_of_parts"], json!({"total": 3, "sent": 0}));
    let id = r.body["id"].as_str().expect("id").to_string();
    let parts = [pattern(6 * MB, 1), pattern(6 * MB, 2), pattern(MB, 3)];
    // A part under 5 MB that is not the last is refused.
    assert_invalid(
        &send(&sim, &id, "film.mp4", &parts[2], Some(1)).await,
        "at least",
    );
    assert_invalid(
        &send(&sim, &id, "film.mp4", &parts[2], Some(4)).await,
        "part_number",
    );
    // Any order; nothing is uploaded until complete, which wants every part.
    let r = send(&sim, &id, "film.mp4", &parts[2], Some(3)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(&sim, &id, "film.mp4", &parts[0], Some(1)).await;
    assert_eq!(r.body["number_of_parts"], json!({"total": 3, "sent": 2}));
    assert_eq!(r.body["status"], "pending");
    let complete = format!("/v1/file_uploads/{id}/complete");
    assert_invalid(&post(&sim, &complete, json!({})).await, "missing part(s) 2");
    let r = send(&sim, &id, "film.mp4", &parts[1], Some(2)).await;
    assert_eq!(r.body["status"], "pending");
    let r = post(&sim, &complete, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "uploaded");
    assert_eq!(r.body["content_length"], 13 * MB);
    // Uploaded: no more sends.
    assert_invalid(
        &send(&sim, &id, "film.mp4", &parts[2], Some(3)).await,
        "uploaded",
    );

    let page = first_page(&sim, "Notes").await;
    let pid = page["id"].as_str().expect("id");
    let r = patch(
        &sim,
        &format!("/v1/blocks/{pid}/children"),
        json!({"children": [{"type": "video", "video": {"type": "file_upload", "file_upload": {"id": id}}}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.body["results"][0]["video"]["file"]["url"]
        .as_str()
        .expect("url");
    let (status, ctype, bytes) = download(url, None).await;
    assert_eq!(
        (status, ctype.as_str(), bytes.len()),
        (200, "video/mp4", 13 * MB)
    );
    assert_eq!(bytes, parts.concat());
    sim.shutdown().await;
}

#[tokio::test]
async fn upload_rules_are_enforced() {
    let sim = full().await;
    // Single part: at most 20 MB.
    let r = post(&sim, "/v1/file_uploads", json!({})).await;
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_invalid(
        &send(&sim, &id, "huge.bin", &vec![0u8; 20 * MB + 1], None).await,
        "20 MB",
    );
    let r = send(&sim, &id, "exact.bin", &vec![1u8; 20 * MB], None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["filename"], "exact.bin");
    // Multi-part needs a part count and a file name; external_url is not served here.
    assert_invalid(
        &post(
            &sim,
            "/v1/file_uploads",
            json!({"mode": "multi_part", "filename": "a"}),
        )
        .await,
        "number_of_parts",
    );
    assert_invalid(
        &post(
            &sim,
            "/v1/file_uploads",
            json!({"mode": "multi_part", "number_of_parts": 1001, "filename": "a"}),
        )
        .await,
        "number_of_parts",
    );
    assert_invalid(
        &post(
            &sim,
            "/v1/file_uploads",
            json!({"mode": "multi_part", "number_of_parts": 2}),
        )
        .await,
        "filename",
    );
    assert_invalid(
        &post(
            &sim,
            "/v1/file_uploads",
            json!({"mode": "external_url", "external_url": "https://example.com/a.png"}),
        )
        .await,
        "external_url",
    );
    // Unknown uploads.
    let unknown = "0f0f0f0f-0000-4000-8000-000000000000";
    let r = get(&sim, &format!("/v1/file_uploads/{unknown}")).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (404, Some("object_not_found"))
    );
    let r = send(&sim, unknown, "a.txt", b"x", None).await;
    assert_eq!(r.status, 404, "{}", r.body);

    // A pending (not sent) upload cannot be attached, nor can an unknown one.
    let page = first_page(&sim, "Everything").await;
    let pid = page["id"].as_str().expect("id");
    let pending = post(&sim, "/v1/file_uploads", json!({"filename": "p.txt"}))
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let attach = |upload: &str| json!({"properties": {"Files": {"files": [{"type": "file_upload", "file_upload": {"id": upload}}]}}});
    assert_invalid(
        &patch(&sim, &format!("/v1/pages/{pid}"), attach(&pending)).await,
        &pending,
    );
    assert_invalid(
        &patch(&sim, &format!("/v1/pages/{pid}"), attach(unknown)).await,
        unknown,
    );
    let r = patch(
        &sim,
        &format!("/v1/blocks/{pid}/children"),
        json!({"children": [{"type": "file", "file": {"type": "file_upload", "file_upload": {"id": pending}}}]}),
    )
    .await;
    assert_invalid(&r, &pending);

    // A Notion-hosted `file` object in a block create is refused (blocks take external or
    // file_upload), even one the workspace serves.
    let hosted = page["properties"]["Files"]["files"][0]["file"].clone();
    let r = patch(
        &sim,
        &format!("/v1/blocks/{pid}/children"),
        json!({"children": [{"type": "image", "image": {"type": "file", "file": hosted}}]}),
    )
    .await;
    assert_invalid(&r, "file_upload should be defined");

    // An upload expires an hour after its creation: it can no longer be sent to or attached.
    let late = uploaded(&sim, "late.txt", b"late").await;
    let stale = post(&sim, "/v1/file_uploads", json!({})).await.body["id"]
        .as_str()
        .expect("id")
        .to_string();
    sim.advance_clock(Duration::minutes(61));
    assert_eq!(
        get(&sim, &format!("/v1/file_uploads/{late}")).await.body["status"],
        "expired"
    );
    assert_invalid(&send(&sim, &stale, "a.txt", b"x", None).await, "expired");
    assert_invalid(
        &patch(&sim, &format!("/v1/pages/{pid}"), attach(&late)).await,
        "expired",
    );

    // Uploads are version-independent objects but go through auth like every /v1 route.
    let r = raw(
        &sim,
        Method::GET,
        &format!("/v1/file_uploads/{late}"),
        Some(V_NEW),
        Some("bad"),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    sim.shutdown().await;
}
