//! SECURITY_BAR E5: every API operation has a declared audit event, and a new route without one
//! fails here. The declarations are checked against the route table, against a short
//! allowlist of routes that reveal nothing about members or other people, and — for
//! representative routes — against what calling them really writes to the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use axum::http::Method;
use common::extracts::{body, live_extract};
use common::{TestApp, spawn_app};
use registervakt::web::{Audited, Route, routes};
use serde_json::json;

/// The only routes allowed to record nothing. A new route that records nothing must be added
/// here on purpose, with its reason in the route table.
const NOT_AUDITED: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/static/app.css"),
    ("GET", "/static/extracts.js"),
    ("GET", "/static/frame.js"),
    ("GET", "/static/passkey.js"),
    ("POST", "/language"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/login"),
    ("GET", "/invite/{token}"),
    ("GET", "/login/code"),
    ("GET", "/login/recovery"),
    ("GET", "/enrol"),
    ("POST", "/api/v1/auth/enrol"),
    ("GET", "/account"),
    ("GET", "/confirm"),
    ("POST", "/api/v1/passkeys/register/begin"),
    ("POST", "/api/v1/passkeys/authenticate/begin"),
    ("GET", "/api/v1/passkeys"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/policy"),
    ("GET", "/api/v1/freeze"),
    ("GET", "/api/v1/notices"),
    ("POST", "/api/v1/notices/{id}/read"),
    ("GET", "/extracts"),
    ("GET", "/extracts/new"),
    // The requester's own extract page, asked again by its script (never someone else's).
    ("GET", "/extracts/{id}/live"),
    // A caller's own call lists, and a requester's counts per caller and outcome: names of
    // purposes and numbers, never member data.
    ("GET", "/api/v1/calls"),
    ("GET", "/calls"),
    ("GET", "/api/v1/extracts/{id}/calls/progress"),
    ("GET", "/extracts/{id}/calls"),
    ("GET", "/audit"),
];

fn key(route: &Route) -> (&str, &'static str) {
    (route.method.as_str(), route.path)
}

fn allowlisted(route: &Route) -> bool {
    NOT_AUDITED.contains(&key(route))
}

#[test]
fn every_api_route_declares_an_event_or_is_a_listed_exemption() {
    for route in routes() {
        let api = route.path.starts_with("/api/") && route.path != "/api/openapi.json";
        match route.audit {
            Audited::Records(actions) => {
                assert!(
                    !actions.is_empty(),
                    "{route:?} declares an empty event list"
                )
            }
            Audited::NotAudited(why) => {
                assert!(!why.trim().is_empty(), "{route:?} gives no reason");
                assert!(
                    allowlisted(&route),
                    "{} {} records nothing and is not on the allowlist: declare its audit events",
                    route.method,
                    route.path
                );
            }
        }
        if api && !allowlisted(&route) {
            assert!(
                !route.audit.actions().is_empty(),
                "{} {} declares no audit event",
                route.method,
                route.path
            );
        }
    }
}

#[test]
fn the_allowlist_names_only_routes_that_exist_and_record_nothing() {
    let all = routes();
    for (method, path) in NOT_AUDITED {
        let route = all
            .iter()
            .find(|r| key(r) == (*method, *path))
            .unwrap_or_else(|| panic!("{method} {path} is allowlisted but not a route"));
        assert!(
            matches!(route.audit, Audited::NotAudited(_)),
            "{method} {path} records events: take it off the allowlist"
        );
    }
}

#[test]
fn no_route_is_declared_twice() {
    let all = routes();
    let mut seen = std::collections::HashSet::new();
    for r in &all {
        assert!(seen.insert(key(r)), "{r:?} twice");
    }
}

/// The actions declared for `method path`.
fn declared(method: Method, path: &str) -> Vec<&'static str> {
    let route = routes()
        .into_iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap_or_else(|| panic!("no route {method} {path}"));
    route.audit.actions().iter().map(|a| a.code()).collect()
}

