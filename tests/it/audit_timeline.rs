//! The auditor's timeline, `GET /api/v1/audit/events`: scoped by the policy (a district auditor
//! sees only entries about extracts in their districts), filtered, paged, a bad limit refused
//! with 422, and every read itself an audit event with its filters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{body, live_extract};
use common::{TestApp, spawn_app};
use serde_json::Value;

const INVITE: &str = "district-assembly-invitation";

struct World {
    app: TestApp,
    uppsala: String,
    skane: String,
    farid: String,
    sven: String,
    anna: String,
}

/// Anna (Uppsala) and Cecilia (Skåne) each hold a live extract; Farid audits the whole party,
/// Sven audits Skåne; Anna's session is returned too, for refusals.
async fn world() -> World {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let sven = app.user("sven", &["auditor:Skåne"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let uppsala = live_extract(&app, &anna_c, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let skane = live_extract(&app, &cecilia_c, body(INVITE, "Skåne", &["first_name"], 60)).await;
    let farid = app.sign_in(&farid, "farid").await;
    let sven = app.sign_in(&sven, "sven").await;
    World {
        app,
        uppsala,
        skane,
        farid,
        sven,
        anna: anna_c,
    }
}

async fn events(app: &TestApp, cookie: &str, query: &str) -> Vec<Value> {
    let res = app
        .get_with(&format!("/api/v1/audit/events{query}"), Some(cookie))
        .await;
    assert_eq!(res.status(), 200, "{query}");
    let v: Value = res.json().await.unwrap();
    v["events"].as_array().unwrap().clone()
}

fn targets(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_district_auditor_sees_only_entries_about_extracts_in_their_district() {
    let w = world().await;
    let seen = events(&w.app, &w.sven, "?limit=500").await;
    let skane = format!("extract:{}", w.skane);
    assert!(!seen.is_empty());
    assert!(
        targets(&seen).iter().all(|t| *t == skane),
        "only the Skåne extract: {:?}",
        targets(&seen)
    );
    let actions: Vec<&str> = seen.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"extract.request"), "{actions:?}");
    assert!(actions.contains(&"extract.snapshot"), "{actions:?}");
    // Asking for the other district by name does not widen the scope.
    assert!(
        events(&w.app, &w.sven, "?district=Uppsala")
            .await
            .is_empty()
    );

    let all = events(&w.app, &w.farid, "?limit=500").await;
    let all_targets = targets(&all);
    assert!(all_targets.contains(&format!("extract:{}", w.uppsala).as_str()));
    assert!(all_targets.contains(&skane.as_str()));
    assert!(
        all.iter().any(|e| e["action"] == "auth.password_ok"),
        "a party-wide auditor sees sign-ins too"
    );
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|p| p[0] > p[1]), "newest first");
    w.app.stop().await;
}

#[tokio::test]
async fn filters_select_by_actor_district_action_purpose_and_time_and_pages_follow_before() {
    let w = world().await;
    let (app, farid) = (&w.app, w.farid.as_str());
    let requests = events(app, farid, "?action=extract.request").await;
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests.iter().all(|e| e["action"] == "extract.request"));

    let by_anna = events(app, farid, "?actor=anna&limit=500").await;
    assert!(!by_anna.is_empty());
    assert!(by_anna.iter().all(|e| e["actor_username"] == "anna"));
    assert!(events(app, farid, "?actor=nobody").await.is_empty());

    let uppsala = format!("extract:{}", w.uppsala);
    let in_uppsala = events(app, farid, "?district=Uppsala&limit=500").await;
    assert!(!in_uppsala.is_empty());
    assert!(targets(&in_uppsala).iter().all(|t| *t == uppsala));

    let invites = events(
        app,
        farid,
        &format!("?purpose={INVITE}&action=extract.request"),
    )
    .await;
    assert_eq!(invites.len(), 2);
    assert!(
        events(app, farid, "?purpose=member-recruitment-calls")
            .await
            .is_empty()
    );

    assert!(
        events(app, farid, "?to=2000-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        events(app, farid, "?from=2999-01-01T00:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        !events(app, farid, "?from=2000-01-01T00:00:00%2B01:00")
            .await
            .is_empty()
    );

    let res = app
        .get_with("/api/v1/audit/events?limit=2", Some(farid))
        .await;
    let first: Value = res.json().await.unwrap();
    let page: Vec<i64> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(page.len(), 2);
    let next = first["next_before"].as_i64().unwrap();
    assert_eq!(next, page[1]);
    let older = events(app, farid, &format!("?limit=2&before={next}")).await;
    assert_eq!(older.len(), 2);
    assert!(older.iter().all(|e| e["seq"].as_i64().unwrap() < next));
    w.app.stop().await;
}

#[tokio::test]
async fn a_bad_limit_or_filter_is_422_and_a_non_auditor_is_403() {
    let w = world().await;
    for query in [
        "?limit=0",
        "?limit=501",
        "?limit=ten",
        "?limit=-3",
        "?action=extract.nothing",
        "?from=yesterday",
        "?before=0",
        "?district=%0A",
    ] {
        let res = w
            .app
            .get_with(&format!("/api/v1/audit/events{query}"), Some(&w.farid))
            .await;
        assert_eq!(res.status(), 422, "{query}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "invalid_input", "{query}");
    }
    let ok = w
        .app
        .get_with("/api/v1/audit/events?limit=500", Some(&w.farid))
        .await;
    assert_eq!(ok.status(), 200, "500 is allowed");
    let staff = w.app.get_with("/api/v1/audit/events", Some(&w.anna)).await;
    assert_eq!(staff.status(), 403);
    let none = w.app.get_with("/api/v1/audit/events", None).await;
    assert_eq!(none.status(), 401);
    w.app.stop().await;
}

#[tokio::test]
async fn every_read_of_the_timeline_is_an_audit_event_with_its_filters() {
    let w = world().await;
    let read = events(&w.app, &w.sven, "?action=extract.request&limit=7").await;
    assert_eq!(read.len(), 1);
    let store = w.app.store().await;
    let last = store.list_recent_audit_events(1).await.unwrap().remove(0);
    store.close().await;
    assert_eq!(last.action, "audit.timeline");
    assert_eq!(last.target, "audit_log");
    let details: Value = serde_json::from_str(&last.details).unwrap();
    assert_eq!(details["filters"]["action"], "extract.request");
    assert_eq!(details["filters"]["limit"], 7);
    assert_eq!(details["returned"], 1);
    assert_eq!(details["scope"], serde_json::json!(["Skåne"]));
    // The party-wide auditor sees the district auditor's read on the timeline.
    let reads = events(&w.app, &w.farid, "?action=audit.timeline&actor=sven").await;
    assert_eq!(reads.len(), 1);
    w.app.stop().await;
}
