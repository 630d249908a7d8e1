//! Hand-over to a processor (issue 21, item 2): a printer gets a link by e-mail (never data),
//! proves its address with a one-time code, downloads once, and confirms deletion by a link;
//! the ledger names the processor and the agreement. The mail tests run against a real SMTP
//! server (aiosmtpd, tests/smtp/sink.py); the refusals of an ended agreement and of a
//! processor the purpose does not list need no mail server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::smtp_support;

use std::time::Duration;

use common::extracts::{audit_actions, body, raw, request, wait_settled};
use common::{TestApp, TestDir, prepare_with, spawn_app_in};
use registervakt::synthetic;
use serde_json::{Value, json};
use smtp_support::{SmtpSink, body_text};

const PURPOSE: &str = "member-magazine-printing";
const PRINTER: &str = "tryckeriet-norr";
const PRINTER_NAME: &str = "Tryckeriet i Norr AB";
const CONTACT: &str = "medlemsutskick@tryckeriet-norr.example";
const AGREEMENT: &str = "PUB-2026-04";
const FIELDS: [&str; 5] = [
    "first_name",
    "last_name",
    "street_address",
    "postal_code",
    "city",
];

/// The printer purpose's request, handed over to the shipped printer.
fn printer_request() -> Value {
    let mut b = body(PURPOSE, "Uppsala", &FIELDS, 600);
    b["processor"] = json!(PRINTER);
    b
}

/// A register with a canary in Uppsala who wants post, and mail to `port` (a sink, or a port
/// nobody listens on).
async fn app_with_mail(port: u16) -> (TestApp, synthetic::SyntheticMember) {
    let mut canary = synthetic::canary(21);
    canary.district = "Uppsala".into();
    canary.consent_post = Some(true);
    let dir: TestDir = prepare_with(100, vec![canary.clone()]).await;
    let text = format!(
        "{}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"Registervakt <noreply@example.org>\"\ntls = \"none\"\n",
        dir.config_text(),
    );
    std::fs::write(&dir.config_path, text).unwrap();
    (spawn_app_in(dir).await, canary)
}

