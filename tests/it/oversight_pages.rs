//! The oversight pages in the browser: the auditor's timeline filters like the API (its times
//! in the shown zone) and keeps a district auditor to their district, and tells each entry as a
//! sentence without ids or codes; a follow-up flag is acknowledged from its page with a
//! one-time code and then shows as acknowledged with its comment (a forged form is 403); the
//! activity report's tables count exactly for a known scenario; the printable Art. 30 record
//! lists every shipped purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::audit_pages::{assert_plain, visible_text};
use crate::common;

use common::extracts::{audit_actions, body, download, live_extract, raw, request, wait_settled};
use common::pages::{csrf, page, post_form};
use common::{TestApp, TestDir, code_now, prepare, session_cookie, spawn_app, spawn_app_in};
use registervakt::web::i18n::{Lang, number};
use serde_json::json;
use sqlx::Executor as _;
use time::{Duration, OffsetDateTime};

const INVITE: &str = "district-assembly-invitation";
const RECRUIT: &str = "election-worker-recruitment";

/// A query string as a form sends it, empty fields included.
fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

/// The timeline form with every field, `set` filled in.
fn events(set: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = ["actor", "district", "action", "purpose", "from", "to"]
        .into_iter()
        .map(|k| (k, set.iter().find(|(n, _)| *n == k).map_or("", |(_, v)| *v)))
        .collect();
    pairs.extend(set.iter().filter(|(n, _)| *n == "limit" || *n == "before"));
    format!("/audit/events?{}", query(&pairs))
}

/// A moment on the wall clock of the zone the pages show (the tests' configuration keeps the
/// default, Europe/Stockholm).
fn wall_clock(t: OffsetDateTime) -> jiff::civil::DateTime {
    let zone = jiff::tz::TimeZone::get("Europe/Stockholm").unwrap();
    jiff::Timestamp::from_second(t.unix_timestamp())
        .unwrap()
        .to_zoned_datetime(zone)
        .datetime()
}

