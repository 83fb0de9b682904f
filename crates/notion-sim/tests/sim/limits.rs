//! Rate limiting and fault injection.

use std::time::Duration;

use notion_sim::{FaultKind, FaultMode, FaultPlan, FaultRule, SimConfig};
use serde_json::json;

use crate::common::*;

fn rule(endpoint: Option<&str>, kind: FaultKind, mode: FaultMode) -> FaultPlan {
    FaultPlan {
        rules: vec![FaultRule {
            endpoint: endpoint.map(str::to_string),
            kind,
            mode,
        }],
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_then_recovers() {
    let sim = start(SimConfig {
        requests_per_minute: 5,
        rate_window: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(get(&sim, "/v1/users").await.status, 200);
    }
    let r = get(&sim, "/v1/users").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["code"], "rate_limited");
    let retry: u64 = r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("integer");
    assert!((1..=2).contains(&retry));
    assert_eq!(r.body["additional_data"]["retry_after"], retry.to_string());
    assert_eq!(
        r.body["additional_data"]["rate_limit_reason"],
        "public_api_request_rate_limit"
    );
    let c = sim.counters();
    assert_eq!(c.rate_limited_429, 1);
    assert_eq!(c.by_endpoint_status["list_users"][&429], 1);
    assert!(c.peak_window >= 6);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&sim, "/v1/users").await.status, 200);
    sim.set_rate_limit(0, Duration::from_secs(60));
    for _ in 0..10 {
        assert_eq!(get(&sim, "/v1/users").await.status, 200);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn status_faults_carry_notion_codes() {
    let sim = demo().await;
    for (status, code) in [
        (500, "internal_server_error"),
        (502, "bad_gateway"),
        (503, "service_unavailable"),
        (504, "gateway_timeout"),
        (529, "service_overload"),
        (429, "rate_limited"),
    ] {
        sim.set_faults(rule(
            Some("list_users"),
            FaultKind::Status(status),
            FaultMode::Always,
        ));
        let r = get(&sim, "/v1/users").await;
        assert_eq!(r.status, status);
        assert_eq!(r.body["code"], code);
        if status == 429 {
            assert!(r.headers.contains_key("retry-after"));
        }
        // Other endpoints are untouched.
        assert_eq!(get(&sim, "/v1/users/me").await.status, 200);
    }
    sim.set_faults(rule(
        None,
        FaultKind::Status(503),
        FaultMode::Sequence(vec![true, false, true]),
    ));
    let seq: Vec<u16> = futures_seq(&sim, 4).await;
    assert_eq!(seq, vec![503, 200, 503, 200]);
    sim.clear_faults();
    assert_eq!(get(&sim, "/v1/users").await.status, 200);
    sim.set_faults(rule(
        None,
        FaultKind::Status(500),
        FaultMode::Probability(0.5),
    ));
    let hits = futures_seq(&sim, 40)
        .await
        .iter()
        .filter(|s| **s == 500)
        .count();
    assert!((5..=35).contains(&hits), "{hits}");
    sim.shutdown().await;
}

async fn futures_seq(sim: &notion_sim::SimHandle, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(sim, "/v1/users").await.status);
    }
    out
}

#[tokio::test]
async fn delay_drop_truncate_and_invalid_cursor_faults() {
    let sim = demo().await;
    sim.set_faults(rule(
        None,
        FaultKind::Delay(Duration::from_millis(300)),
        FaultMode::Sequence(vec![true]),
    ));
    let t = std::time::Instant::now();
    assert_eq!(get(&sim, "/v1/users").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    sim.set_faults(rule(
        None,
        FaultKind::TruncatedBody,
        FaultMode::Sequence(vec![true]),
    ));
    let r = reqwest::Client::new()
        .get(format!("{}/v1/users", sim.base_url()))
        .bearer_auth(sim.token())
        .header("Notion-Version", V_NEW)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.expect("complete body");
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
    sim.set_faults(rule(
        None,
        FaultKind::DropConnection,
        FaultMode::Sequence(vec![true]),
    ));
    let r = reqwest::Client::new()
        .get(format!("{}/v1/users", sim.base_url()))
        .bearer_auth(sim.token())
        .header("Notion-Version", V_NEW)
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.is_err(), "body stream must fail");
    let ds = ds_of(&sim, "Tasks");
    let path = format!("/v1/data_sources/{ds}/query");
    let first = post(&sim, &path, json!({"page_size": 5})).await;
    let c = first.body["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    sim.set_faults(rule(
        Some("query_data_source"),
        FaultKind::InvalidCursor,
        FaultMode::Always,
    ));
    assert_eq!(
        post(&sim, &path, json!({"page_size": 5})).await.status,
        200,
        "no cursor, no fault"
    );
    let r = post(&sim, &path, json!({"page_size": 5, "start_cursor": c})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        format!("The start_cursor provided is invalid: {c}")
    );
    // The same rejection in other words: only the message differs.
    sim.set_faults(rule(
        Some("query_data_source"),
        FaultKind::InvalidCursorSaying("This cursor has expired.".into()),
        FaultMode::Always,
    ));
    assert_eq!(
        post(&sim, &path, json!({"page_size": 5})).await.status,
        200,
        "no cursor, no fault"
    );
    let r = post(&sim, &path, json!({"page_size": 5, "start_cursor": c})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["code"], "validation_error");
    assert_eq!(r.body["message"], "This cursor has expired.");
    sim.shutdown().await;
}