/// Requests the printer hand-over as staff and approves it as the district's approver.
async fn approved_handover(app: &TestApp, staff: &str, approver: &str) -> String {
    let (status, created) = request(app, staff, printer_request()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["state"], "pending",
        "a hand-over always waits for an approver"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let seen = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), approver)
        .await;
    assert_eq!(
        seen["processor"], PRINTER,
        "the approver sees the processor"
    );
    let page = app
        .get_with(&format!("/extracts/{id}"), Some(approver))
        .await;
    let page = page.text().await.unwrap();
    assert!(
        page.contains(PRINTER_NAME) && page.contains(AGREEMENT),
        "{page}"
    );
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(approver),
            json!({ "request_hash": created["request_hash"], "comment": "ok" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(wait_settled(app, staff, &id).await["state"], "live");
    id
}

/// The mails to the processor's contact so far, waiting for `n` of them.
async fn processor_mails(sink: &SmtpSink, n: usize) -> Vec<String> {
    sink.wait_for_mails_to(CONTACT, n).await
}

/// The token after `marker` in a mail's body.
fn token_after(mail: &str, marker: &str) -> String {
    let body = body_text(mail);
    body.split(marker)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {marker} in {body}"))
        .to_owned()
}

/// The one-time code in the second mail: the line of eight digits.
fn code_in(mail: &str) -> String {
    body_text(mail)
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {}", body_text(mail)))
        .to_owned()
}

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn flags_of(app: &TestApp, cookie: &str, id: &str) -> Vec<Value> {
    let v = app.get_json_with("/api/v1/audit/flags", cookie).await;
    v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "processor_deletion_overdue" && f["extract_id"] == id)
        .cloned()
        .collect()
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn a_printer_gets_a_link_proves_its_address_downloads_once_and_confirms_deletion() {
    let sink = SmtpSink::start().await;
    let (app, canary) = app_with_mail(sink.port).await;
    let marker = synthetic::canary_marker(21);
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let id = approved_handover(&app, &anna_c, &bertil_c).await;

    // The requester cannot take the list herself.
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/download"),
            Some(&anna_c),
            json!({ "format": "csv" }),
        )
        .await;
    let (status, text) = error_code(res).await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("handed_over"), "{text}");

    // The first mail: a link, no data.
    let mails = processor_mails(&sink, 1).await;
    assert!(
        !body_text(&mails[0]).contains(&marker),
        "no member data in the mail"
    );
    assert!(body_text(&mails[0]).contains(AGREEMENT));
    let token = token_after(&mails[0], "/handover/");
    let page = app.get_with(&format!("/handover/{token}"), None).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(PRINTER_NAME) && !page.contains(&marker),
        "{page}"
    );

    // The code is needed: no code, and a guessed one, are refused and nothing is sent.
    let form = |code: &'static str| [("token", token.clone()), ("code", code.to_owned())];
    let no_code = form("");
    let pairs: Vec<(&str, &str)> = no_code.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, text) =
        error_code(common::pages::post_form_signed_out(&app, "/handover/download", &pairs).await)
            .await;
    assert_eq!(status, 401);
    assert!(!text.contains(&marker));
    let guessed = form("12345678");
    let pairs: Vec<(&str, &str)> = guessed.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, text) =
        error_code(common::pages::post_form_signed_out(&app, "/handover/download", &pairs).await)
            .await;
    assert_eq!(status, 401);
    assert!(!text.contains(&marker));

    // The second mail: the code.
    let res =
        common::pages::post_form_signed_out(&app, "/handover/code", &[("token", token.as_str())])
            .await;
    assert_eq!(res.status(), 200);
    let mails = processor_mails(&sink, 2).await;
    assert!(
        !body_text(&mails[1]).contains(&marker),
        "no member data in the code mail"
    );
    let code = code_in(&mails[1]);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let (status, _) = error_code(
        common::pages::post_form_signed_out(
            &app,
            "/handover/download",
            &[("token", token.as_str()), ("code", wrong)],
        )
        .await,
    )
    .await;
    assert_eq!(status, 401, "a wrong code");

    // The one download: only the purpose's fields, the canary in it.
    let res = common::pages::post_form_signed_out(
        &app,
        "/handover/download",
        &[("token", token.as_str()), ("code", code.as_str())],
    )
    .await;
    assert_eq!(res.status(), 200);
    let csv = String::from_utf8_lossy(&res.bytes().await.unwrap()).into_owned();
    let header = csv
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(header, FIELDS.join(";"), "only the purpose's fields");
    assert!(csv.contains(&marker), "the canary is in the printer's file");

    // A second download, with the same (used) code, is refused.
    let (status, text) = error_code(
        common::pages::post_form_signed_out(
            &app,
            "/handover/download",
            &[("token", token.as_str()), ("code", code.as_str())],
        )
        .await,
    )
    .await;
    assert_eq!(status, 410, "{text}");
    assert!(!text.contains(&marker));

    // The extract is shredded after the download.
    let mut state = String::new();
    for _ in 0..100 {
        let v = app
            .get_json_with(&format!("/api/v1/extracts/{id}"), &anna_c)
            .await;
        state = v["state"].as_str().unwrap_or_default().to_owned();
        if state == "shredded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, "shredded");

    // The third mail: the deletion link. No flag until its deadline; a missed one raises it.
    let mails = processor_mails(&sink, 3).await;
    assert!(mails.iter().all(|m| !body_text(m).contains(&marker)));
    let deletion = token_after(&mails[2], "/handover/deleted/");
    assert!(flags_of(&app, &farid_c, &id).await.is_empty());
    let pool = raw(&app).await;
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
    sqlx::query("UPDATE handovers SET delete_by = ? WHERE extract_id = ?")
        .bind(past)
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(
        flags_of(&app, &farid_c, &id).await.len(),
        1,
        "deadline missed"
    );
    let page = app
        .get_with(&format!("/handover/deleted/{deletion}"), None)
        .await;
    assert_eq!(page.status(), 200);
    let res = common::pages::post_form_signed_out(
        &app,
        "/handover/deleted",
        &[("token", deletion.as_str())],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        flags_of(&app, &farid_c, &id).await.is_empty(),
        "the confirmation closes it"
    );
    let (status, _) = error_code(
        common::pages::post_form_signed_out(
            &app,
            "/handover/deleted",
            &[("token", deletion.as_str())],
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "confirmed once");

    // The ledger: who received the canary — the printer, under its agreement.
    let path = format!("/api/v1/audit/members/{}/disclosures", canary.member_id);
    let v = app.get_json_with(&path, &farid_c).await;
    let found: Vec<&Value> = v["disclosures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["extract_id"] == id.as_str())
        .collect();
    assert_eq!(found.len(), 1, "{v}");
    let to = &found[0]["handed_over_to"];
    assert_eq!(to["processor"], PRINTER);
    assert_eq!(to["name"], PRINTER_NAME);
    assert_eq!(to["agreement_ref"], AGREEMENT);
    assert!(to["downloaded_at"].is_string() && to["deletion_confirmed_at"].is_string());

    // An unknown link is refused, audited.
    let res = app
        .get_with(&format!("/handover/{}", "A".repeat(43)), None)
        .await;
    assert_eq!(res.status(), 404);
    let actions = audit_actions(&app).await;
    let refusals: Vec<String> = actions
        .iter()
        .filter(|(a, o, _)| a == "handover.refuse" && o == "denied")
        .map(|(_, _, d)| d.clone())
        .collect();
    for code in [
        "handover_unknown",
        "handover_code_required",
        "handover_wrong_code",
        "handover_already_downloaded",
        "handover_already_confirmed",
    ] {
        assert!(
            refusals.iter().any(|d| d.contains(code)),
            "{code}: {refusals:?}"
        );
    }
    for action in [
        "handover.offer",
        "handover.code",
        "handover.download",
        "handover.confirm_deleted",
    ] {
        assert!(actions.iter().any(|(a, _, _)| a == action), "{action}");
    }
    // No token and no code in any audit entry.
    assert!(
        actions
            .iter()
            .all(|(_, _, d)| !d.contains(&token) && !d.contains(&code))
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn five_wrong_codes_lock_the_hand_over_and_an_ended_agreement_refuses_the_download() {
    let sink = SmtpSink::start().await;
    let (app, _) = app_with_mail(sink.port).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;

    // One hand-over is locked by wrong codes.
    let first = approved_handover(&app, &anna_c, &bertil_c).await;
    let token = token_after(&processor_mails(&sink, 1).await[0], "/handover/");
    let res =
        common::pages::post_form_signed_out(&app, "/handover/code", &[("token", token.as_str())])
            .await;
    assert_eq!(res.status(), 200);
    let code = code_in(&processor_mails(&sink, 2).await[1]);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for _ in 0..4 {
        let res = common::pages::post_form_signed_out(
            &app,
            "/handover/download",
            &[("token", token.as_str()), ("code", wrong)],
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    let res = common::pages::post_form_signed_out(
        &app,
        "/handover/download",
        &[("token", token.as_str()), ("code", wrong)],
    )
    .await;
    assert_eq!(res.status(), 423, "the fifth wrong code locks it");
    let res = common::pages::post_form_signed_out(
        &app,
        "/handover/download",
        &[("token", token.as_str()), ("code", code.as_str())],
    )
    .await;
    assert_eq!(res.status(), 423, "even the right code is refused now");
    // Nor can the requester send a fresh link to get round the lock.
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{first}/handover/resend"),
            Some(&anna_c),
            json!({}),
        )
        .await;
    let (status, text) = error_code(res).await;
    assert_eq!(status, 423, "{text}");
    assert!(text.contains("handover_locked"), "{text}");
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|(a, _, _)| a == "handover.lock")
    );

    // Another hand-over: the agreement ends before the printer downloads.
    let second = approved_handover(&app, &anna_c, &bertil_c).await;
    let token = token_after(&processor_mails(&sink, 3).await[2], "/handover/");
    let res =
        common::pages::post_form_signed_out(&app, "/handover/code", &[("token", token.as_str())])
            .await;
    assert_eq!(res.status(), 200);
    let code = code_in(&processor_mails(&sink, 4).await[3]);
    end_agreement(&app).await;
    let (status, text) = error_code(
        common::pages::post_form_signed_out(
            &app,
            "/handover/download",
            &[("token", token.as_str()), ("code", code.as_str())],
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("Avtalet") || text.contains("agreement"),
        "{text}"
    );
    // An ended agreement sends no new link either.
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{second}/handover/resend"),
            Some(&anna_c),
            json!({}),
        )
        .await;
    let (status, text) = error_code(res).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("agreement_ended"), "{text}");
    assert_eq!(processor_mails(&sink, 4).await.len(), 4, "no fifth mail");
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn the_requester_sends_the_link_again_the_old_one_stops_working_and_the_count_is_capped() {
    use common::pages::{csrf, page};
    let sink = SmtpSink::start().await;
    let (app, _) = app_with_mail(sink.port).await;
    let marker = synthetic::canary_marker(21);
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let id = approved_handover(&app, &anna_c, &bertil_c).await;
    let old = token_after(&processor_mails(&sink, 1).await[0], "/handover/");
    let res =
        common::pages::post_form_signed_out(&app, "/handover/code", &[("token", old.as_str())])
            .await;
    assert_eq!(res.status(), 200);
    let old_code = code_in(&processor_mails(&sink, 2).await[1]);

    // The requester's page says where the hand-over stands and offers to send the link again.
    let (status, html) = page(&app, &format!("/extracts/{id}"), &anna_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Listan är inte hämtad än"), "{html}");
    assert!(html.contains("Det går 2 gånger till"), "{html}");
    assert!(!html.contains(&old), "the page never shows a link");
    let (_, approver_page) = page(&app, &format!("/extracts/{id}"), &bertil_c).await;
    assert!(
        !approver_page.contains("/handover/resend"),
        "only the requester may"
    );

    // Sent again from the page: a third mail with a new link, and no member data.
    let res = app
        .client
        .post(app.url(&format!("/extracts/{id}/handover/resend")))
        .header("cookie", &anna_c)
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let mails = processor_mails(&sink, 3).await;
    assert!(!body_text(&mails[2]).contains(&marker));
    let new = token_after(&mails[2], "/handover/");
    assert_ne!(new, old);

    // The old link and the code sent with it no longer work; the new link does.
    let res = app.get_with(&format!("/handover/{old}"), None).await;
    assert_eq!(res.status(), 404, "the old link");
    let (status, _) = error_code(
        common::pages::post_form_signed_out(
            &app,
            "/handover/download",
            &[("token", new.as_str()), ("code", old_code.as_str())],
        )
        .await,
    )
    .await;
    assert_eq!(status, 401, "the old code goes with the old link");
    let res = app.get_with(&format!("/handover/{new}"), None).await;
    assert_eq!(res.status(), 200);

    // Someone else is told there is no such extract; the approver too.
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/handover/resend"),
            Some(&bertil_c),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 404);

    // The third link mail is the last.
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/handover/resend"),
            Some(&anna_c),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let newest = token_after(&processor_mails(&sink, 4).await[3], "/handover/");
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/handover/resend"),
            Some(&anna_c),
            json!({}),
        )
        .await;
    let (status, text) = error_code(res).await;
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("handover_too_many_links"), "{text}");
    let (_, html) = page(&app, &format!("/extracts/{id}"), &anna_c).await;
    assert!(
        !html.contains("/handover/resend"),
        "no button once none are left"
    );

    // Every send is audited with who asked; the refusal too.
    let actions: Vec<(String, Value)> = audit_actions(&app)
        .await
        .into_iter()
        .map(|(a, _, d)| (a, serde_json::from_str(&d).unwrap()))
        .collect();
    let again = actions
        .iter()
        .filter(|(a, d)| a == "handover.offer" && d["again"] == json!(true))
        .count();
    assert_eq!(again, 2, "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|(a, d)| a == "handover.refuse" && d["code"] == "handover_too_many_links")
    );

    // Collected with the newest link: nothing can be sent again.
    let res =
        common::pages::post_form_signed_out(&app, "/handover/code", &[("token", newest.as_str())])
            .await;
    assert_eq!(res.status(), 200);
    let code = code_in(&processor_mails(&sink, 5).await[4]);
    let res = common::pages::post_form_signed_out(
        &app,
        "/handover/download",
        &[("token", newest.as_str()), ("code", code.as_str())],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(String::from_utf8_lossy(&res.bytes().await.unwrap()).contains(&marker));
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/handover/resend"),
            Some(&anna_c),
            json!({}),
        )
        .await;
    let (status, text) = error_code(res).await;
    assert_eq!(status, 410, "{text}");
    app.stop().await;
}

/// Ends the printer's agreement through the four-eyes policy change.
async fn end_agreement(app: &TestApp) {
    let a = app.user("maja", &["admin:*"]).await;
    let b = app.user("mats", &["admin:*"]).await;
    let a = app.sign_in(&a, "maja").await;
    let b = app.sign_in(&b, "mats").await;
    let purposes = registervakt::policy::Texts::shipped()
        .purposes
        .replace("agreement_ends = 2027-12-31", "agreement_ends = 2025-12-31");
    let res = app
        .post_json(
            "/api/v1/policy/proposals",
            Some(&a),
            json!({ "purposes": purposes, "comment": "Avtalet med tryckeriet har upphört" }),
        )
        .await;
    let proposal: Value = res.json().await.unwrap();
    let id = proposal["proposal_id"].as_str().unwrap().to_owned();
    let res = app
        .post_json(
            &format!("/api/v1/policy/proposals/{id}/confirm"),
            Some(&b),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

/// No mail server listens: the refusals come before any mail would be sent.
async fn app_without_listener() -> (TestApp, synthetic::SyntheticMember) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    app_with_mail(port).await
}

#[tokio::test]
async fn an_ended_agreement_refuses_the_hand_over_at_request_and_at_approval() {
    let (app, _) = app_without_listener().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let (status, created) = request(&app, &anna_c, printer_request()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    end_agreement(&app).await;
    // At approval.
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&bertil_c),
            json!({ "request_hash": created["request_hash"], "comment": "ok" }),
        )
        .await;
    assert_eq!(res.status(), 403);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "agreement_ended", "{err}");
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &anna_c)
        .await;
    assert_eq!(v["state"], "pending", "nothing was built");
    // At request.
    let (status, refused) = request(&app, &anna_c, printer_request()).await;
    assert_eq!(status, 403);
    assert_eq!(refused["error"], "agreement_ended", "{refused}");
    let refusals = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, o, d)| a == "policy.decide" && o == "denied" && d.contains("agreement_ended"))
        .count();
    assert_eq!(refusals, 2, "both refusals audited");
    app.stop().await;
}

