//! The extract pages over HTTP, as a browser uses them: forms with the session's CSRF token,
//! redirects after each POST, the file through the page's download form, the approver's
//! queue and decision form — and the refusals (no token, another user's extract).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::Duration;

use common::pages::{csrf, page, post_form};
use common::{TestApp, code_now, session_cookie, spawn_app};
use registervakt::extract::format;

const INVITE: &str = "district-assembly-invitation";
const JUSTIFICATION: &str = "Kallelse till distriktsstämman i mars";

/// The request form's fields for `purpose` in Uppsala, with the page's token.
fn request_form<'a>(
    token: &'a str,
    purpose: &'a str,
    fields: &[&'a str],
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", token),
        ("purpose", purpose),
        ("district", "Uppsala"),
        ("local_branches", ""),
        ("statuses", ""),
        ("joined_from", ""),
        ("age_min", ""),
        ("lifetime_minutes", "60"),
        ("justification", JUSTIFICATION),
        ("acknowledged", "yes"),
    ];
    form.extend(fields.iter().map(|f| ("fields", *f)));
    form
}

/// Sends the request form; returns the extract id from the 303's location.
async fn request_from_form(app: &TestApp, cookie: &str, purpose: &str, fields: &[&str]) -> String {
    let (_, html) = page(app, &format!("/extracts/new?purpose={purpose}"), cookie).await;
    let token = csrf(&html);
    let res = post_form(
        app,
        "/extracts",
        cookie,
        &request_form(&token, purpose, fields),
    )
    .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let id = location
        .strip_prefix("/extracts/")
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32, "{location}");
    id
}

