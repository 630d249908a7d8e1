//! Issue 22, item 3: a policy change tried against the extract requests of the last days.
//! The confirming administrator sees, on the admin page and in the API's pending proposals,
//! which past requests the proposal would have decided differently, and
//! `registervakt policy diff --against-history` prints the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::Command;

use common::{TestApp, spawn_app};
use registervakt::audit::{self, Actor, Event, EventKind, Outcome};
use serde_json::{Value, json};
use time::OffsetDateTime;

const ASSEMBLY: &str = "district-assembly-invitation";

fn shipped_purposes() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/purposes.toml"
    ))
    .unwrap()
}

/// The shipped catalogue with `from` replaced by `to` in the district assembly purpose only.
fn assembly_changed(from: &str, to: &str) -> String {
    let text = shipped_purposes();
    let start = text.find(&format!("id = \"{ASSEMBLY}\"")).unwrap();
    let end = start + text[start..].find("[[purpose]]").unwrap();
    let block = &text[start..end];
    assert!(block.contains(from), "{from} is in the purpose");
    format!(
        "{}{}{}",
        &text[..start],
        block.replace(from, to),
        &text[end..]
    )
}

async fn propose(app: &TestApp, cookie: &str, purposes: String, comment: &str) {
    let res = app
        .post_json(
            "/api/v1/policy/proposals",
            Some(cookie),
            json!({ "purposes": purposes, "comment": comment }),
        )
        .await;
    assert_eq!(res.status(), 202, "{comment}");
}

/// A request Nora really makes: allowed at once under the shipped policy.
async fn nora_asks(app: &TestApp, cookie: &str) {
    let body = common::extracts::body(ASSEMBLY, "Uppsala", &["first_name", "email"], 60);
    let (status, v) = common::extracts::request(app, cookie, body).await;
    assert_eq!(status, 201, "{v}");
}

/// An `extract.request` entry for `username` recorded `days_ago` days ago, as
/// `extract::request` records one.
async fn asked_days_ago(app: &TestApp, username: &str, days_ago: i64) {
    let store = app.store().await;
    let user = store
        .find_user_by_username(username)
        .await
        .unwrap()
        .unwrap();
    let event = Event::new(
        EventKind::ExtractRequested,
        Actor::user(&user.id),
        "extract:0123456789abcdef0123456789abcdef",
        Outcome::Success,
        json!({
            "purpose": ASSEMBLY, "district": "Uppsala", "fields": ["first_name", "email"],
            "lifetime_minutes": 60, "filters": {}, "estimated_rows": 40,
            "approvers_needed": 0,
        }),
    );
    let at = OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    audit::record_now(&store, &event, at).await.unwrap();
    store.close().await;
}

fn proposal<'a>(list: &'a Value, comment: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["comment"] == comment)
        .unwrap_or_else(|| panic!("no proposal {comment}: {list}"))
}