#[tokio::test]
async fn a_processor_the_purpose_does_not_list_is_refused_and_a_hand_over_only_purpose_needs_one() {
    let (app, _) = app_without_listener().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let mut other = body(
        "district-assembly-invitation",
        "Uppsala",
        &["first_name", "city"],
        60,
    );
    other["processor"] = json!(PRINTER);
    let (status, refused) = request(&app, &anna_c, other).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"], "processor_not_allowed");
    let mut unknown = printer_request();
    unknown["processor"] = json!("tryckeriet-syd");
    let (status, refused) = request(&app, &anna_c, unknown).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"], "processor_not_allowed");
    let (status, refused) = request(&app, &anna_c, body(PURPOSE, "Uppsala", &FIELDS, 60)).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"], "processor_not_allowed",
        "the printer purpose needs one"
    );
    let audited = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, o, d)| {
            a == "policy.decide" && o == "denied" && d.contains("processor_not_allowed")
        })
        .count();
    assert_eq!(audited, 3);
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL) and Python aiosmtpd"]
async fn on_postgresql_parallel_downloads_with_the_right_code_release_the_list_exactly_once() {
    let sink = SmtpSink::start().await;
    let smtp = format!(
        "\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"Registervakt <noreply@example.org>\"\ntls = \"none\"\n",
        sink.port
    );
    let (app, _) =
        common::postgres::spawn_on_postgres_edited("handover", |text, _| format!("{text}{smtp}"))
            .await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let id = approved_handover(&app, &anna_c, &bertil_c).await;
    let token = token_after(&processor_mails(&sink, 1).await[0], "/handover/");
    let res =
        common::pages::post_form_signed_out(&app, "/handover/code", &[("token", token.as_str())])
            .await;
    assert_eq!(res.status(), 200);
    let code = code_in(&processor_mails(&sink, 2).await[1]);
    let form = [("token", token.as_str()), ("code", code.as_str())];
    let attempts =
        (0..6).map(|_| common::pages::post_form_signed_out(&app, "/handover/download", &form));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 410),
        "{statuses:?}"
    );
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &anna_c)
        .await;
    assert_eq!(v["downloads"], 1, "{v}");
    app.stop().await;
}