/// A time as the browser's datetime-local field sends it: the shown zone's wall clock.
fn local(t: OffsetDateTime) -> String {
    wall_clock(t).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// A day as the browser's date field sends it: the shown zone's day.
fn local_day(t: OffsetDateTime) -> String {
    wall_clock(t).strftime("%Y-%m-%d").to_string()
}

fn story(id: &str) -> String {
    format!("href=\"/audit/extracts/{id}\"")
}

#[tokio::test]
async fn the_timeline_page_filters_and_a_district_auditor_sees_only_their_district() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let sven = app.user("sven", &["auditor:Skåne"]).await;
    let start = OffsetDateTime::now_utc() - Duration::minutes(2);
    let anna_c = app.sign_in(&anna, "anna").await;
    let uppsala = live_extract(&app, &anna_c, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let skane = live_extract(&app, &cecilia_c, body(INVITE, "Skåne", &["first_name"], 60)).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let sven_c = app.sign_in(&sven, "sven").await;

    let (status, html) = page(&app, "/audit/events", &farid_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&story(&uppsala)) && html.contains(&story(&skane)));
    assert!(html.contains("/api/v1/audit/export?format=csv"), "{html}");
    // Sentences, names and local times; kinds by name in the filter; no ids or codes.
    assert_plain("the timeline", &html);
    let text = visible_text(&html);
    assert!(text.contains("anna begärde en lista för"), "{text}");
    assert!(text.contains("Listan togs fram och krypterades"), "{text}");
    assert!(
        !text.contains("extract.snapshot") && !text.contains("user:"),
        "{text}"
    );
    assert!(
        html.contains("<option value=\"extract.download\">Lista hämtad</option>"),
        "{html}"
    );
    assert!(
        html.contains(">Från\n") || html.contains(">Från <"),
        "{html}"
    );
    let (_, english) = page(&app, "/audit/events", &format!("{farid_c}; rv_lang=en")).await;
    assert!(
        visible_text(&english).contains("The list was prepared and encrypted"),
        "{english}"
    );

    // Filters as the form sends them: empty fields are no filter.
    let (status, html) = page(&app, &events(&[("district", "Uppsala")]), &farid_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&story(&uppsala)) && !html.contains(&story(&skane)));
    let (action, _, details) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "audit.timeline");
    assert!(details.contains("\"district\":\"Uppsala\""), "{details}");
    let (_, html) = page(&app, &events(&[("actor", "cecilia")]), &farid_c).await;
    assert!(html.contains(&story(&skane)) && !html.contains(&story(&uppsala)));
    let snapshots = events(&[
        ("action", "extract.snapshot"),
        ("purpose", INVITE),
        ("from", &local(start)),
    ]);
    let (status, html) = page(&app, &snapshots, &farid_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&story(&uppsala)) && html.contains(&story(&skane)));
    let text = visible_text(&html);
    assert!(text.contains("Listan togs fram och krypterades"), "{text}");
    assert!(!text.contains("begärde en lista"), "{text}");
    let later = local(OffsetDateTime::now_utc() + Duration::days(1));
    let (_, html) = page(&app, &events(&[("from", &later)]), &farid_c).await;
    assert!(html.contains("Inga händelser matchar"), "{html}");
    let earlier = local(start - Duration::minutes(1));
    let (_, html) = page(&app, &events(&[("to", &earlier)]), &farid_c).await;
    assert!(!html.contains(&story(&uppsala)));
    // The form's times are the shown zone's: half an hour ago on the local clock is before
    // everything here (read as UTC, it would be in the future, east of Greenwich).
    let half_hour_ago = local(OffsetDateTime::now_utc() - Duration::minutes(30));
    let (_, html) = page(&app, &events(&[("to", &half_hour_ago)]), &farid_c).await;
    assert!(html.contains("Inga händelser matchar"), "{html}");

    // Paging: two per page, then the older ones.
    let (_, html) = page(&app, &events(&[("limit", "2")]), &farid_c).await;
    let next = html
        .split("href=\"/audit/events?")
        .find_map(|rest| {
            let link = rest.split('"').next()?.replace("&amp;", "&");
            link.contains("before=").then_some(link)
        })
        .expect("a link to older entries");
    let (status, older) = page(&app, &format!("/audit/events?{next}"), &farid_c).await;
    assert_eq!(status, 200, "{older}");
    assert!(older.contains("Nyaste"));

    // Bad filters: a sentence in the page's language (never the library's English), 422.
    for bad in [("action", "extract.nothing"), ("from", "yesterday")] {
        let (status, html) = page(&app, &events(&[bad]), &farid_c).await;
        assert_eq!(status, 422, "{bad:?}");
        assert!(html.contains("Filtret kunde inte användas:"), "{html}");
        assert!(
            !html.contains("is not") && !html.contains("RFC 3339"),
            "{html}"
        );
    }

    // A district auditor: their district only, whatever the filter asks for.
    let (status, html) = page(&app, "/audit/events", &sven_c).await;
    assert_eq!(status, 200);
    assert!(html.contains(&story(&skane)) && !html.contains(&story(&uppsala)));
    let (_, html) = page(&app, &events(&[("district", "Uppsala")]), &sven_c).await;
    assert!(!html.contains(&story(&uppsala)), "{html}");
    let (status, _) = page(&app, "/audit/events", &anna_c).await;
    assert_eq!(status, 403);
    app.stop().await;
}

/// Office hours `HH:00-HH:00` that contain the current UTC hour by at least an hour on each side.
fn office_hours_now() -> String {
    let h = i32::from(OffsetDateTime::now_utc().hour());
    let wrap = |x: i32| x.rem_euclid(24);
    format!("{:02}:00-{:02}:00", wrap(h - 1), wrap(h + 2))
}