async fn head(app: &TestApp) -> i64 {
    let store = app.store().await;
    let head = store.find_audit_head().await.unwrap().map_or(0, |h| h.0);
    store.close().await;
    head
}

/// The actions recorded after `since`, oldest first.
async fn recorded_since(app: &TestApp, since: i64) -> Vec<String> {
    let store = app.store().await;
    let mut rows = store.list_recent_audit_events(1000).await.unwrap();
    store.close().await;
    rows.retain(|r| r.seq > since);
    rows.reverse();
    rows.into_iter().map(|r| r.action).collect()
}

/// Asserts that what happened since `since` includes one of the actions `method path` declares.
async fn assert_records_declared(app: &TestApp, since: i64, method: Method, path: &str) {
    let declared = declared(method.clone(), path);
    let recorded = recorded_since(app, since).await;
    assert!(
        recorded.iter().any(|a| declared.contains(&a.as_str())),
        "{method} {path} declares {declared:?} but recorded {recorded:?}"
    );
}

#[tokio::test]
async fn representative_routes_really_record_one_of_their_declared_events() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let admin = app.user("adam", &["admin:*"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;

    let since = head(&app).await;
    let res = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({ "username": "anna", "password": "not her password" }),
        )
        .await;
    assert_eq!(res.status(), 401);
    assert_records_declared(&app, since, Method::POST, "/api/v1/auth/login").await;

    let anna_c = app.sign_in(&anna, "anna").await;
    let since = head(&app).await;
    let res = app
        .post_json(
            "/api/v1/extracts/estimate",
            Some(&anna_c),
            json!({ "purpose": "district-assembly-invitation", "district": "Uppsala" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_records_declared(&app, since, Method::POST, "/api/v1/extracts/estimate").await;

    let since = head(&app).await;
    let id = live_extract(
        &app,
        &anna_c,
        body(
            "district-assembly-invitation",
            "Uppsala",
            &["first_name"],
            60,
        ),
    )
    .await;
    assert_records_declared(&app, since, Method::POST, "/api/v1/extracts").await;

    // The requester reading her own extract reveals nobody else: nothing is recorded.
    let since = head(&app).await;
    let own = app
        .get_with(&format!("/api/v1/extracts/{id}"), Some(&anna_c))
        .await;
    assert_eq!(own.status(), 200);
    assert_eq!(recorded_since(&app, since).await, Vec::<String>::new());

    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let since = head(&app).await;
    let seen = app
        .get_with(&format!("/api/v1/extracts/{id}"), Some(&bertil_c))
        .await;
    assert_eq!(seen.status(), 200);
    assert_records_declared(&app, since, Method::GET, "/api/v1/extracts/{id}").await;

    let since = head(&app).await;
    let queue = app
        .get_with("/api/v1/extracts?pending=true", Some(&bertil_c))
        .await;
    assert_eq!(queue.status(), 200);
    assert_records_declared(&app, since, Method::GET, "/api/v1/extracts").await;

    let admin_c = app.sign_in(&admin, "adam").await;
    for path in [
        "/api/v1/users",
        "/api/v1/role-changes",
        "/api/v1/user-proposals",
    ] {
        let since = head(&app).await;
        let res = app.get_with(path, Some(&admin_c)).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_records_declared(&app, since, Method::GET, path).await;
    }

    let farid_c = app.sign_in(&farid, "farid").await;
    let since = head(&app).await;
    let res = app
        .get_with("/api/v1/audit/events?limit=5", Some(&farid_c))
        .await;
    assert_eq!(res.status(), 200);
    assert_records_declared(&app, since, Method::GET, "/api/v1/audit/events").await;

    let since = head(&app).await;
    let res = app
        .post_json("/api/v1/auth/logout", Some(&farid_c), json!({}))
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_records_declared(&app, since, Method::POST, "/api/v1/auth/logout").await;
    app.stop().await;
}