/// Reloads the extract page until it shows `state`; returns the page.
async fn wait_for_state(app: &TestApp, cookie: &str, id: &str, state: &str) -> String {
    let marker = format!("data-state=\"{state}\"");
    for _ in 0..200 {
        let (status, html) = page(app, &format!("/extracts/{id}"), cookie).await;
        assert_eq!(status, 200);
        if html.contains(&marker) {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("extract {id} never showed {state}");
}

async fn staff(app: &TestApp, name: &str) -> String {
    let user = app.user(name, &["staff:Uppsala"]).await;
    app.sign_in(&user, name).await
}

#[tokio::test]
async fn staff_see_the_purposes_and_the_acknowledgement_on_the_request_form() {
    let app = spawn_app().await;
    let cookie = staff(&app, "anna").await;
    let (status, html) = page(&app, "/extracts/new", &cookie).await;
    assert_eq!(status, 200);
    for text in [
        "Kallelse till distriktsstämma",
        "Telefonkampanj",
        "Jag använder listan endast för kallelsen till distriktsstämman",
        "name=\"acknowledged\"",
        "value=\"Uppsala\"",
        "name=\"fields\" value=\"email\"",
        "/static/extracts.js",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert!(
        !html.contains("name=\"code\""),
        "a fresh second factor needs no code"
    );
    assert!(!html.contains("<script>"), "no inline script (CSP)");
    let (_, phone) = page(&app, "/extracts/new?purpose=phone-canvassing", &cookie).await;
    assert!(phone.contains("Jag ringer bara i detta syfte"));
    assert!(phone.contains("name=\"fields\" value=\"phone\""));

    let js = app.get_with("/static/extracts.js", None).await;
    assert_eq!(js.status(), 200);
    assert_eq!(
        js.headers()["content-type"],
        "application/javascript; charset=utf-8"
    );
    assert!(
        js.text()
            .await
            .unwrap()
            .contains("/api/v1/extracts/estimate")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_request_sent_from_the_form_goes_live_and_its_csv_downloads_through_the_page() {
    let app = spawn_app().await;
    let cookie = staff(&app, "anna").await;
    let id = request_from_form(&app, &cookie, INVITE, &["last_name", "first_name"]).await;
    let html = wait_for_state(&app, &cookie, &id, "live").await;
    assert!(html.contains("data-expires=\""), "a countdown");
    assert!(html.contains("Ladda ner CSV") && html.contains("Ladda ner XLSX"));
    let token = csrf(&html);
    let path = format!("/extracts/{id}/download");
    let res = post_form(&app, &path, &cookie, &[("csrf", &token), ("format", "csv")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"utdrag-{id}.csv\"")
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let csv = res.bytes().await.unwrap();
    assert!(csv.starts_with(format::CSV_BOM));
    let table = format::read_csv(&csv).unwrap();
    assert_eq!(
        table[0],
        ["Efternamn", "Förnamn"],
        "the approved fields, in order, by their Swedish names"
    );
    assert!(table.len() > 1);
    let (_, html) = page(&app, &format!("/extracts/{id}"), &cookie).await;
    assert!(html.contains("1 av 3"), "one download of three used");
    app.stop().await;
}

#[tokio::test]
async fn im_done_on_the_page_shreds_the_extract_and_then_asks_to_confirm_deleted_copies() {
    let app = spawn_app().await;
    let cookie = staff(&app, "anna").await;
    let id = request_from_form(&app, &cookie, INVITE, &["first_name"]).await;
    let html = wait_for_state(&app, &cookie, &id, "live").await;
    let token = csrf(&html);
    let download = format!("/extracts/{id}/download");
    let form = [("csrf", token.as_str()), ("format", "xlsx")];
    assert_eq!(
        post_form(&app, &download, &cookie, &form).await.status(),
        200
    );

    // The first press only asks: nothing is destroyed yet.
    let done = format!("/extracts/{id}/done");
    let res = post_form(&app, &done, &cookie, &[("csrf", &token)]).await;
    assert_eq!(res.status(), 200);
    let asked = res.text().await.unwrap();
    assert!(asked.contains("Är du säker?"), "{asked}");
    assert!(asked.contains("name=\"confirmed\" value=\"yes\""));
    assert!(asked.contains("data-state=\"live\""), "still live");

    let res = post_form(
        &app,
        &done,
        &cookie,
        &[("csrf", &token), ("confirmed", "yes")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/extracts/{id}?msg=done")
    );
    let (status, html) = page(&app, &format!("/extracts/{id}?msg=done"), &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-state=\"shredded\""));
    assert!(html.contains("Utdraget är raderat"));
    assert!(!html.contains("Ladda ner"), "nothing left to download");
    assert!(html.contains(&format!("/extracts/{id}/attest")));

    let res = post_form(&app, &download, &cookie, &form).await;
    assert_eq!(res.status(), 410, "the page's form answers like the API");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("data-state=\"shredded\"")
    );

    let res = post_form(
        &app,
        &format!("/extracts/{id}/attest"),
        &cookie,
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let (_, html) = page(&app, &format!("/extracts/{id}"), &cookie).await;
    assert!(html.contains("intygat") && !html.contains(&format!("/extracts/{id}/attest")));
    let (_, mine) = page(&app, "/extracts", &cookie).await;
    assert!(mine.contains(&format!("/extracts/{id}")) && mine.contains("Raderad"));
    app.stop().await;
}

#[tokio::test]
async fn an_approver_finds_the_request_in_the_queue_and_approves_it_with_the_form() {
    let app = spawn_app().await;
    let anna = staff(&app, "anna").await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let bertil = app.sign_in(&bertil, "bertil").await;
    // Election-worker recruitment always needs an approver.
    let id = request_from_form(
        &app,
        &anna,
        "election-worker-recruitment",
        &["first_name", "phone"],
    )
    .await;
    let html = wait_for_state(&app, &anna, &id, "pending").await;
    assert!(
        !html.contains("/approve"),
        "nobody decides their own request"
    );

    let (status, queue) = page(&app, "/approvals", &bertil).await;
    assert_eq!(status, 200);
    assert!(queue.contains(&format!("/extracts/{id}")), "{queue}");
    assert!(queue.contains("anna") && queue.contains(JUSTIFICATION));

    let (status, html) = page(&app, &format!("/extracts/{id}"), &bertil).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Begäran behöver godkännas eftersom:")
            && html.contains("Ändamålet kräver alltid ett godkännande."),
        "the approver is told why: {html}"
    );
    assert!(
        html.contains("Ingen annan i distriktet kan besluta"),
        "nobody but bertil approves in Uppsala"
    );
    let hash = html
        .split("name=\"request_hash\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(hash.len(), 64);
    let token = csrf(&html);
    let approve = format!("/extracts/{id}/approve");
    let stale = [
        ("csrf", token.as_str()),
        ("request_hash", "0000"),
        ("comment", ""),
    ];
    let res = post_form(&app, &approve, &bertil, &stale).await;
    assert_eq!(res.status(), 409, "another hash is another request");
    let form = [
        ("csrf", token.as_str()),
        ("request_hash", &hash),
        ("comment", "ok"),
    ];
    let res = post_form(&app, &approve, &bertil, &form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/extracts/{id}?msg=approved")
    );
    wait_for_state(&app, &anna, &id, "live").await;
    let (_, queue) = page(&app, "/approvals", &bertil).await;
    assert!(
        !queue.contains(&format!("/extracts/{id}")),
        "decided requests leave the queue"
    );
    app.stop().await;
}

/// The CSRF token is derived from the session token (F-20): another session's token, the
/// user's own from an earlier sign-in included, is refused.
#[tokio::test]
async fn another_sessions_csrf_token_is_refused() {
    let app = spawn_app().await;
    let first = staff(&app, "anna").await;
    let (_, first_html) = page(&app, "/extracts/new", &first).await;
    let first_token = csrf(&first_html);
    let other = staff(&app, "anders").await;
    let (_, other_html) = page(&app, "/extracts/new", &other).await;
    let other_token = csrf(&other_html);
    assert_ne!(first_token, other_token);
    let with_other = request_form(&other_token, INVITE, &["first_name"]);
    assert_eq!(
        post_form(&app, "/extracts", &first, &with_other)
            .await
            .status(),
        403
    );
    let with_first = request_form(&first_token, INVITE, &["first_name"]);
    assert_eq!(
        post_form(&app, "/extracts", &other, &with_first)
            .await
            .status(),
        403
    );
    app.stop().await;
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let cookie = staff(&app, "anna").await;
    let (_, html) = page(&app, "/extracts/new", &cookie).await;
    let token = csrf(&html);
    let mut forged = request_form("nope", INVITE, &["first_name"]);
    let res = post_form(&app, "/extracts", &cookie, &forged).await;
    assert_eq!(res.status(), 403);
    forged.retain(|(k, _)| *k != "csrf");
    assert_eq!(
        post_form(&app, "/extracts", &cookie, &forged)
            .await
            .status(),
        403
    );
    let store = app.store().await;
    let user = store.find_user_by_username("anna").await.unwrap().unwrap();
    assert!(
        store
            .list_extracts_by_requester(&user.id, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was requested"
    );

    let id = request_from_form(&app, &cookie, INVITE, &["first_name"]).await;
    wait_for_state(&app, &cookie, &id, "live").await;
    for action in ["done", "download"] {
        let res = post_form(
            &app,
            &format!("/extracts/{id}/{action}"),
            &cookie,
            &[("format", "csv")],
        )
        .await;
        assert_eq!(res.status(), 403, "{action} without a token");
        let res = post_form(
            &app,
            &format!("/extracts/{id}/{action}"),
            &cookie,
            &[("csrf", &format!("{token}x")), ("format", "csv")],
        )
        .await;
        assert_eq!(res.status(), 403, "{action} with a wrong token");
    }
    wait_for_state(&app, &cookie, &id, "live").await;
    app.stop().await;
}

#[tokio::test]
async fn another_users_extract_page_is_the_404_page() {
    let app = spawn_app().await;
    let anna = staff(&app, "anna").await;
    let karl = staff(&app, "karl").await;
    let id = request_from_form(&app, &anna, INVITE, &["first_name"]).await;
    wait_for_state(&app, &anna, &id, "live").await;
    let (status, html) = page(&app, &format!("/extracts/{id}"), &karl).await;
    assert_eq!(status, 404);
    assert!(html.contains("Sidan finns inte"));
    let missing_id = "0".repeat(32);
    let (status, missing) = page(&app, &format!("/extracts/{missing_id}"), &karl).await;
    // The frame's language switch returns to the address asked for, so that differs; nothing
    // else may.
    assert_eq!(
        (status, missing),
        (404, html.replace(&id, &missing_id)),
        "the same page as for a missing one (C2)"
    );
    let (_, own) = page(&app, "/extracts/new", &karl).await;
    let token = csrf(&own);
    let res = post_form(
        &app,
        &format!("/extracts/{id}/download"),
        &karl,
        &[("csrf", &token), ("format", "csv")],
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = post_form(
        &app,
        &format!("/extracts/{id}/done"),
        &karl,
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 404);
    wait_for_state(&app, &anna, &id, "live").await;
    app.stop().await;
}

#[tokio::test]
async fn a_bad_request_form_comes_back_with_the_reason_and_what_was_typed() {
    let app = spawn_app().await;
    let cookie = staff(&app, "anna").await;
    let (_, html) = page(&app, "/extracts/new", &cookie).await;
    let token = csrf(&html);
    let mut form = request_form(&token, INVITE, &["first_name"]);
    form.retain(|(k, _)| *k != "acknowledged");
    let res = post_form(&app, "/extracts", &cookie, &form).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("class=\"error\"") && html.contains("godkänna ändamålets villkor"));
    assert!(html.contains(JUSTIFICATION), "the justification is kept");

    for (key, value) in [
        ("justification", "kort"),
        ("lifetime_minutes", "many"),
        ("joined_from", "2020-13-45"),
        ("purpose", "no-such-purpose"),
        ("age_min", "-3"),
    ] {
        let mut form = request_form(&token, INVITE, &["first_name"]);
        form.retain(|(k, _)| *k != key);
        form.push((key, value));
        let res = post_form(&app, "/extracts", &cookie, &form).await;
        assert_eq!(res.status(), 422, "{key}={value}");
        assert!(res.text().await.unwrap().contains("class=\"error\""));
    }
    let res = post_form(
        &app,
        "/extracts",
        &cookie,
        &request_form(&token, INVITE, &["birth_date"]),
    )
    .await;
    assert_eq!(
        res.status(),
        403,
        "a field the purpose does not allow is the policy's no"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stale_second_factor_is_renewed_by_the_code_on_the_request_form() {
    let app = spawn_app().await;
    let user = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "anna").await;
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
    // As if the sign-in code had been the previous period's, so this period's is unused.
    sqlx::query("UPDATE users SET totp_last_step = totp_last_step - 1 WHERE username = 'anna'")
        .execute(&pool)
        .await
        .unwrap();
    let (_, html) = page(&app, "/extracts/new", &cookie).await;
    assert!(html.contains("name=\"code\""), "the form asks for a code");
    let token = csrf(&html);
    let form = request_form(&token, INVITE, &["first_name"]);
    let res = post_form(&app, "/extracts", &cookie, &form).await;
    assert_eq!(res.status(), 401, "no code, no request");
    assert!(res.text().await.unwrap().contains("name=\"code\""));

    let code = code_now(&user.secret_base32);
    let mut with_code = form.clone();
    with_code.push(("code", &code));
    let res = post_form(&app, "/extracts", &cookie, &with_code).await;
    assert_eq!(res.status(), 303);
    let renewed = session_cookie(&res).expect("step-up renews the session");
    assert_ne!(renewed, cookie);
    assert_eq!(
        app.get_with("/extracts", Some(&cookie)).await.status(),
        401,
        "the old token is gone"
    );
    let (status, html) = page(&app, "/extracts", &renewed).await;
    assert_eq!(status, 200);
    assert!(html.contains("Kallelse till distriktsstämma"));
    app.stop().await;
}

#[tokio::test]
async fn the_view_page_shows_rows_under_a_member_data_warning_and_is_never_cached() {
    let app = spawn_app().await;
    let cookie = staff(&app, "anna").await;
    let id = request_from_form(&app, &cookie, "phone-canvassing", &["first_name", "phone"]).await;
    let html = wait_for_state(&app, &cookie, &id, "live").await;
    assert!(html.contains("Visa i webbläsaren"));
    let token = csrf(&html);
    let res = post_form(
        &app,
        &format!("/extracts/{id}/view"),
        &cookie,
        &[("csrf", &token), ("page", "0")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let view = res.text().await.unwrap();
    assert!(view.contains("Sidan visar medlemsuppgifter"));
    assert!(view.contains("<th scope=\"col\" title=\"phone\">Telefon</th>"));
    assert!(view.matches("<tr>").count() > 1, "rows under the header");
    let res = post_form(
        &app,
        &format!("/extracts/{id}/view"),
        &cookie,
        &[("csrf", &token), ("page", "99")],
    )
    .await;
    assert_eq!(res.status(), 422, "past the last page");
    let (_, meta) = page(&app, &format!("/extracts/{id}"), &cookie).await;
    assert!(!meta.contains("<td>"), "the metadata page holds no rows");
    app.stop().await;
}

#[tokio::test]
async fn an_approver_withdraws_a_live_extract_of_the_district_from_its_page() {
    let app = spawn_app().await;
    let cookie = staff(&app, "anna").await;
    let id = request_from_form(&app, &cookie, INVITE, &["first_name"]).await;
    wait_for_state(&app, &cookie, &id, "live").await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let bertil = app.sign_in(&bertil, "bertil").await;
    let (status, html) = page(&app, &format!("/extracts/{id}"), &bertil).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("action=\"/extracts/{id}/withdraw\"")),
        "{html}"
    );
    // The requester is offered no withdrawal of their own extract.
    let (_, own) = page(&app, &format!("/extracts/{id}"), &cookie).await;
    assert!(!own.contains("/withdraw\""));

    let token = csrf(&html);
    let res = post_form(
        &app,
        &format!("/extracts/{id}/withdraw"),
        &bertil,
        &[("csrf", token.as_str())],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/extracts/{id}?msg=withdrawn")
    );
    let html = wait_for_state(&app, &cookie, &id, "shredded").await;
    assert!(html.contains("data-state=\"shredded\""));
    app.stop().await;
}

/// What the request form sends as it comes, before anyone touches it: its hidden fields, the
/// checked boxes and the chosen options of the POST form.
fn form_defaults(html: &str) -> Vec<(String, String)> {
    let start = html.find("action=\"/extracts\"").expect("the request form");
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!(" {name}=\"");
        let at = tag.find(&key)? + key.len();
        Some(tag[at..at + tag[at..].find('"')?].replace("&#x2f;", "/"))
    };
    let mut out = Vec::new();
    for tag in form.split('<').filter(|t| t.starts_with("input")) {
        let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) else {
            continue;
        };
        let kind = attr(tag, "type").unwrap_or_default();
        if kind == "hidden" || (kind == "checkbox" && tag.contains(" checked")) {
            out.push((name, value));
        }
    }
    for select in form.split("<select").skip(1) {
        let name = attr(select, "name").unwrap();
        let chosen = select
            .split("<option")
            .find(|o| o.contains(" selected"))
            .and_then(|o| attr(o, "value"))
            .unwrap();
        out.push((name, chosen));
    }
    out
}

/// The form's own defaults bring members only: the statuses that count as members are chosen
/// at first, so a resigned or paused member is in no list unless someone asks for them. A
/// misspelt district, a branch or status the register does not hold, and a choice no member
/// matches are each refused with a sentence, and nothing is requested.
#[tokio::test]
async fn the_forms_defaults_bring_members_only_and_a_misspelt_or_empty_choice_is_refused() {
    const FEE: &str = "membership-fee-reminder";
    // Enough members that Uppsala has resigned and paused ones.
    let app = common::spawn_app_in(common::prepare(1000).await).await;
    let anna = staff(&app, "anna").await;
    let (status, html) = page(&app, &format!("/extracts/new?purpose={FEE}"), &anna).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(">Partiföreningar<"),
        "branches to pick: {html}"
    );
    let mut form = form_defaults(&html);
    let chosen: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "statuses")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(chosen, ["active"], "members only, at first");
    assert!(
        html.contains("value=\"resigned\"") && html.contains("value=\"paused\""),
        "the register's other statuses can be chosen: {html}"
    );
    assert!(!form.iter().any(|(k, _)| k == "local_branches"));
    for (k, v) in [
        ("fields", "member_id"),
        ("fields", "membership_status"),
        ("justification", JUSTIFICATION),
        ("acknowledged", "yes"),
    ] {
        form.push((k.to_owned(), v.to_owned()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // Misspelt or empty choices first: each a sentence, nothing requested.
    let variants: [(&str, &str, &str); 4] = [
        ("district", "Upsala", "Det finns inget sådant distrikt"),
        ("local_branches", "Ingenstans", "ingen sådan lokalavdelning"),
        ("statuses", "aktiv", "ingen sådan medlemsstatus"),
        ("age_min", "130", "Ingen medlem matchar urvalet"),
    ];
    for (key, value, sentence) in variants {
        let mut wrong = pairs.clone();
        if key == "district" {
            wrong.retain(|(k, _)| *k != key);
        }
        wrong.push((key, value));
        if key == "age_min" {
            wrong.push(("age_max", "130"));
        }
        let res = post_form(&app, "/extracts", &anna, &wrong).await;
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, 409, "{key}={value}: {html}");
        assert!(html.contains(sentence), "{key}={value}: {html}");
    }
    let mine = app.get_json_with("/api/v1/extracts", &anna).await;
    assert_eq!(
        mine["extracts"],
        serde_json::json!([]),
        "nothing was requested"
    );

    let res = post_form(&app, "/extracts", &anna, &pairs).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let id = location["/extracts/".len()..]
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (_, mut html) = page(&app, &format!("/extracts/{id}"), &anna).await;
    if html.contains("data-state=\"pending\"") {
        for name in ["bertil", "britta"] {
            let approver = app.user(name, &["approver:Uppsala"]).await;
            let approver = app.sign_in(&approver, name).await;
            let (_, page_html) = page(&app, &format!("/extracts/{id}"), &approver).await;
            if !page_html.contains("/approve\"") {
                break;
            }
            let hash = page_html
                .split("name=\"request_hash\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap()
                .to_owned();
            let token = csrf(&page_html);
            let form = [
                ("csrf", token.as_str()),
                ("request_hash", &hash),
                ("comment", "ok"),
            ];
            let res = post_form(&app, &format!("/extracts/{id}/approve"), &approver, &form).await;
            assert_eq!(res.status(), 303);
        }
    }
    html = wait_for_state(&app, &anna, &id, "live").await;
    let token = csrf(&html);
    let path = format!("/extracts/{id}/download");
    let res = post_form(&app, &path, &anna, &[("csrf", &token), ("format", "csv")]).await;
    assert_eq!(res.status(), 200);
    let table = format::read_csv(&res.bytes().await.unwrap()).unwrap();
    assert!(table.len() > 10, "members came: {}", table.len());
    let statuses: std::collections::BTreeSet<&str> =
        table[1..].iter().map(|row| row[1].as_str()).collect();
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        ["active"],
        "no resigned or paused member"
    );
    app.stop().await;
}