#[tokio::test]
async fn a_flag_is_acknowledged_from_the_page_with_a_code_and_then_shows_its_comment() {
    let dir: TestDir = prepare(200).await;
    let extra = format!("[followup]\noffice_hours = \"{}\"\n", office_hours_now());
    let text = format!("{}\n{extra}", dir.config_text());
    std::fs::write(&dir.config_path, text).unwrap();
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let whole = live_extract(&app, &anna_c, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let skane = live_extract(&app, &cecilia_c, body(INVITE, "Skåne", &["first_name"], 60)).await;

    // The approver sees one flag, from the approvals page too; the auditor sees both.
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let (status, queue) = page(&app, "/approvals", &bertil_c).await;
    assert_eq!(status, 200);
    assert!(
        queue.contains("href=\"/audit/flags\">1 flagga att följa upp"),
        "{queue}"
    );
    let (status, html) = page(&app, "/audit/flags", &bertil_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Utdrag av hela distriktet") && html.contains("<strong>anna</strong>"));
    assert!(html.contains(&format!("href=\"/extracts/{whole}\"")));
    assert!(!html.contains(&skane) && !html.contains("name=\"code\""));
    let (action, _, _) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "followup.list");
    let flag = html
        .split("action=\"/audit/flags/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let token = csrf(&html);
    let farid_c = app.sign_in(&farid, "farid").await;
    let (_, all) = page(&app, "/audit/flags", &farid_c).await;
    assert!(
        all.contains(&story(&whole)) && all.contains(&story(&skane)),
        "{all}"
    );
    let (status, _) = page(&app, "/audit/flags", &anna_c).await;
    assert_eq!(status, 403);

    // A forged form is refused; a stale second factor asks for a code.
    let ack = format!("/audit/flags/{flag}/acknowledge");
    let said = "Talat med Anna <b>ok</b>; kallelsen gick till hela distriktet.";
    let res = post_form(
        &app,
        &ack,
        &bertil_c,
        &[("csrf", "forged"), ("comment", said)],
    )
    .await;
    assert_eq!(res.status(), 403);
    let pool = raw(&app).await;
    let age = registervakt::config::DEFAULT_STEP_UP_MAX_AGE_SECS + 1;
    pool.execute(
        format!("UPDATE sessions SET second_factor_at = second_factor_at - {age}").as_str(),
    )
    .await
    .unwrap();
    let (_, html) = page(&app, "/audit/flags", &bertil_c).await;
    assert!(html.contains("name=\"code\""), "{html}");
    let res = post_form(
        &app,
        &ack,
        &bertil_c,
        &[("csrf", &token), ("comment", said)],
    )
    .await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("Skriv en engångskod"));

    // With a code: acknowledged, a 303 back, and the session renewed.
    pool.execute("UPDATE users SET totp_last_step = totp_last_step - 1 WHERE username = 'bertil'")
        .await
        .unwrap();
    let code = code_now(&bertil.secret_base32);
    let form = [("csrf", token.as_str()), ("comment", said), ("code", &code)];
    let res = post_form(&app, &ack, &bertil_c, &form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/audit/flags?msg=acknowledged");
    let fresh = session_cookie(&res).expect("step-up renews the session");
    let acks: Vec<_> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "followup.acknowledge")
        .collect();
    assert_eq!(acks.len(), 1);
    assert!(
        !acks[0].2.contains("Talat med Anna"),
        "the comment stays out of the log"
    );
    let (status, html) = page(&app, "/audit/flags?msg=acknowledged", &fresh).await;
    assert_eq!(status, 200);
    assert!(html.contains("Flaggan är kvitterad"), "{html}");
    assert!(html.contains("Att följa upp (0)") && html.contains("Kvitterade (1)"));
    assert!(html.contains("Kvitterad av <strong>bertil</strong>"));
    assert!(
        html.contains("Talat med Anna &lt;b&gt;ok"),
        "the comment, escaped: {html}"
    );
    let (_, all) = page(&app, "/audit/flags", &farid_c).await;
    assert!(all.contains("Kvitterade (1)") && all.contains("Talat med Anna"));

    // Once only; and the approvals page has no flag left to point to. (No flag is open, so
    // the renewed session's token is taken from the account page.)
    let (_, account) = page(&app, "/account", &fresh).await;
    let token = csrf(&account);
    let form = [("csrf", token.as_str()), ("comment", "igen")];
    let res = post_form(&app, &ack, &fresh, &form).await;
    assert_eq!(res.status(), 409);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Flaggan är redan kvitterad")
    );
    let (_, queue) = page(&app, "/approvals", &fresh).await;
    assert!(!queue.contains("att följa upp"), "{queue}");
    app.stop().await;
}

