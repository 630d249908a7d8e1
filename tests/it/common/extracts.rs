//! Helpers for the extract suites: request, approve, wait until live, download.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};

use super::TestApp;

/// A request body for `purpose` in `district` asking for `fields`.
pub fn body(purpose: &str, district: &str, fields: &[&str], lifetime: u32) -> Value {
    json!({
        "purpose": purpose, "district": district, "fields": fields,
        "lifetime_minutes": lifetime,
        "justification": "Kallelse till distriktsstämman i mars",
        "acknowledged": true,
    })
}

/// Posts a request; returns (status, body).
pub async fn request(app: &TestApp, cookie: &str, body: Value) -> (u16, Value) {
    let res = app.post_json("/api/v1/extracts", Some(cookie), body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Polls the extract until it leaves `pending`/`building`; returns its metadata.
pub async fn wait_settled(app: &TestApp, cookie: &str, id: &str) -> Value {
    wait_settled_for(app, cookie, id, 200).await
}

/// [`wait_settled`], polling up to `polls` times 50 ms (a large build takes longer).
pub async fn wait_settled_for(app: &TestApp, cookie: &str, id: &str, polls: u32) -> Value {
    for _ in 0..polls {
        let v = app
            .get_json_with(&format!("/api/v1/extracts/{id}"), cookie)
            .await;
        match v["state"].as_str() {
            Some("building") | Some("pending") => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            _ => return v,
        }
    }
    panic!("extract {id} never settled");
}

/// Requests an extract that needs no approval and waits until it is live; returns its id.
pub async fn live_extract(app: &TestApp, cookie: &str, body: Value) -> String {
    let (status, created) = request(app, cookie, body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let v = wait_settled(app, cookie, &id).await;
    assert_eq!(v["state"], "live", "{v}");
    id
}

/// Downloads in `format`; returns (status, headers, bytes).
pub async fn download(
    app: &TestApp,
    cookie: &str,
    id: &str,
    format: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/download"),
            Some(cookie),
            json!({ "format": format }),
        )
        .await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    (status, headers, bytes)
}

/// The audit actions recorded so far, oldest first.
pub async fn audit_actions(app: &TestApp) -> Vec<(String, String, String)> {
    let store = app.store().await;
    let mut rows = store.list_recent_audit_events(10_000).await.unwrap();
    store.close().await;
    rows.reverse();
    rows.into_iter()
        .map(|r| (r.action, r.outcome, r.details))
        .collect()
}

/// A second connection on the broker's SQLite store, for tests that must reach behind the API.
pub async fn raw(app: &TestApp) -> sqlx::SqlitePool {
    let db = app.dir.data.join(registervakt::config::SQLITE_STORE_FILE);
    sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap()
}
