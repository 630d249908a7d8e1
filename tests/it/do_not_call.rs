//! "Do not call again" (issue 21): when a call list ends, the members its callers marked so go
//! on, as their own small extract, to the recipient the purpose names (the register's
//! administrators), handed over like any processor: a link by mail, a one-time code, one
//! download. The members are in the ledger as disclosed to that recipient; nothing else is
//! handed on; a list revoked, or a recipient whose agreement has ended, hands on nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::smtp_support;

use common::extracts::{audit_actions, body, raw, request, wait_settled};
use common::{TestApp, TestDir, prepare_with, spawn_app_in};
use registervakt::synthetic;
use serde_json::{Value, json};
use smtp_support::{SmtpSink, body_text};

const CALLS: &str = "member-calls";
const OFFICE: &str = "medlemsregistret";
const OFFICE_NAME: &str = "Medlemsregistret (partikansliet)";
const CONTACT: &str = "medlemsregistret@partiet.example";

/// A register with a canary in Uppsala who agreed to phone calls, and mail to `port`.
async fn app_with_mail(port: u16) -> (TestApp, synthetic::SyntheticMember) {
    let mut canary = synthetic::canary(31);
    canary.district = "Uppsala".into();
    canary.consent_phone = Some(true);
    canary.phone = Some("070-555 31 31".into());
    let dir: TestDir = prepare_with(200, vec![canary.clone()]).await;
    let text = format!(
        "{}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"Registervakt <noreply@example.org>\"\ntls = \"none\"\n",
        dir.config_text(),
    );
    std::fs::write(&dir.config_path, text).unwrap();
    (spawn_app_in(dir).await, canary)
}

async fn post(app: &TestApp, cookie: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app.post_json(path, Some(cookie), body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Anna's approved call list, shared with herself only; its id. The approver's page names
/// the recipient of the "do not call again" members before approving.
async fn shared_call_list(app: &TestApp, anna: &str, bertil: &str) -> String {
    let mut b = body(CALLS, "Uppsala", &["first_name", "last_name", "phone"], 600);
    b["call_list"] = json!(true);
    let (status, created) = request(app, anna, b).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let page = app.get_with(&format!("/extracts/{id}"), Some(bertil)).await;
    let page = page.text().await.unwrap();
    assert!(
        page.contains(OFFICE_NAME),
        "the approver sees the recipient"
    );
    let approve = json!({ "request_hash": created["request_hash"],
        "comment": "Kallelse till årsmötet; ringarna är distriktets egna." });
    let (status, res) = post(
        app,
        bertil,
        &format!("/api/v1/extracts/{id}/approve"),
        approve,
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(wait_settled(app, anna, &id).await["state"], "live");
    let share = format!("/api/v1/extracts/{id}/calls/share");
    let (status, res) = post(app, anna, &share, json!({ "callers": ["anna"] })).await;
    assert_eq!(status, 200, "{res}");
    id
}

/// Anna calls everyone: the member whose values hold `marker`, and the first other member she
/// is shown, ask not to be called again; everyone else is reached. Returns how many were
/// marked "do not call again".
async fn call_everyone(app: &TestApp, anna: &str, id: &str, marker: &str) -> usize {
    let mut marked = 0;
    let mut other = false;
    loop {
        let next = format!("/api/v1/extracts/{id}/calls/next");
        let (status, batch) = post(app, anna, &next, json!({})).await;
        assert_eq!(status, 200, "{batch}");
        let list = batch["members"].as_array().unwrap().clone();
        if list.is_empty() {
            return marked;
        }
        for m in &list {
            // The canary, and one other member (the list's order is keyed per list, so the
            // canary may come first).
            let canary = m["values"].to_string().contains(marker);
            let no_more = canary || !other;
            other |= no_more && !canary;
            let outcome = if no_more { "do_not_call" } else { "reached" };
            marked += usize::from(no_more);
            let at = m["position"].as_i64().unwrap();
            let body =
                json!({ "position": at, "outcome": outcome, "note": "Vill inte bli uppringd" });
            let path = format!("/api/v1/extracts/{id}/calls/outcomes");
            assert_eq!(post(app, anna, &path, body).await.0, 204);
        }
    }
}

/// The app with mail to a port nobody listens on (links are not sent), and Anna's and Bertil's
/// sessions.
async fn without_mail() -> (TestApp, String, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (app, _) = app_with_mail(port).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    (app, anna_c, bertil_c)
}

/// The details of every refused `calls.do_not_call` so far.
async fn refusals(app: &TestApp) -> Vec<String> {
    audit_actions(app)
        .await
        .into_iter()
        .filter(|(a, o, _)| a == "calls.do_not_call" && o == "denied")
        .map(|(_, _, d)| d)
        .collect()
}

/// Anna closes list `id`; it is shredded, whatever became of its members.
async fn close(app: &TestApp, anna: &str, id: &str) {
    let done = format!("/api/v1/extracts/{id}/done");
    assert_eq!(post(app, anna, &done, json!({})).await.0, 204);
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), anna)
        .await;
    assert_eq!(
        v["state"], "shredded",
        "the deadline holds whatever happens"
    );
}

/// Anna's extracts made from call list `id`.
async fn handed_on_from(app: &TestApp, anna: &str, id: &str) -> Vec<Value> {
    let all = app.get_json_with("/api/v1/extracts", anna).await;
    all["extracts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from_call_list"] == id)
        .cloned()
        .collect()
}

