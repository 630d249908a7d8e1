//! The policy through HTTP and the command line: C2 (another district → 403, audited with
//! the requested scope), C3, C4 (unknown purpose → 422, no clamping), C6 (a broken policy
//! denies everything, is audited as `authz.error` and fails readiness), `policy check` and
//! `policy explain`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::Command;

use common::{TestApp, spawn_app};
use serde_json::{Value, json};

fn request(purpose: &str, district: &str, fields: &[&str], lifetime: u32, rows: u64) -> Value {
    json!({ "purpose": purpose, "district": district, "fields": fields, "lifetime_minutes": lifetime, "estimated_rows": rows })
}

async fn last_event(app: &TestApp) -> (String, String, Value) {
    let store = app.store().await;
    let e = store.list_recent_audit_events(1).await.unwrap().remove(0);
    (
        e.action,
        e.outcome,
        serde_json::from_str(&e.details).unwrap(),
    )
}

#[tokio::test]
async fn staff_of_one_district_asking_for_another_get_403_with_a_reason_and_the_denial_is_audited()
{
    let app = spawn_app().await;
    let user = app.user("ingrid", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "ingrid").await;
    let body = request(
        "district-assembly-invitation",
        "Skåne",
        &["first_name", "email"],
        60,
        100,
    );
    let res = app
        .post_json("/api/v1/policy/decisions", Some(&cookie), body)
        .await;
    assert_eq!(res.status(), 403);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "not_permitted");
    assert!(err["message"].as_str().unwrap().contains("Skåne"), "{err}");
    let (action, outcome, details) = last_event(&app).await;
    assert_eq!(
        (action.as_str(), outcome.as_str()),
        ("policy.decide", "denied")
    );
    assert_eq!(details["district"], "Skåne");
    assert_eq!(details["fields"], json!(["first_name", "email"]));
    assert_eq!(details["code"], "not_permitted");

    let own = request(
        "district-assembly-invitation",
        "Uppsala",
        &["first_name", "email"],
        60,
        100,
    );
    let res = app
        .post_json("/api/v1/policy/decisions", Some(&cookie), own)
        .await;
    assert_eq!(res.status(), 200);
    let ok: Value = res.json().await.unwrap();
    assert_eq!(ok["decision"], "allow");
    app.stop().await;
}

#[tokio::test]
async fn a_field_outside_the_purpose_an_unknown_purpose_and_a_long_lifetime_are_refused_not_trimmed()
 {
    let app = spawn_app().await;
    let user = app.user("jonas", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "jonas").await;
    let cases = [
        (
            request(
                "phone-canvassing",
                "Uppsala",
                &["first_name", "personal_number"],
                60,
                10,
            ),
            403,
            "field_not_allowed",
        ),
        (
            request("phone-canvassing", "Uppsala", &["first_name"], 4321, 10),
            403,
            "lifetime_too_long",
        ),
        (
            request("no-such-purpose", "Uppsala", &["first_name"], 60, 10),
            422,
            "unknown_purpose",
        ),
        (
            request("phone-canvassing", "Uppsala", &["shoe_size"], 60, 10),
            422,
            "invalid_input",
        ),
    ];
    for (body, status, code) in cases {
        let res = app
            .post_json("/api/v1/policy/decisions", Some(&cookie), body)
            .await;
        assert_eq!(res.status(), status, "{code}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], code);
    }
    let (_, _, details) = last_event(&app).await;
    assert_eq!(
        details["code"], "unknown_purpose",
        "denials with a known shape are audited"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_broken_policy_denies_every_request_is_audited_and_fails_readiness() {
    let dir = common::prepare(50).await;
    let broken = dir.path().join("broken-policy");
    std::fs::create_dir(&broken).unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    for f in ["model.conf", "purposes.toml"] {
        std::fs::copy(format!("{shipped}/{f}"), broken.join(f)).unwrap();
    }
    // policy.csv is missing.
    let mut text = dir.config_text();
    text.push_str(&format!("\n[policy]\ndir = \"{}\"\n", broken.display()));
    std::fs::write(&dir.config_path, text).unwrap();
    let app = common::spawn_app_in(dir).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["policy"], "failing");
    let user = app.user("klara", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "klara").await;
    let body = request(
        "district-assembly-invitation",
        "Uppsala",
        &["first_name"],
        60,
        10,
    );
    let res = app
        .post_json("/api/v1/policy/decisions", Some(&cookie), body)
        .await;
    assert_eq!(res.status(), 403);
    let (action, outcome, _) = last_event(&app).await;
    assert_eq!(
        (action.as_str(), outcome.as_str()),
        ("authz.error", "denied")
    );
    app.stop().await;
}

#[test]
fn policy_check_passes_the_shipped_policy_and_names_the_line_of_a_broken_one() {
    let bin = env!("CARGO_BIN_EXE_registervakt");
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    let ok = Command::new(bin)
        .args(["policy", "check", "--dir", shipped])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.conf", "policy.csv", "purposes.toml"] {
        std::fs::copy(format!("{shipped}/{f}"), dir.path().join(f)).unwrap();
    }
    let purposes = std::fs::read_to_string(dir.path().join("purposes.toml")).unwrap();
    let (n, _) = purposes
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("sensitive_approvers"))
        .unwrap();
    let broken: Vec<String> = purposes
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == n {
                "sensitive_approvers = 0".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(dir.path().join("purposes.toml"), broken.join("\n")).unwrap();
    let bad = Command::new(bin)
        .args(["policy", "check", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("purposes.toml") && err.contains(&format!("{}", n + 1)),
        "{err}"
    );
}

#[tokio::test]
async fn policy_explain_answers_for_a_user_with_the_rules_that_decided() {
    let app = spawn_app().await;
    app.user("lisa", &["approver:Uppsala"]).await;
    let dir = app.stop().await;
    let out = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args([
            "policy",
            "explain",
            "--user",
            "lisa",
            "--purpose",
            "phone-canvassing",
            "--district",
            "Uppsala",
            "--fields",
            "first_name,phone",
            "--config",
        ])
        .arg(&dir.config_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("approver:Uppsala"), "{text}");
    assert!(
        text.to_lowercase().contains("not_permitted") || text.contains("do not allow"),
        "{text}"
    );
}

fn shipped_purposes() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/purposes.toml"
    ))
    .unwrap()
}

