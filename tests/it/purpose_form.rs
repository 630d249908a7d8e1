//! The purpose catalogue edited as a form (`/admin/purposes/…`), as a browser uses it: an
//! administrator opens a purpose, changes a limit and proposes it; a mistake comes back as
//! the form (422) with the Swedish sentence beside the field and everything typed kept; a
//! second administrator reads the change as sentences on `/admin`, confirms it, and the new
//! limit is in force at the next request. Also: a new purpose, a removal, and who may.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::pages::{csrf, page, post_form};
use common::{TestApp, spawn_app};
use serde_json::{Value, json};

/// The pairs a browser would send for the first form on `html` whose action is `action`:
/// inputs with a name (checked boxes and radios only), textareas, selected options.
fn form_pairs(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posting to {action}"));
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    let mut pairs = Vec::new();
    for tag in form.split('<').skip(1) {
        let (head, rest) = tag.split_once('>').unwrap_or((tag, ""));
        let attr = |name: &str| {
            head.split(&format!(" {name}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(unescape)
        };
        let flag = |name: &str| head.contains(&format!(" {name}")) && attr(name).is_none();
        let Some(name) = attr("name") else { continue };
        if head.starts_with("input") {
            let kind = attr("type").unwrap_or_default();
            if (kind == "checkbox" || kind == "radio") && !flag("checked") {
                continue;
            }
            pairs.push((name, attr("value").unwrap_or_default()));
        } else if head.starts_with("textarea") {
            pairs.push((name, unescape(rest)));
        } else if head.starts_with("select") {
            let options = &form[form.find(head).unwrap()..];
            let chosen = options
                .split("<option ")
                .skip(1)
                .take_while(|o| !o.starts_with("/select"))
                .find(|o| o.contains(" selected"))
                .and_then(|o| o.split("value=\"").nth(1))
                .and_then(|v| v.split('"').next())
                .unwrap_or_default();
            pairs.push((name, chosen.to_owned()));
        }
    }
    pairs
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `pairs` with the single value of `name` replaced by `value`.
fn with(mut pairs: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    let slot = pairs.iter_mut().find(|(n, _)| n == name).unwrap();
    slot.1 = value.to_owned();
    pairs
}

async fn send(
    app: &TestApp,
    path: &str,
    cookie: &str,
    pairs: &[(String, String)],
) -> (u16, String) {
    let form: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let res = post_form(app, path, cookie, &form).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The `<input>` tag of id `id` on `html`.
fn input<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("<input id=\"{id}\"")).unwrap();
    &html[at..at + html[at..].find('>').unwrap()]
}

async fn decide(app: &TestApp, cookie: &str) -> (u16, String) {
    let (_, html) = page(app, "/admin", cookie).await;
    let pairs = form_pairs(&html, "/admin/decide");
    let id = pairs.iter().find(|(n, _)| n == "id").unwrap().1.clone();
    let form = [
        ("csrf".to_owned(), csrf(&html)),
        ("id".to_owned(), id),
        ("kind".to_owned(), "policy".to_owned()),
        ("decision".to_owned(), "confirm".to_owned()),
    ];
    send(app, "/admin/decide", cookie, &form).await
}

fn decision(rows: u64) -> Value {
    json!({ "purpose": "phone-canvassing", "district": "Uppsala", "fields": ["first_name"],
            "lifetime_minutes": 60, "estimated_rows": rows })
}

#[tokio::test]
async fn an_admin_lowers_a_limit_in_the_form_mistakes_come_back_beside_the_field_and_a_second_admin_confirms_it_in_words()
 {
    let app = spawn_app().await;
    let maja = app.user("maja", &["admin:*"]).await;
    let mats = app.user("mats", &["admin:*"]).await;
    let nora = app.user("nora", &["staff:Uppsala"]).await;
    let maja = app.sign_in(&maja, "maja").await;
    let mats = app.sign_in(&mats, "mats").await;
    let nora = app.sign_in(&nora, "nora").await;

    let (status, admin) = page(&app, "/admin", &maja).await;
    assert_eq!(status, 200);
    assert!(admin.contains("href=\"/admin/purposes/phone-canvassing\""));
    assert!(admin.contains("href=\"/admin/purposes/new\""));
    assert!(
        !admin.contains("<textarea") && !admin.contains("[[purpose]]"),
        "no TOML on the page"
    );

    let (status, html) = page(&app, "/admin/purposes/phone-canvassing", &maja).await;
    assert_eq!(status, 200);
    assert!(input(&html, "max_rows").contains("value=\"5000\""));
    assert!(html.contains("Telefonkampanj"));
    let form = form_pairs(&html, "/admin/purposes");
    assert!(form.contains(&("allowed_fields".into(), "phone".into())));
    assert!(form.contains(&("required_consents".into(), "consent_phone".into())));
    assert!(form.contains(&("lifetime_amount".into(), "3".into())));
    assert!(form.contains(&("lifetime_unit".into(), "days".into())));

    // Two approvers from 100 members, below the 200 released without approval.
    let wrong = with(form.clone(), "max_rows", "4999");
    let wrong = with(wrong, "two_approvers_min_rows", "100");
    let wrong = with(wrong, "comment", "Färre medlemmar per lista");
    let (status, html) = send(&app, "/admin/purposes", &maja, &wrong).await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains(
        "<p class=\"error\" id=\"two_approvers_min_rows-error\">Måste vara större än antalet som lämnas ut utan godkännande.</p>"
    ));
    let field = input(&html, "two_approvers_min_rows");
    assert!(field.contains("aria-invalid=\"true\""), "{field}");
    assert!(field.contains("two_approvers_min_rows-error"), "{field}");
    assert!(
        field.contains("value=\"100\""),
        "the typed value is kept: {field}"
    );
    assert!(input(&html, "max_rows").contains("value=\"4999\""));
    assert!(input(&html, "comment").contains("value=\"Färre medlemmar per lista\""));
    assert!(
        !html.contains("two_approvers_min_rows ("),
        "no parser sentence"
    );

    // No field chosen; and a number that is not one.
    let none: Vec<_> = wrong
        .iter()
        .filter(|(n, _)| n != "allowed_fields")
        .cloned()
        .collect();
    let none = with(none, "two_approvers_min_rows", "2000");
    let none = with(none, "auto_max_rows", "tvåhundra");
    let (status, html) = send(&app, "/admin/purposes", &maja, &none).await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"auto_max_rows-error\">Skriv ett heltal med siffror"));
    assert!(input(&html, "auto_max_rows").contains("value=\"tvåhundra\""));
    let none = with(none, "auto_max_rows", "200");
    let (status, html) = send(&app, "/admin/purposes", &maja, &none).await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"allowed_fields-error\">Välj minst en uppgift.</p>"));
    assert!(html.contains("<fieldset id=\"allowed_fields\" aria-describedby=\"allowed_fields-hint allowed_fields-error\">"));

    // The English page tells the same problem in English.
    let english = format!("{maja}; rv_lang=en");
    let (_, html) = send(&app, "/admin/purposes", &english, &none).await;
    assert!(html.contains("Choose at least one field."), "{html}");

    let right = with(form, "max_rows", "4999");
    let right = with(right, "comment", "Färre medlemmar per lista");
    let (status, html) = send(&app, "/admin/purposes", &maja, &right).await;
    assert_eq!(status, 202, "{html}");
    assert!(html.contains("Ändringen är föreslagen"));
    assert!(
        !html.contains("value=\"confirm\""),
        "the proposer cannot confirm"
    );
    let res = app
        .post_json("/api/v1/policy/decisions", Some(&nora), decision(5000))
        .await;
    assert_eq!(res.status(), 200, "a proposal is not in force");

    let (_, second) = page(&app, "/admin", &mats).await;
    assert!(
        second.contains("<li>Telefonkampanj: högst 5\u{a0}000 medlemmar blir 4\u{a0}999</li>"),
        "the change in words"
    );
    assert!(
        !second.contains("Visa ändringen rad för rad") && !second.contains("max_rows ="),
        "the sentences say it all: no lines of TOML"
    );
    assert!(second.contains("Färre medlemmar per lista"));
    let (status, html) = decide(&app, &mats).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Version 1 gäller nu."), "{html}");

    let res = app
        .post_json("/api/v1/policy/decisions", Some(&nora), decision(5000))
        .await;
    assert_eq!(res.status(), 403, "the new limit is in force");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "too_many_rows");
    let (_, again) = page(&app, "/admin/purposes/phone-canvassing", &maja).await;
    assert!(input(&again, "max_rows").contains("value=\"4999\""));
    let in_force = app.get_json_with("/api/v1/policy", &nora).await;
    let phone = in_force["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "phone-canvassing")
        .unwrap()
        .clone();
    assert_eq!(phone["max_rows"], 4999, "{phone}");
    app.stop().await;
}

