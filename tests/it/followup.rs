//! Follow-up flags (issue item 5): each kind is raised by a scenario that makes it and not by
//! one that does not; flags are seen by the district's approvers and the auditors only; an
//! acknowledgement needs a fresh second factor, is audited, and sticks to the flag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, download, live_extract, raw, request};
use common::{TestApp, TestDir, prepare, spawn_app_in};
use serde_json::{Value, json};
use sqlx::Executor as _;

const INVITE: &str = "district-assembly-invitation";

/// Office hours `HH:00-HH:00` that contain (`inside`) or exclude the current UTC hour by at
/// least an hour on each side.
fn office_hours(inside: bool) -> String {
    use time::OffsetDateTime;
    let h = i32::from(OffsetDateTime::now_utc().hour());
    let (start, end) = if inside {
        (h - 1, h + 2)
    } else {
        (h + 2, h + 4)
    };
    let wrap = |x: i32| x.rem_euclid(24);
    format!("{:02}:00-{:02}:00", wrap(start), wrap(end))
}

async fn app_with(extra: &str) -> TestApp {
    let dir: TestDir = prepare(200).await;
    let text = format!("{}\n{extra}\n", dir.config_text());
    std::fs::write(&dir.config_path, text).unwrap();
    spawn_app_in(dir).await
}

async fn flags(app: &TestApp, cookie: &str, query: &str) -> Vec<Value> {
    let res = app
        .get_with(&format!("/api/v1/audit/flags{query}"), Some(cookie))
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["flags"].as_array().unwrap().clone()
}

fn of_kind<'a>(flags: &'a [Value], kind: &str) -> Vec<&'a Value> {
    flags.iter().filter(|f| f["kind"] == kind).collect()
}

fn with_filters(mut b: Value) -> Value {
    b["filters"] = json!({ "age_min": 16, "age_max": 130 });
    b
}

