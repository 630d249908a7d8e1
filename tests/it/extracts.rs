//! Extracts end to end over HTTP: request, approval, delivery, "I'm done" — and the
//! authorization checks of SECURITY_BAR C2–C5 and C7 at the extract level.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{
    audit_actions, body, download, live_extract, request, wait_settled, wait_settled_for,
};
use common::spawn_app;
use registervakt::extract::format;
use registervakt::synthetic;
use serde_json::json;

const INVITE: &str = "district-assembly-invitation";

#[tokio::test]
async fn staff_get_exactly_the_approved_fields_as_csv_and_xlsx_and_then_every_path_answers_410() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let fields = ["last_name", "first_name", "email"];
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;

    let (status, headers, csv) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"utdrag-{id}.csv\"")
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(csv.starts_with(format::CSV_BOM));
    let table = format::read_csv(&csv).unwrap();
    assert_eq!(
        table[0],
        fields.map(str::to_owned).to_vec(),
        "header = approved fields (C3)"
    );
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
        .await;
    assert_eq!(
        table.len() - 1,
        meta["row_count"].as_u64().unwrap() as usize
    );
    assert!(table.len() > 1, "the district has members");

    let (status, _, xlsx) = download(&app, &cookie, &id, "xlsx").await;
    assert_eq!(status, 200);
    let sheet = format::read_xlsx(&xlsx).unwrap();
    assert_eq!(sheet[0], table[0]);
    assert_eq!(sheet.len(), table.len());

    let done = app
        .post_json(
            &format!("/api/v1/extracts/{id}/done"),
            Some(&cookie),
            json!({}),
        )
        .await;
    assert_eq!(done.status(), 204);
    for format in ["csv", "xlsx"] {
        let (status, _, bytes) = download(&app, &cookie, &id, format).await;
        assert_eq!(status, 410, "after done, {format}");
        assert!(!String::from_utf8_lossy(&bytes).contains('@'));
    }
    let view = app
        .post_json(
            &format!("/api/v1/extracts/{id}/view"),
            Some(&cookie),
            json!({}),
        )
        .await;
    assert_eq!(view.status(), 410);
    let again = app
        .post_json(
            &format!("/api/v1/extracts/{id}/done"),
            Some(&cookie),
            json!({}),
        )
        .await;
    assert_eq!(again.status(), 410);
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
        .await;
    assert_eq!(
        (meta["state"].as_str(), meta["end_reason"].as_str()),
        (Some("shredded"), Some("done"))
    );
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    for expected in [
        "extract.request",
        "extract.snapshot",
        "extract.download",
        "extract.shred",
    ] {
        assert!(
            actions.contains(&expected.to_owned()),
            "{expected} in {actions:?}"
        );
    }
    let store = app.store().await;
    let row = store.find_extract(&id).await.unwrap().unwrap();
    assert!(row.wrapped_key.is_none(), "the data key is destroyed");
    assert!(store.find_chunks(&id, 0, 10).await.unwrap().is_empty());
    let rows = row.row_count.unwrap();
    assert_eq!(
        store.count_disclosures(&id).await.unwrap(),
        rows,
        "the ledger outlives the data"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_request_waits_for_an_approver_of_its_district_who_approves_its_exact_hash() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let david = app.user("david", &["approver:Skåne"]).await;
    let self_approver = app
        .user("sara", &["staff:Uppsala", "approver:Uppsala"])
        .await;
    let anna_c = app.sign_in(&anna, "anna").await;
    // Election-worker recruitment always needs an approver.
    let asked = body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name", "phone"],
        60,
    );
    let (status, created) = request(&app, &anna_c, asked).await;
    assert_eq!(
        (status, created["state"].as_str()),
        (201, Some("pending")),
        "{created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let hash = created["request_hash"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "128-bit id");
    let (status, _, _) = download(&app, &anna_c, &id, "csv").await;
    assert_eq!(status, 409, "not approved yet");

    // An approver of another district cannot even see it (C2).
    let david_c = app.sign_in(&david, "david").await;
    let approve = |hash: &str| json!({ "request_hash": hash, "comment": "ok" });
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&david_c),
            approve(&hash),
        )
        .await;
    assert_eq!(res.status(), 404);
    // Nobody approves their own request (C5).
    let sara_c = app.sign_in(&self_approver, "sara").await;
    let own = body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name"],
        60,
    );
    let (_, own_created) = request(&app, &sara_c, own).await;
    let own_id = own_created["id"].as_str().unwrap();
    let own_hash = own_created["request_hash"].as_str().unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{own_id}/approve"),
            Some(&sara_c),
            approve(own_hash),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "self_approval"
    );

    // The approver sees the scope and the requester's history, never data.
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let queue = app
        .get_json_with("/api/v1/extracts?pending=true", &bertil_c)
        .await;
    let item = queue["extracts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap();
    assert_eq!(item["fields"], json!(["first_name", "phone"]));
    assert_eq!(item["requester"], "anna");
    assert!(item["row_count"].is_null());
    // A different hash is refused: the approval binds to the request (C5).
    let wrong = "0".repeat(64);
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&bertil_c),
            approve(&wrong),
        )
        .await;
    assert_eq!(res.status(), 409);
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&bertil_c),
            approve(&hash),
        )
        .await;
    assert_eq!(res.status(), 200);
    let twice = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&bertil_c),
            approve(&hash),
        )
        .await;
    assert!(
        matches!(twice.status().as_u16(), 409 | 410),
        "no second verdict"
    );
    let settled = wait_settled(&app, &anna_c, &id).await;
    assert_eq!(settled["state"], "live", "{settled}");
    assert_eq!(settled["verdicts"][0]["verdict"], "approve");
    let notices = app.get_json_with("/api/v1/notices", &anna_c).await;
    let kinds: Vec<&str> = notices["notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"extract_ready"), "{kinds:?}");
    let view = app
        .post_json(
            &format!("/api/v1/extracts/{id}/view"),
            Some(&anna_c),
            json!({"page": 0}),
        )
        .await;
    assert_eq!(view.status(), 200, "the purpose allows viewing");
    let page: serde_json::Value = view.json().await.unwrap();
    assert_eq!(page["columns"], json!(["first_name", "phone"]));
    app.stop().await;
}