#[tokio::test]
async fn a_new_purpose_and_a_removal_are_proposed_from_forms_and_read_as_sentences() {
    let app = spawn_app().await;
    let maja = app.user("maja", &["admin:*"]).await;
    let mats = app.user("mats", &["admin:*"]).await;
    let maja = app.sign_in(&maja, "maja").await;
    let mats = app.sign_in(&mats, "mats").await;

    let (status, html) = page(&app, "/admin/purposes/new", &maja).await;
    assert_eq!(status, 200);
    let form = form_pairs(&html, "/admin/purposes");
    let mut new = form.clone();
    for (name, value) in [
        ("id", "phone-canvassing"),
        ("name_sv", "Valstugor"),
        ("name_en", "Election booths"),
        ("description_sv", "Bjud in medlemmar att stå i valstuga."),
        (
            "description_en",
            "Invite members to staff an election booth.",
        ),
        ("acknowledgement_sv", "Jag raderar listan efter valet."),
        (
            "acknowledgement_en",
            "I will delete the list after the election.",
        ),
        ("comment", "Valstugor inför valet"),
    ] {
        new = with(new, name, value);
    }
    new.push(("allowed_fields".into(), "first_name".into()));
    new.push(("allowed_fields".into(), "email".into()));
    let (status, html) = send(&app, "/admin/purposes", &maja, &new).await;
    assert_eq!(status, 422);
    assert!(html.contains("id=\"id-error\">Det finns redan ett ändamål med det här kortnamnet."));
    let new = with(new, "id", "election-booths");
    let (status, html) = send(&app, "/admin/purposes", &maja, &new).await;
    assert_eq!(status, 202, "{html}");
    let (_, second) = page(&app, "/admin", &mats).await;
    assert!(second.contains("Nytt ändamål: Valstugor"), "{second}");
    assert!(second.contains("Uppgifter som listan får innehålla: Förnamn och E-post"));
    decide(&app, &mats).await;

    let (_, html) = page(&app, "/admin/purposes/election-booths", &maja).await;
    let removal = form_pairs(&html, "/admin/purposes/remove");
    let (status, html) = send(&app, "/admin/purposes/remove", &maja, &removal).await;
    assert_eq!(status, 422, "a removal says why");
    assert!(html.contains("id=\"remove-comment-error\""));
    let removal = with(removal, "comment", "Valet är över");
    let (status, _) = send(&app, "/admin/purposes/remove", &maja, &removal).await;
    assert_eq!(status, 202);
    let (_, second) = page(&app, "/admin", &mats).await;
    assert!(second.contains("Ändamålet Valstugor tas bort."), "{second}");
    app.stop().await;
}