/// `<th scope="row">{label}</th>` followed by the counts' cells.
fn row(head: &str, counts: [u64; 7]) -> String {
    let cells: String = counts.iter().map(|n| format!("<td>{n}</td>")).collect();
    format!("{head}</th>{cells}</tr>")
}

fn named(label: &str) -> String {
    format!("<th scope=\"row\">{label}")
}

fn coded(code: &str) -> String {
    format!("<code>{code}</code>")
}

async fn rows_of(app: &TestApp, cookie: &str, id: &str) -> u64 {
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), cookie)
        .await;
    v["row_count"].as_u64().unwrap()
}

#[tokio::test]
async fn the_reports_page_counts_exactly_by_purpose_district_and_approver() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let sven = app.user("sven", &["auditor:Uppsala"]).await;
    let start = OffsetDateTime::now_utc() - Duration::minutes(5);
    let invite = |d: &str| body(INVITE, d, &["first_name", "email"], 60);

    // Uppsala: two invitations (one downloaded twice), one denied by the policy, one
    // recruitment approved by bertil; Skåne: one invitation.
    let anna_c = app.sign_in(&anna, "anna").await;
    let a1 = live_extract(&app, &anna_c, invite("Uppsala")).await;
    let a2 = live_extract(&app, &anna_c, invite("Uppsala")).await;
    for _ in 0..2 {
        assert_eq!(download(&app, &anna_c, &a1, "csv").await.0, 200);
    }
    let bad = body(INVITE, "Uppsala", &["first_name", "personal_number"], 60);
    assert_eq!(request(&app, &anna_c, bad).await.0, 403);
    let (status, r1) = request(
        &app,
        &anna_c,
        body(RECRUIT, "Uppsala", &["first_name", "phone"], 60),
    )
    .await;
    assert_eq!(status, 201, "{r1}");
    let r1_id = r1["id"].as_str().unwrap().to_owned();
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{r1_id}/approve"),
            Some(&bertil_c),
            json!({ "request_hash": r1["request_hash"], "comment": "ok" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(wait_settled(&app, &anna_c, &r1_id).await["state"], "live");
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let c1 = live_extract(&app, &cecilia_c, invite("Skåne")).await;
    let (n1, n2, nr) = (
        rows_of(&app, &anna_c, &a1).await,
        rows_of(&app, &anna_c, &a2).await,
        rows_of(&app, &anna_c, &r1_id).await,
    );
    let nc = rows_of(&app, &cecilia_c, &c1).await;
    assert!(n1 > 0 && nc > 0);

    let end = OffsetDateTime::now_utc() + Duration::minutes(5);
    let days = format!(
        "/audit/reports?{}",
        query(&[("from", &local_day(start)), ("to", &local_day(end))])
    );
    let farid_c = app.sign_in(&farid, "farid").await;
    let (status, html) = page(&app, &days, &farid_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("hela partiet"));
    let total = row(&named("Totalt"), [5, 4, 1, 4, 1, 2, n1 + n2 + nr + nc]);
    assert!(html.contains(&total), "{total} in {html}");
    let expected = [
        row(&coded(INVITE), [4, 3, 1, 3, 1, 2, n1 + n2 + nc]),
        row(&coded(RECRUIT), [1, 1, 0, 1, 0, 0, nr]),
        row(&named("Uppsala"), [4, 3, 1, 3, 1, 2, n1 + n2 + nr]),
        row(&named("Skåne"), [1, 1, 0, 1, 0, 0, nc]),
        row(&named("bertil"), [1, 1, 0, 1, 0, 0, nr]),
    ];
    for line in &expected {
        assert!(html.contains(line), "{line} in {html}");
    }
    let (action, _, _) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "report.activity");
    // An empty form is the last 30 days, today included.
    let (status, html) = page(&app, "/audit/reports", &farid_c).await;
    assert_eq!(status, 200);
    assert!(html.contains(&total), "{html}");

    // A district auditor's tables cover their district only.
    let sven_c = app.sign_in(&sven, "sven").await;
    let (_, html) = page(&app, &days, &sven_c).await;
    let theirs = row(&named("Totalt"), [4, 3, 1, 3, 1, 2, n1 + n2 + nr]);
    assert!(
        html.contains(&theirs) && !html.contains(&named("Skåne")),
        "{html}"
    );

    // Bad ranges are sentences on the page; staff may not ask.
    for bad in [
        query(&[("from", "2026-03-05"), ("to", "2026-03-01")]),
        query(&[("from", "igår"), ("to", "2026-03-01")]),
        query(&[("from", "2024-01-01"), ("to", "2026-03-01")]),
    ] {
        let (status, html) = page(&app, &format!("/audit/reports?{bad}"), &farid_c).await;
        assert_eq!(status, 422, "{bad}");
        assert!(html.contains("Perioden kunde inte användas"), "{html}");
    }
    let (status, _) = page(&app, &days, &anna_c).await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test]