#[tokio::test]
async fn a_request_for_another_district_is_refused_with_a_reason_and_audited_with_its_scope() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let (status, res) = request(&app, &cookie, body(INVITE, "Skåne", &["first_name"], 60)).await;
    assert_eq!(status, 403, "{res}");
    assert_eq!(res["error"], "not_permitted");
    assert!(res["message"].as_str().unwrap().contains("Skåne"));
    let (action, outcome, details) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(
        (action.as_str(), outcome.as_str()),
        ("policy.decide", "denied")
    );
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["district"], "Skåne");
    assert_eq!(details["fields"], json!(["first_name"]));
    let est = app
        .post_json(
            "/api/v1/extracts/estimate",
            Some(&cookie),
            json!({ "purpose": INVITE, "district": "Skåne" }),
        )
        .await;
    assert_eq!(est.status(), 403, "not even a count of another district");
    app.stop().await;
}

#[tokio::test]
async fn another_users_extract_answers_exactly_like_one_that_does_not_exist() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let eve = app.user("eve", &["staff:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &anna_c, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let eve_c = app.sign_in(&eve, "eve").await;
    let missing = "0123456789abcdef0123456789abcdef";
    for path in ["", "/download", "/view", "/done", "/attest-deleted"] {
        let (theirs, nothing) = if path.is_empty() {
            (
                app.get_with(&format!("/api/v1/extracts/{id}"), Some(&eve_c))
                    .await,
                app.get_with(&format!("/api/v1/extracts/{missing}"), Some(&eve_c))
                    .await,
            )
        } else {
            let b = json!({ "format": "csv" });
            let b = if path == "/download" { b } else { json!({}) };
            (
                app.post_json(
                    &format!("/api/v1/extracts/{id}{path}"),
                    Some(&eve_c),
                    b.clone(),
                )
                .await,
                app.post_json(
                    &format!("/api/v1/extracts/{missing}{path}"),
                    Some(&eve_c),
                    b,
                )
                .await,
            )
        };
        let (s1, s2) = (theirs.status(), nothing.status());
        let (b1, b2) = (theirs.text().await.unwrap(), nothing.text().await.unwrap());
        assert_eq!((s1, &b1), (s2, &b2), "path {path:?}");
        assert_eq!(s1, 404);
    }
    app.stop().await;
}

#[tokio::test]
async fn fields_outside_the_purpose_unknown_json_fields_unknown_purposes_and_long_lifetimes_are_refused()
 {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let (status, res) = request(
        &app,
        &cookie,
        body(INVITE, "Uppsala", &["personal_number"], 60),
    )
    .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (403, Some("field_not_allowed")),
        "C3: refused, not dropped"
    );
    let (action, _, details) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "policy.decide");
    assert!(
        details.contains("personal_number"),
        "audited with the scope"
    );
    let mut extra = body(INVITE, "Uppsala", &["first_name"], 60);
    extra["colour"] = json!("red");
    let (status, res) = request(&app, &cookie, extra).await;
    assert_eq!(
        (status, res["error"].as_str()),
        (422, Some("invalid_input"))
    );
    let (status, res) = request(
        &app,
        &cookie,
        body("free-text-purpose", "Uppsala", &["first_name"], 60),
    )
    .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (422, Some("unknown_purpose")),
        "C4"
    );
    let (status, res) = request(
        &app,
        &cookie,
        body(INVITE, "Uppsala", &["first_name"], 10081),
    )
    .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (403, Some("lifetime_too_long")),
        "never clamped"
    );
    let mut unacknowledged = body(INVITE, "Uppsala", &["first_name"], 60);
    unacknowledged["acknowledged"] = json!(false);
    let (status, res) = request(&app, &cookie, unacknowledged).await;
    assert_eq!(
        (status, res["error"].as_str()),
        (422, Some("acknowledgement_required"))
    );
    let store = app.store().await;
    assert!(
        store
            .list_extracts_by_requester("x", 1)
            .await
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn the_estimate_gives_counts_never_rows_and_is_audited() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let res = app
        .post_json(
            "/api/v1/extracts/estimate",
            Some(&cookie),
            json!({ "purpose": "phone-canvassing", "district": "Uppsala", "fields": ["first_name", "phone"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let est: serde_json::Value = res.json().await.unwrap();
    let keys: Vec<&String> = est.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["excluded_no_consent", "excluded_protected", "included"]
    );
    assert!(
        est["excluded_no_consent"].as_u64().unwrap() > 0,
        "phone consent is required: {est}"
    );
    let (action, outcome, _) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(
        (action.as_str(), outcome.as_str()),
        ("extract.estimate", "success")
    );
    app.stop().await;
}

#[tokio::test]
async fn an_approved_extract_cannot_be_downloaded_once_the_requesters_role_is_gone() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    // The role row goes without the session being ended (as a broker that has not yet seen
    // the change would find it): the download itself checks the roles now (C7).
    let store = app.store().await;
    let user = store.find_user_by_username("anna").await.unwrap().unwrap();
    let mut tx = store.begin().await.unwrap();
    registervakt::store::roles::revoke_role(&mut tx, &user.id, "staff", "Uppsala")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (status, _, bytes) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 403);
    assert!(bytes.len() < 300, "an error body, no data");
    app.stop().await;
}

#[tokio::test]
async fn creating_approving_and_downloading_need_a_fresh_second_factor() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    // Age the second-factor proof past five minutes (B2), straight in the store file.
    let db = app.dir.data.join(registervakt::config::SQLITE_STORE_FILE);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let age = registervakt::config::DEFAULT_STEP_UP_MAX_AGE_SECS + 1;
    sqlx::query(&format!(
        "UPDATE sessions SET second_factor_at = second_factor_at - {age}"
    ))
    .execute(&pool)
    .await
    .unwrap();
    for (path, b) in [
        (
            "/api/v1/extracts".to_owned(),
            body(INVITE, "Uppsala", &["first_name"], 60),
        ),
        (
            format!("/api/v1/extracts/{id}/download"),
            json!({ "format": "csv" }),
        ),
        (
            format!("/api/v1/extracts/{id}/approve"),
            json!({ "request_hash": "x" }),
        ),
    ] {
        let res = app.post_json(&path, Some(&cookie), b).await;
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap()["error"],
            "step_up_required"
        );
    }
    app.stop().await;
}

