//! "Who received member M?" (SECURITY_BAR E6): exactly the extracts that held the member, with
//! purpose, district, downloads and shredding — still exact after every payload is shredded;
//! scoped to the auditor's districts; itself audited under the member's pseudonym only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, download, live_extract};
use common::{prepare_with, spawn_app_in};
use registervakt::synthetic;
use serde_json::{Value, json};

#[tokio::test]
async fn who_received_a_member_is_exact_for_three_extracts_two_of_them_shredded_and_after_all_are()
{
    let mut member = synthetic::canary(5);
    member.district = "Uppsala".into();
    let member_id = member.member_id.to_string();
    let dir = prepare_with(200, vec![member]).await;
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let sven = app.user("sven", &["auditor:Skåne"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let invite = |district: &str| {
        body(
            "district-assembly-invitation",
            district,
            &["first_name", "email"],
            60,
        )
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(live_extract(&app, &anna_c, invite("Uppsala")).await);
    }
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let elsewhere = live_extract(&app, &cecilia_c, invite("Skåne")).await;
    assert_eq!(download(&app, &anna_c, &held[2], "csv").await.0, 200);
    let done = app
        .post_json(
            &format!("/api/v1/extracts/{}/done", held[0]),
            Some(&anna_c),
            json!({}),
        )
        .await;
    assert_eq!(done.status(), 204);
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let revoked = app
        .post_json(
            &format!("/api/v1/extracts/{}/revoke", held[1]),
            Some(&bertil_c),
            json!({}),
        )
        .await;
    assert_eq!(revoked.status(), 204);

    let farid_c = app.sign_in(&farid, "farid").await;
    let path = format!("/api/v1/audit/members/{member_id}/disclosures");
    let answer = app.get_json_with(&path, &farid_c).await;
    let found: Vec<&Value> = answer["disclosures"].as_array().unwrap().iter().collect();
    let mut ids: Vec<&str> = found
        .iter()
        .map(|d| d["extract_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = held.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "exactly the three: {answer}");
    assert!(!ids.contains(&elsewhere.as_str()));
    let of = |id: &str| *found.iter().find(|d| d["extract_id"] == id).unwrap();
    let summary: Vec<(&str, Option<&str>, bool)> = held
        .iter()
        .map(|id| {
            let d = of(id);
            (
                d["state"].as_str().unwrap(),
                d["shred_reason"].as_str(),
                d["downloaded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("shredded", Some("done"), false),
            ("shredded", Some("revoked"), false),
            ("live", None, true)
        ]
    );
    assert!(
        found
            .iter()
            .all(|d| d["purpose"] == "district-assembly-invitation"
                && d["district"] == "Uppsala"
                && d["requester"] == "anna")
    );

    // Every payload shredded: the answer is the same.
    let last = app
        .post_json(
            &format!("/api/v1/extracts/{}/done", held[2]),
            Some(&anna_c),
            json!({}),
        )
        .await;
    assert_eq!(last.status(), 204);
    let after = app.get_json_with(&path, &farid_c).await;
    let mut after_ids: Vec<&str> = after["disclosures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["extract_id"].as_str().unwrap())
        .collect();
    after_ids.sort_unstable();
    assert_eq!(after_ids, ids);
    assert!(
        after["disclosures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "shredded" && !d["shredded_at"].is_null())
    );

    // The lookup is audited under the pseudonym, never the member number.
    let (action, _, details) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "audit.member_disclosures");
    assert!(!details.contains(&member_id));
    let store = app.store().await;
    let target = store
        .list_recent_audit_events(1)
        .await
        .unwrap()
        .pop()
        .unwrap()
        .target;
    assert_eq!(
        target,
        format!("member:{}", after["member_ref"].as_str().unwrap())
    );

    // Scope: an auditor of another district sees none of them; staff may not ask at all.
    let sven_c = app.sign_in(&sven, "sven").await;
    let theirs = app.get_json_with(&path, &sven_c).await;
    assert_eq!(theirs["disclosures"], json!([]));
    let res = app.get_with(&path, Some(&anna_c)).await;
    assert_eq!(res.status(), 403);
    let nobody = app
        .get_json_with("/api/v1/audit/members/999999999999/disclosures", &farid_c)
        .await;
    assert_eq!(nobody["disclosures"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn an_extracts_story_shows_request_snapshot_downloads_with_address_receipt_and_attestation() {
    let app = common::spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let sven = app.user("sven", &["auditor:Skåne"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let fields = ["first_name", "email"];
    let id = live_extract(
        &app,
        &cookie,
        body("district-assembly-invitation", "Uppsala", &fields, 60),
    )
    .await;
    assert_eq!(download(&app, &cookie, &id, "csv").await.0, 200);
    app.post_json(
        &format!("/api/v1/extracts/{id}/done"),
        Some(&cookie),
        json!({}),
    )
    .await;
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/attest-deleted"),
            Some(&cookie),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let farid_c = app.sign_in(&farid, "farid").await;
    let story = app
        .get_json_with(&format!("/api/v1/audit/extracts/{id}"), &farid_c)
        .await;
    let actions: Vec<&str> = story["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "extract.request",
            "extract.snapshot",
            "extract.download",
            "extract.shred",
            "extract.attest_deleted"
        ],
        "{story}"
    );
    let released = &story["events"][2];
    assert_eq!(released["details"]["ip"], "127.0.0.1");
    assert_eq!(story["members"], story["extract"]["row_count"]);
    assert_eq!(story["extract"]["fields"], json!(fields));
    // Outside the auditor's districts, and for staff, it does not exist.
    let sven_c = app.sign_in(&sven, "sven").await;
    assert_eq!(
        app.get_with(&format!("/api/v1/audit/extracts/{id}"), Some(&sven_c))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_with(&format!("/api/v1/audit/extracts/{id}"), Some(&cookie))
            .await
            .status(),
        404
    );
    app.stop().await;
}

/// Issue 21: a member shown on someone's screen, one in a downloaded file and one held but never
/// shown are told apart, and the story counts the members shown.
#[tokio::test]
async fn who_received_tells_a_member_shown_on_screen_from_one_in_a_file_and_one_never_shown() {
    let mut member = synthetic::canary(7);
    member.district = "Uppsala".into();
    member.consent_phone = Some(true);
    let member_id = member.member_id.to_string();
    let marker = synthetic::canary_marker(7);
    let dir = prepare_with(200, vec![member]).await;
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let calls = || body("phone-canvassing", "Uppsala", &["first_name", "phone"], 60);
    let shown = live_extract(&app, &anna_c, calls()).await;
    let never = live_extract(&app, &anna_c, calls()).await;
    let filed = live_extract(&app, &anna_c, calls()).await;

    // Anna pages through `shown` twice; the canary is on exactly one of its pages.
    let mut pages_with_canary = 0;
    for _ in 0..2 {
        let mut page = 0;
        loop {
            let res = app
                .post_json(
                    &format!("/api/v1/extracts/{shown}/view"),
                    Some(&anna_c),
                    json!({ "page": page }),
                )
                .await;
            assert_eq!(res.status(), 200);
            let got: Value = res.json().await.unwrap();
            if got["rows"].to_string().contains(&marker) {
                pages_with_canary += 1;
            }
            page += 1;
            if page >= got["pages"].as_u64().unwrap() {
                break;
            }
        }
    }
    assert_eq!(pages_with_canary, 2);
    assert_eq!(download(&app, &anna_c, &filed, "csv").await.0, 200);

    let farid_c = app.sign_in(&farid, "farid").await;
    let answer = app
        .get_json_with(
            &format!("/api/v1/audit/members/{member_id}/disclosures"),
            &farid_c,
        )
        .await;
    let of = |id: &str| {
        answer["disclosures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["extract_id"] == id)
            .unwrap_or_else(|| panic!("{id} in {answer}"))
            .clone()
    };
    let on_screen = of(&shown);
    assert_eq!(on_screen["downloaded"], false);
    assert_eq!(on_screen["shown_to"].as_array().unwrap().len(), 1);
    assert_eq!(on_screen["shown_to"][0]["username"], "anna");
    assert_eq!(on_screen["shown_to"][0]["times"], 2);
    let in_file = of(&filed);
    assert_eq!(
        (in_file["downloaded"].clone(), in_file["shown_to"].clone()),
        (json!(true), json!([]))
    );
    let held = of(&never);
    assert_eq!(
        (held["downloaded"].clone(), held["shown_to"].clone()),
        (json!(false), json!([]))
    );

    // The story counts every member of `shown` as shown, none of `never`.
    let story = app
        .get_json_with(&format!("/api/v1/audit/extracts/{shown}"), &farid_c)
        .await;
    assert!(story["members"].as_i64().unwrap() > 0);
    assert_eq!(story["members_shown"], story["members"]);
    let story = app
        .get_json_with(&format!("/api/v1/audit/extracts/{never}"), &farid_c)
        .await;
    assert_eq!(story["members_shown"], 0);

    // The printable report says it in words, without and with staff names.
    let (_, desk) = common::pages::page(&app, "/audit", &farid_c).await;
    let csrf = common::pages::csrf(&desk);
    for (names, expected) in [
        (false, "Visad på skärmen för personal"),
        (true, "Visad på skärmen för anna"),
    ] {
        let mut form = vec![("csrf", csrf.as_str()), ("member_id", member_id.as_str())];
        if names {
            form.push(("staff_names", "on"));
        }
        let res = common::pages::post_form(&app, "/audit/members", &farid_c, &form).await;
        let report = res.text().await.unwrap();
        assert!(report.contains(expected), "{report}");
        assert!(report.contains("I en hämtad fil, 1 gång."), "{report}");
        assert!(
            report.contains("Fanns i utdraget men visades aldrig"),
            "{report}"
        );
    }
    app.stop().await;
}