#[tokio::test]
async fn each_kind_is_raised_by_what_makes_it_seen_in_its_district_and_acknowledged_once_with_step_up()
 {
    let extra = format!(
        "[followup]\noffice_hours = \"{}\"\nmany_pulls_per_week = 2\ndenials_per_week = 2\n\n\
         [extracts]\nattest_grace_hours = 1\n",
        office_hours(true)
    );
    let app = app_with(&extra).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let erik = app.user("erik", &["staff:Uppsala"]).await;
    let frida = app.user("frida", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let david = app.user("david", &["approver:Skåne"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let invite = |d: &str| body(INVITE, d, &["first_name", "email"], 60);

    // anna: three pulls in a week (over the limit of 2); the first of the whole district,
    // the others filtered. One downloaded, ended and never confirmed deleted; one downloaded,
    // ended and confirmed; one ended without a download.
    let anna_c = app.sign_in(&anna, "anna").await;
    let whole = live_extract(&app, &anna_c, invite("Uppsala")).await;
    let confirmed = live_extract(&app, &anna_c, with_filters(invite("Uppsala"))).await;
    let unused = live_extract(&app, &anna_c, with_filters(invite("Uppsala"))).await;
    for id in [&whole, &confirmed] {
        assert_eq!(download(&app, &anna_c, id, "csv").await.0, 200);
    }
    for id in [&whole, &confirmed, &unused] {
        let path = format!("/api/v1/extracts/{id}/done");
        assert_eq!(
            app.post_json(&path, Some(&anna_c), json!({}))
                .await
                .status(),
            204
        );
    }
    let path = format!("/api/v1/extracts/{confirmed}/attest-deleted");
    assert_eq!(
        app.post_json(&path, Some(&anna_c), json!({}))
            .await
            .status(),
        204
    );
    let pool = raw(&app).await;
    pool.execute("UPDATE extracts SET ended_at = ended_at - 7200")
        .await
        .unwrap();

    // cecilia: two filtered pulls in Skåne (at the limit, not over it), one of them whole.
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let skane_whole = live_extract(&app, &cecilia_c, invite("Skåne")).await;
    live_extract(&app, &cecilia_c, with_filters(invite("Skåne"))).await;

    // erik: denied by the policy (a field the purpose does not allow) and by an approver.
    let erik_c = app.sign_in(&erik, "erik").await;
    let bad = body(INVITE, "Uppsala", &["first_name", "personal_number"], 60);
    assert_eq!(request(&app, &erik_c, bad.clone()).await.0, 403);
    let recruit = with_filters(body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name", "phone"],
        60,
    ));
    let (status, pending) = request(&app, &erik_c, recruit).await;
    assert_eq!(status, 201, "{pending}");
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let deny = app
        .post_json(
            &format!("/api/v1/extracts/{}/deny", pending["id"].as_str().unwrap()),
            Some(&bertil_c),
            json!({ "comment": "Inte nu" }),
        )
        .await;
    assert_eq!(deny.status(), 200);
    // frida: one denial only; a what-if question to the policy is not a request.
    let frida_c = app.sign_in(&frida, "frida").await;
    assert_eq!(request(&app, &frida_c, bad).await.0, 403);
    let what_if = json!({ "purpose": INVITE, "district": "Uppsala",
        "fields": ["personal_number"], "lifetime_minutes": 60, "estimated_rows": 10 });
    app.post_json("/api/v1/policy/decisions", Some(&frida_c), what_if)
        .await;

    let farid_c = app.sign_in(&farid, "farid").await;
    let all = flags(&app, &farid_c, "").await;
    let ids_of = |kind: &str| -> Vec<String> {
        let mut ids: Vec<String> = of_kind(&all, kind)
            .iter()
            .map(|f| f["extract_id"].as_str().unwrap_or("").to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut expect_whole = vec![whole.clone(), skane_whole.clone()];
    expect_whole.sort();
    assert_eq!(ids_of("whole_district"), expect_whole, "{all:?}");
    assert_eq!(ids_of("attestation_overdue"), vec![whole.clone()]);
    assert!(of_kind(&all, "outside_hours").is_empty(), "{all:?}");
    let many = of_kind(&all, "many_pulls");
    assert_eq!(many.len(), 1, "{many:?}");
    assert_eq!(
        (&many[0]["user"], &many[0]["district"], &many[0]["count"]),
        (&json!("anna"), &json!("Uppsala"), &json!(3))
    );
    let denials = of_kind(&all, "repeated_denials");
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(
        (&denials[0]["user"], &denials[0]["count"]),
        (&json!("erik"), &json!(2))
    );
    assert!(all.iter().all(|f| f["acknowledged"] == false));

    // Scope: each district's approver sees only their district; staff see nothing.
    let uppsala = flags(&app, &bertil_c, "").await;
    assert!(!uppsala.is_empty() && uppsala.iter().all(|f| f["district"] == "Uppsala"));
    let david_c = app.sign_in(&david, "david").await;
    let skane = flags(&app, &david_c, "").await;
    assert_eq!(skane.len(), 1, "{skane:?}");
    assert_eq!(skane[0]["extract_id"].as_str(), Some(skane_whole.as_str()));
    let res = app.get_with("/api/v1/audit/flags", Some(&anna_c)).await;
    assert_eq!(res.status(), 403);
    let res = app
        .get_with("/api/v1/audit/flags?open=maybe", Some(&farid_c))
        .await;
    assert_eq!(res.status(), 422);
    let listed = audit_actions(&app).await;
    assert!(listed.iter().any(|(a, _, _)| a == "followup.list"));

    // Acknowledging: another district's flag does not exist for bertil; a bad comment is 422;
    // a stale second factor is refused; then it is stored, audited and shown.
    let skane_id = skane[0]["id"].as_str().unwrap().to_owned();
    let ack = |id: &str| format!("/api/v1/audit/flags/{id}/acknowledge");
    let said = json!({ "comment": "Talat med Anna; kallelsen gick till hela distriktet." });
    let res = app
        .post_json(&ack(&skane_id), Some(&bertil_c), said.clone())
        .await;
    assert_eq!(res.status(), 404);
    let flag_id = of_kind(&uppsala, "whole_district")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post_json(
            &ack(&flag_id),
            Some(&bertil_c),
            json!({ "comment": "rad\r\nfalsk" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .post_json(&ack(&"0".repeat(32)), Some(&bertil_c), said.clone())
        .await;
    assert_eq!(res.status(), 404);
    let age = registervakt::config::DEFAULT_STEP_UP_MAX_AGE_SECS + 1;
    pool.execute(
        format!("UPDATE sessions SET second_factor_at = second_factor_at - {age}").as_str(),
    )
    .await
    .unwrap();
    let res = app
        .post_json(&ack(&flag_id), Some(&bertil_c), said.clone())
        .await;
    assert_eq!(res.status(), 401);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "step_up_required");
    pool.execute("UPDATE users SET totp_last_step = totp_last_step - 1 WHERE username = 'bertil'")
        .await
        .unwrap();
    let fresh = app.sign_in(&bertil, "bertil").await;
    let res = app
        .post_json(&ack(&flag_id), Some(&fresh), said.clone())
        .await;
    assert_eq!(res.status(), 200);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["acknowledged"], true);
    assert_eq!(done["acknowledged_by"], "bertil");
    let (action, outcome, details) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(
        (action.as_str(), outcome.as_str()),
        ("followup.acknowledge", "success")
    );
    assert!(
        !details.contains("Talat med Anna"),
        "the comment stays out of the log"
    );
    let res = app
        .post_json(&ack(&flag_id), Some(&fresh), said.clone())
        .await;
    assert_eq!(res.status(), 409);

    // The acknowledgement sticks to the recomputed flag.
    let again = flags(&app, &farid_c, "").await;
    let shown = again.iter().find(|f| f["id"] == flag_id.as_str()).unwrap();
    assert_eq!(shown["acknowledged"], true);
    assert_eq!(shown["comment"], said["comment"]);
    let open = flags(&app, &farid_c, "?open=true").await;
    assert!(open.iter().all(|f| f["id"] != flag_id.as_str()));
    assert_eq!(open.len(), again.len() - 1);
    let closed = flags(&app, &farid_c, "?open=false").await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["id"], flag_id.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_request_and_a_download_outside_office_hours_are_one_flag_counting_both() {
    let extra = format!("[followup]\noffice_hours = \"{}\"\n", office_hours(false));
    let app = app_with(&extra).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let fields = ["first_name", "email"];
    let id = live_extract(
        &app,
        &anna_c,
        with_filters(body(INVITE, "Uppsala", &fields, 60)),
    )
    .await;
    assert_eq!(download(&app, &anna_c, &id, "csv").await.0, 200);
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let all = flags(&app, &bertil_c, "").await;
    let outside = of_kind(&all, "outside_hours");
    assert_eq!(outside.len(), 1, "{all:?}");
    assert_eq!(outside[0]["extract_id"].as_str(), Some(id.as_str()));
    assert_eq!(outside[0]["count"], 2, "the request and the download");
    assert!(
        of_kind(&all, "whole_district").is_empty(),
        "it was filtered"
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn postgres_store_raises_acknowledges_and_reports_like_sqlite() {
    let app = common::postgres::spawn_on_postgres("followup").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let id = live_extract(
        &app,
        &anna_c,
        body(INVITE, "Uppsala", &["first_name", "email"], 60),
    )
    .await;
    assert_eq!(download(&app, &anna_c, &id, "csv").await.0, 200);
    let bad = body(INVITE, "Uppsala", &["first_name", "personal_number"], 60);
    assert_eq!(request(&app, &anna_c, bad).await.0, 403);
    let farid_c = app.sign_in(&farid, "farid").await;
    let all = flags(&app, &farid_c, "?open=true").await;
    let whole = of_kind(&all, "whole_district");
    assert_eq!(whole.len(), 1, "{all:?}");
    let path = format!(
        "/api/v1/audit/flags/{}/acknowledge",
        whole[0]["id"].as_str().unwrap()
    );
    let res = app
        .post_json(&path, Some(&farid_c), json!({ "comment": "Kontrollerat." }))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(flags(&app, &farid_c, "?open=false").await.len(), 1);
    let now = time::OffsetDateTime::now_utc();
    let f = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let report = app
        .get_json_with(
            &format!(
                "/api/v1/audit/reports/activity?from={}&to={}",
                f(now - time::Duration::hours(1)),
                f(now + time::Duration::hours(1))
            ),
            &farid_c,
        )
        .await;
    assert_eq!(report["totals"]["requested"], 2, "{report}");
    assert_eq!(report["totals"]["denied"], 1);
    assert_eq!(report["totals"]["downloads"], 1);
    let res = app
        .get_with("/api/v1/audit/reports/article30", Some(&farid_c))
        .await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}