/// F-3: a policy change is checked when proposed, waits for a second party-wide
/// administrator who sees the diff (the proposer cannot confirm it), is then a new version,
/// audited with both people, and enforced at the next request.
#[tokio::test]
async fn a_policy_change_is_validated_confirmed_by_a_second_admin_versioned_audited_and_enforced() {
    let app = spawn_app().await;
    let admin = app.user("maja", &["admin:*"]).await;
    let second = app.user("mats", &["admin:*"]).await;
    let staff = app.user("nora", &["staff:Uppsala"]).await;
    let admin_cookie = app.sign_in(&admin, "maja").await;
    let second_cookie = app.sign_in(&second, "mats").await;
    let staff_cookie = app.sign_in(&staff, "nora").await;
    let ask = request(
        "phone-canvassing",
        "Uppsala",
        &["first_name", "phone"],
        600,
        10,
    );
    assert_eq!(
        app.post_json("/api/v1/policy/decisions", Some(&staff_cookie), ask.clone())
            .await
            .status(),
        200
    );

    let broken =
        shipped_purposes().replace("max_lifetime_minutes = 4320", "max_lifetime_minutes = 0");
    let res = app
        .post_json(
            "/api/v1/policy/proposals",
            Some(&admin_cookie),
            json!({ "purposes": broken, "comment": "try" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_policy");
    assert!(err["message"].as_str().unwrap().contains("line"), "{err}");

    let shorter =
        shipped_purposes().replace("max_lifetime_minutes = 4320", "max_lifetime_minutes = 60");
    assert_ne!(shorter, shipped_purposes());
    let res = app
        .post_json(
            "/api/v1/policy/proposals",
            Some(&admin_cookie),
            json!({ "purposes": shorter, "comment": "phone lists live one hour" }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], "awaiting_second_admin");
    let id = body["proposal_id"].as_str().unwrap().to_owned();
    let (action, _, _) = last_event(&app).await;
    assert_eq!(action, "policy.propose");
    assert_eq!(
        app.post_json("/api/v1/policy/decisions", Some(&staff_cookie), ask.clone())
            .await
            .status(),
        200,
        "a proposal is not in force"
    );
    let confirm = format!("/api/v1/policy/proposals/{id}/confirm");
    let res = app
        .post_json(&confirm, Some(&admin_cookie), json!({}))
        .await;
    assert_eq!(res.status(), 403, "the proposer cannot confirm");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "second_admin_required");

    let list = app
        .get_with("/api/v1/policy/proposals", Some(&second_cookie))
        .await;
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.unwrap();
    let diff = list[0]["diffs"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-max_lifetime_minutes = 4320")
            && diff.contains("+max_lifetime_minutes = 60"),
        "the confirming admin sees the diff: {diff}"
    );
    let res = app
        .post_json(&confirm, Some(&second_cookie), json!({}))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["version"], 1);
    let (action, _, details) = last_event(&app).await;
    assert_eq!(action, "policy.change");
    let store = app.store().await;
    let change = store
        .find_newest_audit_event("policy.change")
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    assert!(details["proposed_by"].is_string());
    assert_ne!(details["proposed_by"], json!(change.actor), "two people");
    assert_eq!(
        (
            details["from_version"].clone(),
            details["to_version"].clone()
        ),
        (Value::Null, json!(1))
    );
    assert_ne!(details["sha256_before"], details["sha256_after"]);

    let res = app
        .post_json("/api/v1/policy/decisions", Some(&staff_cookie), ask)
        .await;
    assert_eq!(
        res.status(),
        403,
        "the next request already runs under the new version"
    );
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "lifetime_too_long");
    let shown = app.get_json_with("/api/v1/policy", &staff_cookie).await;
    assert_eq!(shown["version"], 1);
    app.stop().await;
}

