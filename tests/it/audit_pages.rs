//! The auditor's desk in the browser: the member report (GDPR Art. 15) shows staff names only
//! when the DPO ticks the box, and says so in the audit log; a leaked file uploaded from the page
//! is traced; the breach scope and an extract's story are pages an auditor can print.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, download, live_extract};
use common::pages::{csrf, page};
use common::{TestApp, prepare, spawn_app_in};
use registervakt::extract::format::read_csv;

async fn member_report(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> (u16, String) {
    let res = app
        .client
        .post(app.url("/audit/members"))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_auditor_prints_a_member_report_traces_a_file_and_scopes_a_breach_from_the_pages() {
    let app = spawn_app_in(prepare(400).await).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let fields = ["member_id", "first_name", "last_name"];
    let id = live_extract(
        &app,
        &anna_c,
        body("district-assembly-invitation", "Uppsala", &fields, 60),
    )
    .await;
    let (_, _, csv) = download(&app, &anna_c, &id, "csv").await;
    let member_id = read_csv(&csv).unwrap()[1][0].clone();

    // Staff see no desk.
    let (status, html) = page(&app, "/audit", &anna_c).await;
    assert_eq!(status, 200);
    assert!(html.contains("Du är inte granskare"));

    let farid_c = app.sign_in(&farid, "farid").await;
    let (status, html) = page(&app, "/audit", &farid_c).await;
    assert_eq!(status, 200);
    assert!(html.contains("hela partiet") && html.contains("action=\"/audit/trace\""));
    let token = csrf(&html);

    // The member report, first without staff names, then with them (the DPO's choice).
    let (status, report) = member_report(
        &app,
        &farid_c,
        &[("csrf", &token), ("member_id", &member_id)],
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert!(
        report.contains("Kallelse") || report.contains("stämma"),
        "{report}"
    );
    assert!(report.contains("Ja, 1 gång<"), "{report}");
    assert!(!report.contains(">anna<"), "no staff names unless chosen");
    let (_, _, details) = audit_actions(&app).await.pop().unwrap();
    assert!(details.contains("\"staff_names\":false"), "{details}");
    let (_, report) = member_report(
        &app,
        &farid_c,
        &[
            ("csrf", &token),
            ("member_id", &member_id),
            ("staff_names", "yes"),
        ],
    )
    .await;
    assert!(report.contains("<td>anna</td>"), "{report}");
    let (action, _, details) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "audit.member_report");
    assert!(details.contains("\"staff_names\":true") && !details.contains(&member_id));
    // A form without the session's token is refused.
    let (status, _) = member_report(
        &app,
        &farid_c,
        &[("csrf", "forged"), ("member_id", &member_id)],
    )
    .await;
    assert_eq!(status, 403);

    // Trace from the page: a multipart upload.
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.clone()).file_name("lista.csv"),
        );
    let res = app.post_multipart("/audit/trace", &farid_c, form).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("/audit/extracts/{id}")), "{html}");
    assert!(html.contains("matchad på medlemsnummer"));
    let forged = reqwest::multipart::Form::new().text("csrf", "forged").part(
        "file",
        reqwest::multipart::Part::bytes(csv).file_name("lista.csv"),
    );
    let res = app.post_multipart("/audit/trace", &farid_c, forged).await;
    assert_eq!(res.status(), 403);

    // The breach scope and the story, as pages.
    let (status, html) = page(
        &app,
        &format!("/audit/scope?extract={id}&user=&from=&to="),
        &farid_c,
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("127.0.0.1") && html.contains("<td>anna</td>"),
        "{html}"
    );
    let (status, html) = page(&app, &format!("/audit/extracts/{id}"), &farid_c).await;
    assert_eq!(status, 200);
    assert!(html.contains("extract.download") && html.contains("extract.snapshot"));
    assert!(html.contains("<td>anna</td>"), "actors by username: {html}");
    let (status, _) = page(&app, &format!("/audit/extracts/{id}"), &anna_c).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_party_wide_auditor_freezes_from_the_breach_scope_and_lifts_it_from_the_desk() {
    use common::pages::post_form;
    let app = spawn_app_in(prepare(200).await).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let gun = app.user("gun", &["auditor:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let fields = ["member_id", "first_name"];
    let id = live_extract(
        &app,
        &anna_c,
        body("district-assembly-invitation", "Uppsala", &fields, 60),
    )
    .await;

    // A district auditor sees the live extract but no switch: it is the party's.
    let gun_c = app.sign_in(&gun, "gun").await;
    let (status, scope) = page(&app, &format!("/audit/scope?extract={id}"), &gun_c).await;
    assert_eq!(status, 200, "{scope}");
    assert!(scope.contains("utdrag finns kvar"));
    assert!(!scope.contains("action=\"/audit/freeze\""));

    let farid_c = app.sign_in(&farid, "farid").await;
    let (status, scope) = page(&app, &format!("/audit/scope?extract={id}"), &farid_c).await;
    assert_eq!(status, 200);
    assert!(scope.contains("action=\"/audit/freeze\""), "{scope}");
    let token = csrf(&scope);
    let res = post_form(
        &app,
        "/audit/freeze",
        &farid_c,
        &[
            ("csrf", token.as_str()),
            ("reason", "Misstänkt läcka i Uppsala"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/audit?msg=frozen");
    let (_, desk) = page(&app, "/audit?msg=frozen", &farid_c).await;
    assert!(desk.contains("Alla utdrag är frysta"), "{desk}");
    assert!(desk.contains("Misstänkt läcka i Uppsala"));
    assert!(desk.contains("action=\"/audit/freeze/lift\""));
    let actions = audit_actions(&app).await;
    assert!(
        actions
            .iter()
            .any(|(action, _, _)| action == "extract.freeze"),
        "{actions:?}"
    );
    let (status, _) = page(&app, &format!("/extracts/{id}"), &anna_c).await;
    assert_eq!(status, 200);

    let res = post_form(
        &app,
        "/audit/freeze/lift",
        &farid_c,
        &[("csrf", token.as_str()), ("reason", "Utrett")],
    )
    .await;
    assert_eq!(res.headers()["location"], "/audit?msg=unfrozen");
    app.stop().await;
}
