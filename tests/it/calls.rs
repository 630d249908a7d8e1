//! Call lists (issue 21): a list worked in Registervakt, never a file. The requester gives
//! members to callers of the district; a caller sees only their members, a few at a time, and
//! records outcomes from the purpose's list; every member shown is in the ledger as shown to
//! that caller; bad input is refused with a code and audited; at the end every path answers
//! 410, the assignments and notes are gone from the store and only counts remain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, download, raw, request, wait_settled};
use common::{TestApp, prepare_with, spawn_app_in};
use registervakt::synthetic;
use serde_json::{Value, json};

const CALLS: &str = "member-calls";

fn calls_body() -> Value {
    let mut b = body(CALLS, "Uppsala", &["first_name", "last_name", "phone"], 600);
    b["call_list"] = json!(true);
    b
}

async fn post(app: &TestApp, cookie: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app.post_json(path, Some(cookie), body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Anna's approved call list of Uppsala's members who agreed to phone calls; its id.
async fn approved_call_list(app: &TestApp, anna: &str, bertil: &str) -> String {
    let (status, created) = request(app, anna, calls_body()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let approve = json!({ "request_hash": created["request_hash"], "comment": "ok" });
    let (status, _) = post(
        app,
        bertil,
        &format!("/api/v1/extracts/{id}/approve"),
        approve,
    )
    .await;
    assert_eq!(status, 200);
    let v = wait_settled(app, anna, &id).await;
    assert_eq!(
        (v["state"].clone(), v["call_list"].clone()),
        (json!("live"), json!(true)),
        "{v}"
    );
    id
}

/// Whether a batch shows the member whose data holds `marker` (in the values, not a note).
fn holds(batch: &Value, marker: &str) -> bool {
    batch["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["values"].to_string().contains(marker))
}

#[tokio::test]
async fn a_call_list_is_worked_by_its_callers_refuses_bad_input_and_leaves_only_counts() {
    let mut member = synthetic::canary(21);
    member.district = "Uppsala".into();
    member.consent_phone = Some(true);
    member.phone = Some("070-555 21 21".into());
    let member_id = member.member_id.to_string();
    let marker = synthetic::canary_marker(21);
    let dir = prepare_with(300, vec![member]).await;
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cilla = app.user("cilla", &["staff:Uppsala"]).await;
    let david = app.user("david", &["staff:Skåne"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let cilla_c = app.sign_in(&cilla, "cilla").await;
    let david_c = app.sign_in(&david, "david").await;

    // The purpose allows only a call list: a file request is refused before anything is read.
    let mut as_file = calls_body();
    as_file["call_list"] = json!(false);
    let (status, res) = request(&app, &anna_c, as_file).await;
    assert_eq!(
        (status, res["error"].as_str()),
        (409, Some("call_list_only")),
        "{res}"
    );

    let id = approved_call_list(&app, &anna_c, &bertil_c).await;
    let members = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &anna_c)
        .await["row_count"]
        .as_i64()
        .unwrap();
    assert!(members > 5, "{members}");
    // A call list is never a file, not even for its requester.
    let (status, _, bytes) = download(&app, &anna_c, &id, "csv").await;
    assert_eq!(status, 409);
    assert!(String::from_utf8_lossy(&bytes).contains("call_list_no_file"));

    let calls = |path: &str| format!("/api/v1/extracts/{id}/calls/{path}");
    // Bad input, each refused with its code and audited: a caller outside the district, a
    // member outside the list.
    let (status, res) = post(
        &app,
        &anna_c,
        &calls("assignments"),
        json!({ "caller": "david", "positions": [0] }),
    )
    .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (409, Some("caller_not_in_district")),
        "{res}"
    );
    let (status, res) = post(
        &app,
        &anna_c,
        &calls("assignments"),
        json!({ "caller": "cilla", "positions": [members] }),
    )
    .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (409, Some("member_not_in_list")),
        "{res}"
    );
    let refused: Vec<(String, String, String)> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, o, _)| a == "calls.assign" && o == "denied")
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    // Only the requester gives members out.
    let (status, _) = post(
        &app,
        &cilla_c,
        &calls("share"),
        json!({ "callers": ["cilla"] }),
    )
    .await;
    assert_eq!(status, 404);

    // The requester's page before anything is given out: who can be given members.
    let (status, html) = common::pages::page(&app, &format!("/extracts/{id}/calls"), &anna_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("id=\"caller-cilla\"") && !html.contains("caller-david"),
        "{html}"
    );

    // Two callers share the list: anna and cilla.
    let (status, res) = post(
        &app,
        &anna_c,
        &calls("share"),
        json!({ "callers": ["anna", "cilla"] }),
    )
    .await;
    assert_eq!(
        (status, res["members"].as_i64()),
        (200, Some(members)),
        "{res}"
    );
    let mine = app.get_json_with("/api/v1/calls", &cilla_c).await;
    assert_eq!(mine["lists"][0]["extract_id"], id.as_str(), "{mine}");
    let cilla_has = mine["lists"][0]["assigned"].as_i64().unwrap();
    assert_eq!(cilla_has, members / 2);

    // The pages: cilla's lists, her page of members to call, anna's counts.
    let (status, html) = common::pages::page(&app, "/calls", &cilla_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("action=\"/calls/{id}\"")), "{html}");
    let csrf = common::pages::csrf(&html);
    let res =
        common::pages::post_form(&app, &format!("/calls/{id}"), &cilla_c, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert_eq!(html.matches("class=\"card call\"").count(), 5, "{html}");
    assert!(html.contains("href=\"tel:"), "{html}");
    let (status, html) = common::pages::page(&app, &format!("/extracts/{id}/calls"), &anna_c).await;
    assert_eq!(status, 200, "{html}");

    // Someone with no members on the list sees no list.
    let (status, _) = post(&app, &david_c, &calls("next"), json!({})).await;
    assert_eq!(status, 404);

    // Cilla calls: a few at a time, only the approved fields, each shown recorded.
    let (status, batch) = post(&app, &cilla_c, &calls("next"), json!({})).await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(
        batch["columns"],
        json!(["first_name", "last_name", "phone"])
    );
    let shown = batch["members"].as_array().unwrap();
    assert_eq!(shown.len(), 5);
    let mut cilla_saw = holds(&batch, &marker);
    let first = shown[0]["position"].as_i64().unwrap();
    let (status, res) = post(
        &app,
        &cilla_c,
        &calls("outcomes"),
        json!({ "position": first, "outcome": "answered" }),
    )
    .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (409, Some("outcome_not_allowed")),
        "{res}"
    );
    let anna_batch = post(&app, &anna_c, &calls("next"), json!({})).await.1;
    let annas = anna_batch["members"][0]["position"].as_i64().unwrap();
    let (status, res) = post(
        &app,
        &cilla_c,
        &calls("outcomes"),
        json!({ "position": annas, "outcome": "reached" }),
    )
    .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (409, Some("member_not_in_list")),
        "{res}"
    );
    let note = format!("Ring efter sex, fråga efter {marker}");
    let (status, _) = post(
        &app,
        &cilla_c,
        &calls("outcomes"),
        json!({ "position": first, "outcome": "call_back", "note": note }),
    )
    .await;
    assert_eq!(status, 204);
    for m in &shown[1..] {
        let at = m["position"].as_i64().unwrap();
        let (status, _) = post(
            &app,
            &cilla_c,
            &calls("outcomes"),
            json!({ "position": at, "outcome": "reached" }),
        )
        .await;
        assert_eq!(status, 204);
    }
    // The one to call back comes back after those not called yet, with its note.
    let mut rounds = 0;
    loop {
        let (_, batch) = post(&app, &cilla_c, &calls("next"), json!({})).await;
        cilla_saw |= holds(&batch, &marker);
        let list = batch["members"].as_array().unwrap().clone();
        if list.iter().any(|m| m["position"] == first) {
            let back = list.iter().find(|m| m["position"] == first).unwrap();
            assert_eq!(back["outcome"], "call_back");
            assert_eq!(back["note"], note.as_str());
            break;
        }
        for m in &list {
            let at = m["position"].as_i64().unwrap();
            post(
                &app,
                &cilla_c,
                &calls("outcomes"),
                json!({ "position": at, "outcome": "no_answer" }),
            )
            .await;
        }
        rounds += 1;
        assert!(rounds < 100, "the call-back never came back");
    }

    // Anna calls all of hers too, so the canary has been on exactly one screen.
    let mut anna_saw = holds(&anna_batch, &marker);
    loop {
        let (_, batch) = post(&app, &anna_c, &calls("next"), json!({})).await;
        anna_saw |= holds(&batch, &marker);
        let list = batch["members"].as_array().unwrap().clone();
        if list.is_empty() {
            break;
        }
        for m in &list {
            let at = m["position"].as_i64().unwrap();
            let body = json!({ "position": at, "outcome": "wrong_number" });
            assert_eq!(post(&app, &anna_c, &calls("outcomes"), body).await.0, 204);
        }
    }

    // The requester sees counts per caller and outcome, never member data.
    let progress = app.get_json_with(&calls("progress"), &anna_c).await;
    let of = |name: &str| {
        progress["callers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str().unwrap().to_lowercase().contains(name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {progress}"))
    };
    let c = of("cilla");
    assert_eq!(c["assigned"].as_i64(), Some(cilla_has));
    assert_eq!(c["outcomes"]["reached"], 4);
    assert_eq!(c["outcomes"]["call_back"], 1);
    assert!(!progress.to_string().contains(&marker));

    // "Who received member X" names the caller the member was shown to.
    let farid_c = app.sign_in(&farid, "farid").await;
    let who = app
        .get_json_with(
            &format!("/api/v1/audit/members/{member_id}/disclosures"),
            &farid_c,
        )
        .await;
    let on_list = who["disclosures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["extract_id"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{who}"));
    assert_eq!(on_list["downloaded"], false);
    let shown_to: Vec<&str> = on_list["shown_to"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap())
        .collect();
    // Each caller is named exactly when the canary was on their screen.
    assert!(anna_saw != cilla_saw, "the canary was on one screen");
    let mut expected: Vec<&str> = [("anna", anna_saw), ("cilla", cilla_saw)]
        .into_iter()
        .filter(|(_, saw)| *saw)
        .map(|(name, _)| name)
        .collect();
    let mut got = shown_to.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected, "{on_list}");

    // Anna closes the list: everything is destroyed, every path answers 410, counts remain.
    let (status, _) = post(
        &app,
        &anna_c,
        &format!("/api/v1/extracts/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    for (cookie, path, body) in [
        (&cilla_c, calls("next"), json!({})),
        (
            &cilla_c,
            calls("outcomes"),
            json!({ "position": first, "outcome": "reached" }),
        ),
        (
            &anna_c,
            calls("assignments"),
            json!({ "caller": "cilla", "positions": [0] }),
        ),
        (&anna_c, calls("share"), json!({ "callers": ["cilla"] })),
        (
            &anna_c,
            calls("reassign"),
            json!({ "from": "cilla", "to": "anna" }),
        ),
    ] {
        let (status, res) = post(&app, cookie, &path, body).await;
        assert_eq!(status, 410, "{path}: {res}");
    }
    let after = app.get_json_with(&calls("progress"), &anna_c).await;
    assert_eq!(after["state"], "shredded");
    let c_after = after["callers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().to_lowercase().contains("cilla"))
        .cloned()
        .unwrap();
    assert_eq!(c_after["outcomes"]["reached"], 4);
    assert_eq!(c_after["assigned"].as_i64(), Some(cilla_has));
    let pool = raw(&app).await;
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM call_assignments WHERE extract_id = ?")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "no assignment, outcome or note is left");
    pool.close().await;
    // The note and the members' data are nowhere in the data directory or the log.
    let hits = app
        .dir
        .leaks
        .scan_files(std::slice::from_ref(&app.dir.data));
    common::leaks::fail_on(&hits, "after the call list ended");
    app.stop().await;
}

/// The same store statements on PostgreSQL: sharing, moving, a caller's batch and outcome,
/// the counts per caller (a SUM PostgreSQL types otherwise), and closing to counts only.
#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn a_call_list_runs_on_a_postgres_store() {
    let app = common::postgres::spawn_on_postgres("calls").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cilla = app.user("cilla", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let cilla_c = app.sign_in(&cilla, "cilla").await;
    let id = approved_call_list(&app, &anna_c, &bertil_c).await;
    let calls = |path: &str| format!("/api/v1/extracts/{id}/calls/{path}");
    let (status, res) = post(
        &app,
        &anna_c,
        &calls("share"),
        json!({ "callers": ["cilla"] }),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    let (status, batch) = post(&app, &cilla_c, &calls("next"), json!({})).await;
    assert_eq!(status, 200, "{batch}");
    let first = batch["members"][0]["position"].as_i64().unwrap();
    let body = json!({ "position": first, "outcome": "reached", "note": "Trevligt samtal" });
    let (status, _) = post(&app, &cilla_c, &calls("outcomes"), body).await;
    assert_eq!(status, 204);
    let second = batch["members"][1]["position"].as_i64().unwrap();
    let body = json!({ "position": second, "outcome": "do_not_call" });
    let (status, _) = post(&app, &cilla_c, &calls("outcomes"), body).await;
    assert_eq!(status, 204);
    let mine = app.get_json_with("/api/v1/calls", &cilla_c).await;
    let assigned = mine["lists"][0]["assigned"].as_i64().unwrap();
    assert_eq!(
        mine["lists"][0]["left"].as_i64(),
        Some(assigned - 2),
        "{mine}"
    );
    let (status, res) = post(
        &app,
        &anna_c,
        &calls("reassign"),
        json!({ "from": "cilla", "to": "anna" }),
    )
    .await;
    assert_eq!(
        (status, res["members"].as_i64()),
        (200, Some(assigned - 2)),
        "{res}"
    );
    let progress = app.get_json_with(&calls("progress"), &anna_c).await;
    assert_eq!(
        progress["callers"].as_array().unwrap().len(),
        2,
        "{progress}"
    );
    let (status, _) = post(
        &app,
        &anna_c,
        &format!("/api/v1/extracts/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    let after = app.get_json_with(&calls("progress"), &anna_c).await;
    assert_eq!(after["state"], "shredded");
    let reached: i64 = after["callers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["outcomes"]["reached"].as_i64())
        .sum();
    assert_eq!(reached, 1, "{after}");
    let (status, _) = post(&app, &cilla_c, &calls("next"), json!({})).await;
    assert_eq!(status, 410);
    // The member who asked not to be called again went on, in the same transaction, as a
    // list of one for the register office (the ledger copy and the new list's row on
    // PostgreSQL's types).
    let all = app.get_json_with("/api/v1/extracts", &anna_c).await;
    let made: Vec<&Value> = all["extracts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from_call_list"] == id.as_str())
        .collect();
    assert_eq!(made.len(), 1, "{all}");
    assert_eq!(
        (made[0]["state"].clone(), made[0]["row_count"].clone()),
        (json!("live"), json!(1))
    );
    app.stop().await;
}
