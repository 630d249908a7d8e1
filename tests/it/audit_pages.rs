//! The auditor's desk in the browser: the member report (GDPR Art. 15) shows staff names only
//! when the DPO ticks the box, and says so in the audit log; a leaked file uploaded from the page
//! is traced; the breach scope and an extract's story are pages an auditor can print. None of
//! them shows an id, a hash or a time in UTC: extracts go by purpose, district, date and short
//! reference (the link carries the id), and the story is sentences.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, download, live_extract};
use common::pages::{csrf, page};
use common::{TestApp, prepare, spawn_app_in};
use registervakt::extract::format::read_csv;
use registervakt::web::labels::reference;

/// What a reader sees of a page: its text, without tags (and so without attributes), scripts
/// and styles, character references decoded.
pub(crate) fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let tag = &rest[open..];
        let name: String = tag[1..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let skip_to = ["script", "style", "head"]
            .contains(&name.as_str())
            .then(|| format!("</{name}>"));
        rest = match skip_to {
            Some(end) => tag.find(&end).map_or("", |at| &tag[at + end.len()..]),
            None => tag.find('>').map_or("", |at| &tag[at + 1..]),
        };
    }
    text.push_str(rest);
    text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
}

/// The first run of 16 or more hexadecimal digits a reader sees on the page (an id, a key or
/// a hash), as the browser walk looks for them.
pub(crate) fn hex_run(html: &str) -> Option<String> {
    visible_text(html)
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|run| run.len() >= 16)
        .map(str::to_owned)
}

/// Fails with the page when a reader would see an id or hash, or a time in UTC.
pub(crate) fn assert_plain(what: &str, html: &str) {
    assert_eq!(hex_run(html), None, "{what} shows an id or hash: {html}");
    let text = visible_text(html);
    assert!(
        !text
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == "UTC"),
        "{what} shows a time in UTC: {text}"
    );
}

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
    assert_plain("the desk", &html);
    assert!(
        html.contains(">Från</label>") && html.contains(">Till</label>"),
        "{html}"
    );
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
    assert!(report.contains("I en hämtad fil, 1 gång."), "{report}");
    assert!(!report.contains(">anna<"), "no staff names unless chosen");
    assert_plain("the member report", &report);
    assert!(
        report.contains(&format!(
            "href=\"/audit/extracts/{id}\">{}</a>",
            reference(&id)
        )),
        "the extract by its short reference, linked by its id: {report}"
    );
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
    assert!(report.contains(">anna</td>"), "{report}");
    assert_plain("the member report with names", &report);
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
    assert!(html.contains(&reference(&id)), "{html}");
    assert_plain("the trace", &html);
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
        html.contains("127.0.0.1") && html.contains(">anna</td>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("Utdrag {}", reference(&id))),
        "{html}"
    );
    assert_plain("the breach scope", &html);

    // The story: sentences with names, never codes, ids, Unix times or JSON.
    let (status, html) = page(&app, &format!("/audit/extracts/{id}"), &farid_c).await;
    assert_eq!(status, 200);
    let text = visible_text(&html);
    for said in [
        "anna begärde en lista för",
        "Listan togs fram och krypterades:",
        "anna hämtade listan som CSV från 127.0.0.1 (hämtning 1 av",
    ] {
        assert!(text.contains(said), "{said:?} in {text}");
    }
    for code in [
        "extract.download",
        "extract.snapshot",
        "user:",
        "\"rows\"",
        "{",
    ] {
        assert!(!text.contains(code), "{code:?} in {text}");
    }
    assert_plain("the story", &html);
    let (status, html) = page(
        &app,
        &format!("/audit/extracts/{id}"),
        &format!("{farid_c}; rv_lang=en"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        visible_text(&html).contains("anna downloaded the list as CSV from 127.0.0.1"),
        "{html}"
    );
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