#[tokio::test]
async fn a_change_that_would_deny_a_past_request_lists_it_for_the_confirming_admin() {
    let app = spawn_app().await;
    let maja = app.user("maja", &["admin:*"]).await;
    let mats = app.user("mats", &["admin:*"]).await;
    let nora = app.user("nora", &["staff:Uppsala"]).await;
    app.user("olle", &["staff:Uppsala"]).await;
    let maja_c = app.sign_in(&maja, "maja").await;
    let mats_c = app.sign_in(&mats, "mats").await;
    let nora_c = app.sign_in(&nora, "nora").await;
    nora_asks(&app, &nora_c).await;
    // Olle asked the same 40 days ago: outside the 30 days the broker looks back.
    asked_days_ago(&app, "olle", 40).await;

    let deny = "assembly lists live half an hour";
    propose(
        &app,
        &maja_c,
        assembly_changed("max_lifetime_minutes = 10080", "max_lifetime_minutes = 30"),
        deny,
    )
    .await;
    let more = "an approver for every assembly list";
    propose(
        &app,
        &maja_c,
        assembly_changed("auto_max_rows = 1000", "auto_max_rows = 0"),
        more,
    )
    .await;
    let wording = "the assembly purpose is described better";
    propose(
        &app,
        &maja_c,
        assembly_changed(
            "description_en = \"Send the statutory",
            "description_en = \"Send the party's statutory",
        ),
        wording,
    )
    .await;

    let res = app
        .get_with("/api/v1/policy/proposals", Some(&mats_c))
        .await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();

    let denied = &proposal(&list, deny)["history"];
    assert_eq!(denied["days"], 30);
    assert_eq!(denied["capped"], false);
    let requests = denied["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "only Nora's recent request: {denied}");
    let r = &requests[0];
    assert_eq!(r["change"], "now_denied");
    assert!(r["requester"].as_str().unwrap().contains("nora"), "{r}");
    assert_eq!(r["purpose"], ASSEMBLY);
    assert_eq!(r["district"], "Uppsala");
    assert_eq!(r["before"]["decision"], "allow");
    assert_eq!(r["after"]["decision"], "deny");
    assert_eq!(r["after"]["code"], "lifetime_too_long");
    assert_eq!(
        denied["counts"],
        json!([{ "change": "now_denied", "count": 1 }])
    );
    let en = denied["words_en"]["requests"][0]["sentence"]
        .as_str()
        .unwrap();
    assert!(
        en.contains("Invitation to the district assembly")
            && en.contains("Uppsala")
            && en.contains("allowed without approval → denied"),
        "{en}"
    );
    assert!(!en.contains("UTC"), "a local time: {en}");

    let more_h = &proposal(&list, more)["history"];
    assert_eq!(more_h["requests"].as_array().unwrap().len(), 1, "{more_h}");
    assert_eq!(more_h["requests"][0]["change"], "more_approvers");
    assert_eq!(more_h["requests"][0]["after"]["approvers"], 1);
    assert_eq!(
        more_h["words_en"]["summary"][0],
        "1 request would need more approvers"
    );

    let same = &proposal(&list, wording)["history"];
    assert_eq!(same["requests"], json!([]), "{same}");
    assert!(same["words_sv"]["unchanged"].is_string(), "{same}");

    // The confirming administrator's page says it in words, Swedish first.
    let (status, html) = common::pages::page(&app, "/admin", &mats_c).await;
    assert_eq!(status, 200);
    assert!(html.contains("Prövat mot tidigare begäranden"), "{html}");
    assert!(html.contains("1 begäran skulle nu nekas"), "{html}");
    assert!(
        html.contains("1 begäran skulle behöva fler godkännare"),
        "{html}"
    );
    assert!(
        html.contains("bad om en lista för Kallelse till distriktsstämma i Uppsala"),
        "{html}"
    );
    assert!(
        html.contains("nekas: listan skulle finnas kvar längre än ändamålet tillåter"),
        "{html}"
    );
    assert!(html.contains("behöver 1 godkännare"), "{html}");
    let history: Vec<&str> = html
        .split("<div class=\"history\">")
        .skip(1)
        .map(|s| s.split("</div>").next().unwrap())
        .collect();
    assert_eq!(history.len(), 3, "one per proposal");
    assert!(
        history.iter().all(|h| !h.contains("olle (olle)")),
        "a request older than 30 days is not listed: {history:?}"
    );
    assert!(
        history
            .iter()
            .any(|h| h.contains("Ingen begäran från de senaste 30 dagarna")),
        "{history:?}"
    );
    let english = format!("{mats_c}; rv_lang=en");
    let (_, html) = common::pages::page(&app, "/admin", &english).await;
    assert!(html.contains("1 request would now be denied"), "{html}");
    // The proposer sees it too.
    let (_, html) = common::pages::page(&app, "/admin", &maja_c).await;
    assert!(html.contains("1 begäran skulle nu nekas"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn policy_diff_against_history_prints_the_requests_a_candidate_would_deny() {
    let app = spawn_app().await;
    let nora = app.user("nora", &["staff:Uppsala"]).await;
    let nora_c = app.sign_in(&nora, "nora").await;
    nora_asks(&app, &nora_c).await;
    let dir = app.stop().await;
    let config = dir.config_path.to_str().unwrap().to_owned();
    let candidate = dir.dir.path().join("purposes.toml");
    std::fs::write(
        &candidate,
        assembly_changed("max_lifetime_minutes = 10080", "max_lifetime_minutes = 30"),
    )
    .unwrap();
    let run = |purposes: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_registervakt"))
            .args(["policy", "diff", "--against-history", "30", "--purposes"])
            .arg(purposes)
            .args(["--config", &config])
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = run(&candidate);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 request would now be denied"), "{stdout}");
    assert!(
        stdout.contains("nora") && stdout.contains("Invitation to the district assembly"),
        "{stdout}"
    );

    let shipped = dir.dir.path().join("shipped.toml");
    std::fs::write(&shipped, shipped_purposes()).unwrap();
    let out = run(&shipped);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("No request of the last 30 days would have been decided differently"),
        "{stdout}"
    );

    let broken = dir.dir.path().join("broken.toml");
    std::fs::write(&broken, "[[purpose]]\nid = \"x\"\n").unwrap();
    let out = run(&broken);
    assert!(!out.status.success(), "a bad file is a non-zero exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a usable policy"), "{stderr}");
    assert!(
        stdout_is_empty(&out.stdout),
        "nothing printed as if it worked"
    );
}

fn stdout_is_empty(out: &[u8]) -> bool {
    out.iter().all(u8::is_ascii_whitespace)
}

/// Issue 22, item 4: a purpose that asks its approver to say why they approve.
#[tokio::test]
async fn an_approval_without_a_justification_is_refused_where_the_purpose_asks_for_one() {
    let mut member = registervakt::synthetic::canary(7);
    member.district = "Uppsala".into();
    let member_id = member.member_id.to_string();
    let app = common::spawn_app_in(common::prepare_with(200, vec![member]).await).await;
    let purposes = assembly_changed("auto_max_rows = 1000", "auto_max_rows = 0").replace(
        "formats = [\"csv\", \"xlsx\"]\nacknowledgement_sv = \"Jag använder listan endast för kallelsen",
        "formats = [\"csv\", \"xlsx\"]\napprover_justification = true\nacknowledgement_sv = \"Jag använder listan endast för kallelsen",
    );
    assert!(purposes.contains("approver_justification = true"));
    let store = app.store().await;
    app.state
        .policy
        .change(
            &store,
            Actor::cli(),
            Some(purposes),
            None,
            "approvers say why for assembly lists",
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    store.close().await;
    let nora = app.user("nora", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let nora_c = app.sign_in(&nora, "nora").await;
    let body = common::extracts::body(ASSEMBLY, "Uppsala", &["first_name", "email"], 60);
    let (status, created) = common::extracts::request(&app, &nora_c, body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let bertil_c = app.sign_in(&bertil, "bertil").await;

    // The approve form asks for it.
    let (_, page) = common::pages::page(&app, &format!("/extracts/{id}"), &bertil_c).await;
    assert!(page.contains("Varför godkänner du?"), "{page}");

    let approve = format!("/api/v1/extracts/{id}/approve");
    for empty in ["", "   "] {
        let res = app
            .post_json(
                &approve,
                Some(&bertil_c),
                json!({ "request_hash": created["request_hash"], "comment": empty }),
            )
            .await;
        assert_eq!(res.status(), 409);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "justification_required");
    }
    let why = "Stämman är den 14 mars och kallelsen ska ut fyra veckor före";
    let res = app
        .post_json(
            &approve,
            Some(&bertil_c),
            json!({ "request_hash": created["request_hash"], "comment": why }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        common::extracts::wait_settled(&app, &nora_c, &id).await["state"],
        "live"
    );

    // The audit log binds the words by length and hash, and holds none of them.
    let store = app.store().await;
    let approved = store
        .find_newest_audit_event("extract.approve")
        .await
        .unwrap()
        .unwrap();
    let details: Value = serde_json::from_str(&approved.details).unwrap();
    assert_eq!(details["justification_chars"], why.chars().count());
    assert_eq!(
        details["justification_sha256"],
        registervakt::crypto::sha256_hex(why.as_bytes())
    );
    let all = store.list_recent_audit_events(10_000).await.unwrap();
    assert!(
        all.iter()
            .all(|e| !e.details.contains("Stämman") && !e.target.contains("Stämman")),
        "the justification's text is not in the audit log"
    );
    store.close().await;

    // The extract's story shows it to an auditor (API and page), and so does the Art. 15
    // report's internal view, but not the version for the member.
    let farid_c = app.sign_in(&farid, "farid").await;
    let story = app
        .get_json_with(&format!("/api/v1/audit/extracts/{id}"), &farid_c)
        .await;
    assert_eq!(story["extract"]["verdicts"][0]["comment"], why, "{story}");
    let (status, page) =
        common::pages::page(&app, &format!("/audit/extracts/{id}"), &farid_c).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("Motivering: ”{why}”")), "{page}");
    let (_, desk) = common::pages::page(&app, "/audit", &farid_c).await;
    let csrf = common::pages::csrf(&desk);
    for names in [false, true] {
        let mut form = vec![("csrf", csrf.as_str()), ("member_id", member_id.as_str())];
        if names {
            form.push(("staff_names", "on"));
        }
        let res = common::pages::post_form(&app, "/audit/members", &farid_c, &form).await;
        let report = res.text().await.unwrap();
        assert_eq!(
            report.contains(why),
            names,
            "shown in the internal view only (names: {names}): {report}"
        );
    }

    // Where the purpose does not ask, an approval without one still goes through.
    let plain = common::extracts::body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name", "birth_date"],
        60,
    );
    let (status, created) = common::extracts::request(&app, &nora_c, plain).await;
    assert_eq!(status, 201, "{created}");
    let res = app
        .post_json(
            &format!(
                "/api/v1/extracts/{}/approve",
                created["id"].as_str().unwrap()
            ),
            Some(&bertil_c),
            json!({ "request_hash": created["request_hash"] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}