/// The mails to the register office so far, waiting for `n` of them.
async fn office_mails(sink: &SmtpSink, n: usize) -> Vec<String> {
    sink.wait_for_mails_to(CONTACT, n).await
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn members_who_ask_not_to_be_called_again_go_to_the_register_office_and_nobody_else() {
    let sink = SmtpSink::start().await;
    let (app, canary) = app_with_mail(sink.port).await;
    let marker = synthetic::canary_marker(31);
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let id = shared_call_list(&app, &anna_c, &bertil_c).await;
    let marked = call_everyone(&app, &anna_c, &id, &marker).await;
    assert_eq!(marked, 2, "the canary and one more");
    assert!(handed_on_from(&app, &anna_c, &id).await.is_empty());

    // Anna closes the list: it is shredded, and its "do not call again" members go on.
    let (status, _) = post(
        &app,
        &anna_c,
        &format!("/api/v1/extracts/{id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &anna_c)
        .await;
    assert_eq!(v["state"], "shredded");
    let made = handed_on_from(&app, &anna_c, &id).await;
    assert_eq!(made.len(), 1, "one list, from this call list");
    let list = &made[0];
    let list_id = list["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            list["state"].clone(),
            list["row_count"].clone(),
            list["processor"].clone()
        ),
        (json!("live"), json!(2), json!(OFFICE)),
        "{list}"
    );
    assert_eq!(list["fields"], json!(["first_name", "last_name", "phone"]));
    // Anna cannot take it herself; her page says what it is and to whom it goes.
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{list_id}/download"),
            Some(&anna_c),
            json!({ "format": "csv" }),
        )
        .await;
    assert_eq!(res.status(), 409);
    let page = app
        .get_with(&format!("/extracts/{list_id}"), Some(&anna_c))
        .await;
    let page = page.text().await.unwrap();
    assert!(
        page.contains(OFFICE_NAME) && !page.contains(&marker),
        "{page}"
    );

    // The office's mail holds a link and no member data; with the code it downloads once.
    let mails = office_mails(&sink, 1).await;
    let text = body_text(&mails[0]);
    assert!(!text.contains(&marker), "no member data in the mail");
    assert!(
        text.contains("inte bli uppringda igen"),
        "it says what the list is: {text}"
    );
    let token = text
        .split("/handover/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned();
    let res =
        common::pages::post_form_signed_out(&app, "/handover/code", &[("token", token.as_str())])
            .await;
    assert_eq!(res.status(), 200);
    let mails = office_mails(&sink, 2).await;
    let code = body_text(&mails[1])
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap()
        .to_owned();
    let form = [("token", token.as_str()), ("code", code.as_str())];
    let res = common::pages::post_form_signed_out(&app, "/handover/download", &form).await;
    assert_eq!(res.status(), 200);
    let csv = String::from_utf8_lossy(&res.bytes().await.unwrap()).into_owned();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 3, "a header and the two members: {csv}");
    assert!(csv.contains(&marker), "the canary asked not to be called");
    assert!(!csv.contains("Vill inte"), "the callers' notes never go on");
    let res = common::pages::post_form_signed_out(&app, "/handover/download", &form).await;
    assert!(res.status().is_client_error(), "one download only");

    // The ledger: the canary went to the office, under the same pseudonym, from this list.
    let path = format!("/api/v1/audit/members/{}/disclosures", canary.member_id);
    let who = app.get_json_with(&path, &farid_c).await;
    let to_office: Vec<&Value> = who["disclosures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["extract_id"] == list_id.as_str())
        .collect();
    assert_eq!(to_office.len(), 1, "{who}");
    assert_eq!(to_office[0]["handed_over_to"]["processor"], OFFICE);
    assert_eq!(to_office[0]["handed_over_to"]["name"], OFFICE_NAME);

    // The log says it in counts and names, never a member.
    let events: Vec<(String, String, String)> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "calls.do_not_call")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, "success");
    assert!(events[0].2.contains(&format!("extract:{id}")) && !events[0].2.contains(&marker));
    let hits = app
        .dir
        .leaks
        .scan_files(std::slice::from_ref(&app.dir.data));
    common::leaks::fail_on(&hits, "after the office downloaded its list");
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_damaged_or_frozen_list_or_an_ended_agreement_hands_on_nothing_and_the_list_is_shredded()
 {
    let (app, anna_c, bertil_c) = without_mail().await;
    let marker = synthetic::canary_marker(31);

    // An approver stops a list: nothing of it goes anywhere.
    let revoked = shared_call_list(&app, &anna_c, &bertil_c).await;
    assert_eq!(call_everyone(&app, &anna_c, &revoked, &marker).await, 2);
    let (status, res) = post(
        &app,
        &bertil_c,
        &format!("/api/v1/extracts/{revoked}/revoke"),
        json!({}),
    )
    .await;
    assert_eq!(status, 204, "{res}");
    assert!(handed_on_from(&app, &anna_c, &revoked).await.is_empty());

    // A damaged list: its chunks fail to open, so nothing is handed on, and it is shredded.
    let damaged = shared_call_list(&app, &anna_c, &bertil_c).await;
    assert_eq!(call_everyone(&app, &anna_c, &damaged, &marker).await, 2);
    let pool = raw(&app).await;
    sqlx::query("UPDATE extract_chunks SET sealed = X'00' WHERE extract_id = ?")
        .bind(&damaged)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    close(&app, &anna_c, &damaged).await;
    assert!(handed_on_from(&app, &anna_c, &damaged).await.is_empty());
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("damaged"), "{refused:?}");

    // The office's routine has ended: the list is shredded at its close, nothing handed on.
    let ended = shared_call_list(&app, &anna_c, &bertil_c).await;
    assert_eq!(call_everyone(&app, &anna_c, &ended, &marker).await, 2);
    let a = app.user("maja", &["admin:*"]).await;
    let b = app.user("mats", &["admin:*"]).await;
    let a = app.sign_in(&a, "maja").await;
    let b = app.sign_in(&b, "mats").await;
    let purposes = registervakt::policy::Texts::shipped()
        .purposes
        .replace("agreement_ends = 2030-12-31", "agreement_ends = 2025-12-31");
    let (status, proposal) = post(
        &app,
        &a,
        "/api/v1/policy/proposals",
        json!({ "purposes": purposes, "comment": "Rutinen för medlemsregistret har upphört" }),
    )
    .await;
    assert_eq!(status, 202, "{proposal}");
    let pid = proposal["proposal_id"].as_str().unwrap();
    let confirm = format!("/api/v1/policy/proposals/{pid}/confirm");
    assert_eq!(post(&app, &b, &confirm, json!({})).await.0, 201);
    close(&app, &anna_c, &ended).await;
    assert!(handed_on_from(&app, &anna_c, &ended).await.is_empty());
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[1].contains("agreement_ended"), "{refused:?}");

    // A freeze shreds every live list: a frozen one hands on nothing either.
    let frozen = shared_call_list(&app, &anna_c, &bertil_c).await;
    assert_eq!(call_everyone(&app, &anna_c, &frozen, &marker).await, 2);
    let farid = app.user("farid", &["auditor:*"]).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let why = json!({ "reason": "Misstänkt läcka av en ringlista" });
    assert_eq!(post(&app, &farid_c, "/api/v1/freeze", why).await.0, 200);
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{frozen}"), &anna_c)
        .await;
    assert_eq!(v["state"], "shredded");
    assert!(handed_on_from(&app, &anna_c, &frozen).await.is_empty());
    let hits = app
        .dir
        .leaks
        .scan_files(std::slice::from_ref(&app.dir.data));
    common::leaks::fail_on(&hits, "after every list ended");
    app.stop().await;
}

#[tokio::test]
async fn a_list_at_its_deadline_hands_on_as_one_closed_does() {
    let (app, anna_c, bertil_c) = without_mail().await;
    let marker = synthetic::canary_marker(31);
    // The sweeper's step past the deadline (no mail server listens here, so the link is not
    // sent, and the list waits for the requester to send a new one).
    let expiring = shared_call_list(&app, &anna_c, &bertil_c).await;
    assert_eq!(call_everyone(&app, &anna_c, &expiring, &marker).await, 2);
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(601);
    registervakt::extract::expire::sweep(&app.state, later)
        .await
        .unwrap();
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{expiring}"), &anna_c)
        .await;
    assert_eq!(
        (v["state"].as_str(), v["end_reason"].as_str()),
        (Some("shredded"), Some("expired")),
        "{v}"
    );
    let made = handed_on_from(&app, &anna_c, &expiring).await;
    assert_eq!(made.len(), 1, "at the deadline too");
    assert_eq!(
        (made[0]["state"].clone(), made[0]["row_count"].clone()),
        (json!("live"), json!(2))
    );

    app.stop().await;
}