/// A proposal made against one version cannot be confirmed once another is in force: the
/// confirming administrator would apply a diff they were not shown.
#[tokio::test]
async fn a_policy_proposal_overtaken_by_another_version_can_no_longer_be_confirmed() {
    let app = spawn_app().await;
    let a = app.user("maja", &["admin:*"]).await;
    let b = app.user("mats", &["admin:*"]).await;
    let a = app.sign_in(&a, "maja").await;
    let b = app.sign_in(&b, "mats").await;
    let propose = |cookie: String, minutes: u32| {
        let app = &app;
        async move {
            let purposes = shipped_purposes().replace(
                "max_lifetime_minutes = 4320",
                &format!("max_lifetime_minutes = {minutes}"),
            );
            let res = app
                .post_json(
                    "/api/v1/policy/proposals",
                    Some(&cookie),
                    json!({ "purposes": purposes, "comment": "shorter" }),
                )
                .await;
            let body: Value = res.json().await.unwrap();
            body["proposal_id"].as_str().unwrap().to_owned()
        }
    };
    let first = propose(a.clone(), 60).await;
    let second = propose(a.clone(), 120).await;
    let confirm = |id: &str| format!("/api/v1/policy/proposals/{id}/confirm");
    assert_eq!(
        app.post_json(&confirm(&first), Some(&b), json!({}))
            .await
            .status(),
        201
    );
    let res = app.post_json(&confirm(&second), Some(&b), json!({})).await;
    assert_eq!(res.status(), 409);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "proposal_stale");
    app.stop().await;
}

#[tokio::test]
async fn only_a_party_wide_administrator_may_change_the_policy() {
    let app = spawn_app().await;
    let admin = app.user("olof", &["admin:Uppsala"]).await;
    let cookie = app.sign_in(&admin, "olof").await;
    let res = app
        .post_json(
            "/api/v1/policy/proposals",
            Some(&cookie),
            json!({ "purposes": shipped_purposes(), "comment": "mine" }),
        )
        .await;
    assert_eq!(res.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn policy_export_and_import_round_trip_through_the_store() {
    let app = spawn_app().await;
    let dir = app.stop().await;
    let bin = env!("CARGO_BIN_EXE_registervakt");
    let out = dir.path().join("exported");
    let run = |args: &[&str]| {
        let o = Command::new(bin)
            .args(args)
            .arg("--config")
            .arg(&dir.config_path)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    run(&["policy", "export", "--out", out.to_str().unwrap()]);
    let purposes = std::fs::read_to_string(out.join("purposes.toml")).unwrap();
    assert_eq!(purposes, shipped_purposes());
    std::fs::write(
        out.join("purposes.toml"),
        purposes.replace("max_rows = 5000", "max_rows = 4000"),
    )
    .unwrap();
    let said = run(&[
        "policy",
        "import",
        "--dir",
        out.to_str().unwrap(),
        "--comment",
        "smaller phone lists",
    ]);
    assert!(said.contains("version 1"), "{said}");
    let again = dir.path().join("again");
    run(&["policy", "export", "--out", again.to_str().unwrap()]);
    assert!(
        std::fs::read_to_string(again.join("purposes.toml"))
            .unwrap()
            .contains("max_rows = 4000")
    );
}

/// Regression (schemathesis, G1): the API description says `integer`, which JSON Schema
/// reads as any whole number, `60.0` too; serde refused it as a field of the wrong type.
#[tokio::test]
async fn whole_numbers_written_with_a_zero_fraction_are_the_same_numbers_and_fractions_are_refused()
{
    let app = spawn_app().await;
    let user = app.user("ingrid", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "ingrid").await;
    let ask = |lifetime: Value, rows: Value| {
        json!({ "purpose": "district-assembly-invitation", "district": "Uppsala",
                "fields": ["first_name", "email"], "lifetime_minutes": lifetime, "estimated_rows": rows })
    };
    let plain = app
        .post_json(
            "/api/v1/policy/decisions",
            Some(&cookie),
            ask(json!(60), json!(100)),
        )
        .await;
    assert_eq!(plain.status(), 200);
    let plain: Value = plain.json().await.unwrap();
    let written = app
        .post_json(
            "/api/v1/policy/decisions",
            Some(&cookie),
            ask(json!(60.0), json!(1e2)),
        )
        .await;
    assert_eq!(written.status(), 200);
    assert_eq!(written.json::<Value>().await.unwrap(), plain);
    for (lifetime, rows) in [
        (json!(60.5), json!(100)),
        (json!(60), json!(-1)),
        (json!(60), json!("100")),
    ] {
        let res = app
            .post_json(
                "/api/v1/policy/decisions",
                Some(&cookie),
                ask(lifetime.clone(), rows.clone()),
            )
            .await;
        assert_eq!(res.status(), 422, "{lifetime} {rows}");
    }
    app.stop().await;
}