/// A list of more members than one store transaction holds (64 chunks of 512 rows) is written
/// while its next rows are sealed: it is built whole, every member downloads exactly once, and
/// "who received" finds members from the first, a middle and the last transaction.
#[tokio::test]
async fn a_list_of_several_store_transactions_is_built_whole_and_filed_for_every_member() {
    const MEMBERS: usize = 70_000;
    let members: Vec<_> = synthetic::generate(MEMBERS as u64, 19)
        .map(|mut m| {
            m.district = "Uppsala".into();
            m.protected_identity = Some(false);
            "active".clone_into(&mut m.membership_status);
            m
        })
        .collect();
    let mut expected: Vec<String> = members.iter().map(|m| m.member_id.to_string()).collect();
    let sampled = [0, MEMBERS / 2, MEMBERS - 1].map(|i| expected[i].clone());
    expected.sort_unstable();
    let dir = common::prepare_with(0, members).await;
    // The shipped catalogue, with room for the whole district in one invitation list.
    let policy = common::shipped_policy_edited(dir.path(), |catalogue| {
        catalogue.replacen("max_rows = 50000", "max_rows = 100000", 1)
    });
    let mut config = std::fs::read_to_string(&dir.config_path).unwrap();
    config.push_str(&format!(
        "\n[policy]\ndir = {:?}\n",
        policy.display().to_string()
    ));
    std::fs::write(&dir.config_path, config).unwrap();
    let app = common::spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let approvers = [
        app.user("bertil", &["approver:Uppsala"]).await,
        app.user("cecilia", &["approver:Uppsala"]).await,
    ];
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;

    let (status, created) =
        request(&app, &anna_c, body(INVITE, "Uppsala", &["member_id"], 60)).await;
    assert_eq!(
        (status, created["state"].as_str()),
        (201, Some("pending")),
        "{created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let hash = created["request_hash"].as_str().unwrap();
    for (approver, name) in approvers.iter().zip(["bertil", "cecilia"]) {
        let cookie = app.sign_in(approver, name).await;
        let res = app
            .post_json(
                &format!("/api/v1/extracts/{id}/approve"),
                Some(&cookie),
                json!({ "request_hash": hash, "comment": "ok" }),
            )
            .await;
        assert_eq!(res.status(), 200, "{name}");
    }
    // Two minutes: a debug build of 70 000 rows beside the other suites.
    let meta = wait_settled_for(&app, &anna_c, &id, 2400).await;
    assert_eq!(meta["state"], "live", "{meta}");
    assert_eq!(meta["row_count"], MEMBERS);

    let (status, _, csv) = download(&app, &anna_c, &id, "csv").await;
    assert_eq!(status, 200);
    let table = format::read_csv(&csv).unwrap();
    let mut got: Vec<String> = table[1..].iter().map(|row| row[0].clone()).collect();
    got.sort_unstable();
    assert!(got == expected, "every member exactly once");

    let farid_c = app.sign_in(&farid, "farid").await;
    for member in sampled {
        let path = format!("/api/v1/audit/members/{member}/disclosures");
        let answer = app.get_json_with(&path, &farid_c).await;
        let ids: Vec<&str> = answer["disclosures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["extract_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [id.as_str()], "{answer}");
    }
}