async fn the_printable_article_30_record_lists_every_shipped_purpose() {
    let app = spawn_app().await;
    let farid = app.user("farid", &["auditor:Skåne"]).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let (status, html) = page(&app, "/audit/reports/article30", &farid_c).await;
    assert_eq!(status, 200, "{html}");
    let shipped =
        registervakt::policy::parse_catalogue(&registervakt::policy::Texts::shipped().purposes)
            .unwrap();
    assert!(!shipped.is_empty());
    assert_eq!(
        html.matches("class=\"request-card purpose\"").count(),
        shipped.len()
    );
    for purpose in &shipped {
        assert!(
            html.contains(&format!("id=\"purpose-{}\"", purpose.id.as_str())),
            "{}",
            purpose.id.as_str()
        );
        // Numbers are grouped as Swedish writes them (10 080, with a no-break space).
        let minutes = number(Lang::Sv, i64::from(purpose.max_lifetime_minutes));
        assert!(
            html.contains(&format!("högst {minutes} minuter")),
            "{minutes}"
        );
    }
    // The printer a purpose hands lists over to is named as a recipient, with its agreement
    // (Art. 30(1)(d)); a purpose whose lists stay in the party says so.
    let printer = &registervakt::policy::Texts::shipped();
    let policy = registervakt::policy::Policy::from_parts(
        &printer.model,
        &printer.permissions,
        &printer.purposes,
    )
    .await
    .unwrap();
    let processor = policy.processors().first().unwrap();
    assert!(
        html.contains(&format!(
            "{}, personuppgiftsbiträde enligt avtal {}",
            processor.name, processor.agreement_ref
        )),
        "{html}"
    );
    assert!(html.contains("inga: listan lämnar inte partiet"));
    assert!(
        html.contains("class=\"no-print\""),
        "links are left out of the print"
    );
    let (action, _, _) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "report.article30");
    let anna_c = app.sign_in(&anna, "anna").await;
    let (status, _) = page(&app, "/audit/reports/article30", &anna_c).await;
    assert_eq!(status, 403);
    app.stop().await;
}