#[tokio::test]
async fn the_last_purpose_cannot_be_removed_and_only_a_party_wide_admin_opens_the_form() {
    let app = spawn_app().await;
    let maja = app.user("maja", &["admin:*"]).await;
    let olof = app.user("olof", &["admin:Uppsala"]).await;
    let maja = app.sign_in(&maja, "maja").await;
    let olof = app.sign_in(&olof, "olof").await;
    let (status, _) = page(&app, "/admin/purposes/new", &olof).await;
    assert_eq!(status, 403);
    let (_, admin) = page(&app, "/admin", &olof).await;
    assert!(
        !admin.contains("href=\"/admin/purposes/"),
        "no links for a district admin"
    );

    let store = app.store().await;
    let only = {
        let shipped = include_str!("../../policies/purposes.toml");
        let at = shipped
            .find("\n[[purpose]]\nid = \"phone-canvassing\"")
            .unwrap();
        shipped[..at].to_owned() + "\n"
    };
    app.state
        .policy
        .change(
            &store,
            registervakt::audit::Actor::cli(),
            Some(only),
            None,
            "one purpose",
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    store.close().await;
    let (_, html) = page(&app, "/admin/purposes/district-assembly-invitation", &maja).await;
    let removal = with(
        form_pairs(&html, "/admin/purposes/remove"),
        "comment",
        "Inget ändamål behövs",
    );
    let (status, html) = send(&app, "/admin/purposes/remove", &maja, &removal).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("Katalogen måste ha minst ett ändamål"),
        "{html}"
    );
    app.stop().await;
}

/// A change the sentences cannot say in full — the permission table, made through the API —
/// is named, and its lines are there to open.
#[tokio::test]
async fn a_change_of_the_permission_table_is_named_and_its_lines_can_be_opened() {
    let app = spawn_app().await;
    let maja = app.user("maja", &["admin:*"]).await;
    let mats = app.user("mats", &["admin:*"]).await;
    let maja = app.sign_in(&maja, "maja").await;
    let mats = app.sign_in(&mats, "mats").await;
    let table =
        include_str!("../../policies/policy.csv").replace("p, auditor, extract, freeze\n", "");
    let res = app
        .post_json(
            "/api/v1/policy/proposals",
            Some(&maja),
            json!({ "permissions": table, "comment": "Ingen frysning" }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let (_, second) = page(&app, "/admin", &mats).await;
    assert!(second.contains("Behörighetstabellen (vilka roller som får göra vad) ändras"));
    assert!(second.contains("<details><summary>Visa ändringen rad för rad</summary>"));
    assert!(second.contains("-p, auditor, extract, freeze"));
    app.stop().await;
}
