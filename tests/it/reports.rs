//! The DPO's reports (issue item 7): the activity report counts exactly for a known set of
//! extracts, by purpose, district and approver, within the auditor's scope; the Art. 30 summary
//! lists every shipped purpose; both are audited, and both come out of the CLI too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, download, live_extract, request, wait_settled};
use common::{TestApp, spawn_app};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const INVITE: &str = "district-assembly-invitation";
const RECRUIT: &str = "election-worker-recruitment";

fn period(from: OffsetDateTime, to: OffsetDateTime) -> String {
    let f = |t: OffsetDateTime| t.format(&Rfc3339).unwrap().replace('+', "%2B");
    format!(
        "/api/v1/audit/reports/activity?from={}&to={}",
        f(from),
        f(to)
    )
}

/// (requested, approved, denied, released, downloaded, downloads, members_disclosed)
fn counts(v: &Value) -> [u64; 7] {
    [
        "requested",
        "approved",
        "denied",
        "released",
        "downloaded",
        "downloads",
        "members_disclosed",
    ]
    .map(|k| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}")))
}

fn group<'a>(report: &'a Value, by: &str, name: &str) -> &'a Value {
    &report[by]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {by}: {report}"))["counts"]
}

async fn rows_of(app: &TestApp, cookie: &str, id: &str) -> u64 {
    let v = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), cookie)
        .await;
    v["row_count"].as_u64().unwrap()
}

/// A recruitment request (always needs an approver), returned with its hash.
async fn recruit(app: &TestApp, cookie: &str) -> (String, String) {
    let asked = body(RECRUIT, "Uppsala", &["first_name", "phone"], 60);
    let (status, created) = request(app, cookie, asked).await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["request_hash"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn the_activity_report_counts_exactly_by_purpose_district_and_approver_in_the_auditors_scope()
{
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let sven = app.user("sven", &["auditor:Uppsala"]).await;
    let start = OffsetDateTime::now_utc() - Duration::minutes(5);
    let invite = |d: &str| body(INVITE, d, &["first_name", "email"], 60);

    let anna_c = app.sign_in(&anna, "anna").await;
    let a1 = live_extract(&app, &anna_c, invite("Uppsala")).await;
    let a2 = live_extract(&app, &anna_c, invite("Uppsala")).await;
    for _ in 0..2 {
        assert_eq!(download(&app, &anna_c, &a1, "csv").await.0, 200);
    }
    let bad = body(INVITE, "Uppsala", &["first_name", "personal_number"], 60);
    assert_eq!(request(&app, &anna_c, bad).await.0, 403);
    let (r1, r1_hash) = recruit(&app, &anna_c).await;
    let (r2, _) = recruit(&app, &anna_c).await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{r1}/approve"),
            Some(&bertil_c),
            json!({ "request_hash": r1_hash, "comment": "ok" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{r2}/deny"),
            Some(&bertil_c),
            json!({ "comment": "Inte nu" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(wait_settled(&app, &anna_c, &r1).await["state"], "live");
    assert_eq!(download(&app, &anna_c, &r1, "csv").await.0, 200);
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let c1 = live_extract(&app, &cecilia_c, invite("Skåne")).await;
    // A what-if question to the policy is not a request.
    let what_if = json!({ "purpose": INVITE, "district": "Uppsala",
        "fields": ["personal_number"], "lifetime_minutes": 60, "estimated_rows": 10 });
    app.post_json("/api/v1/policy/decisions", Some(&anna_c), what_if)
        .await;

    let (n1, n2, nr1) = (
        rows_of(&app, &anna_c, &a1).await,
        rows_of(&app, &anna_c, &a2).await,
        rows_of(&app, &anna_c, &r1).await,
    );
    let nc1 = rows_of(&app, &cecilia_c, &c1).await;
    assert!(n1 > 0 && nc1 > 0);

    let end = OffsetDateTime::now_utc() + Duration::minutes(5);
    let farid_c = app.sign_in(&farid, "farid").await;
    let res = app.get_with(&period(start, end), Some(&farid_c)).await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["scope"], json!(["*"]));
    assert_eq!(
        counts(&report["totals"]),
        [6, 4, 2, 4, 2, 3, n1 + n2 + nr1 + nc1],
        "{report}"
    );
    assert_eq!(
        counts(group(&report, "by_purpose", INVITE)),
        [4, 3, 1, 3, 1, 2, n1 + n2 + nc1]
    );
    assert_eq!(
        counts(group(&report, "by_purpose", RECRUIT)),
        [2, 1, 1, 1, 1, 1, nr1]
    );
    assert_eq!(
        counts(group(&report, "by_district", "Uppsala")),
        [5, 3, 2, 3, 2, 3, n1 + n2 + nr1]
    );
    assert_eq!(
        counts(group(&report, "by_district", "Skåne")),
        [1, 1, 0, 1, 0, 0, nc1]
    );
    assert_eq!(report["by_approver"].as_array().unwrap().len(), 1);
    assert_eq!(
        counts(group(&report, "by_approver", "bertil")),
        [2, 1, 1, 1, 1, 1, nr1]
    );
    let (action, _, details) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "report.activity");
    assert!(details.contains("\"scope\":[\"*\"]"), "{details}");

    // A district auditor's report covers their district only.
    let sven_c = app.sign_in(&sven, "sven").await;
    let theirs = app.get_json_with(&period(start, end), &sven_c).await;
    assert_eq!(theirs["scope"], json!(["Uppsala"]));
    assert_eq!(counts(&theirs["totals"])[0], 5);
    assert!(
        theirs["by_district"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["name"] == "Uppsala")
    );
    // Another period has none of it; staff may not ask; bad periods are 422.
    let last_year = app
        .get_json_with(
            &period(start - Duration::days(380), start - Duration::days(370)),
            &farid_c,
        )
        .await;
    assert_eq!(counts(&last_year["totals"]), [0; 7]);
    let res = app.get_with(&period(start, end), Some(&anna_c)).await;
    assert_eq!(res.status(), 403);
    for bad in [
        period(end, start),
        period(start - Duration::days(401), start),
        "/api/v1/audit/reports/activity?from=yesterday&to=today".to_owned(),
        "/api/v1/audit/reports/activity".to_owned(),
    ] {
        let res = app.get_with(&bad, Some(&farid_c)).await;
        assert_eq!(res.status(), 422, "{bad}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"], "invalid_range", "{bad}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_article_30_summary_lists_every_shipped_purpose_and_the_cli_prints_both_reports() {
    let app = spawn_app().await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let res = app
        .get_with("/api/v1/audit/reports/article30", Some(&farid_c))
        .await;
    assert_eq!(res.status(), 200);
    let summary: Value = res.json().await.unwrap();
    let shipped =
        registervakt::policy::parse_catalogue(&registervakt::policy::Texts::shipped().purposes)
            .unwrap();
    let listed: Vec<&str> = summary["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["purpose"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = shipped.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(listed, expected);
    for (entry, purpose) in summary["purposes"].as_array().unwrap().iter().zip(&shipped) {
        assert_eq!(entry["name_sv"], purpose.name_sv.as_str());
        assert_eq!(entry["retention_minutes"], purpose.max_lifetime_minutes);
        assert_eq!(entry["requested_by"], json!(["staff"]));
        assert_eq!(entry["approved_by"], json!(["approver"]));
        let fields: usize = entry["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["fields"].as_array().unwrap().len())
            .sum();
        assert_eq!(fields, purpose.allowed_fields.len());
        // Every processor the purpose may hand over to is a recipient, with its agreement, and
        // so is the recipient of a call list's "do not call again" members.
        let recipients: Vec<&str> = entry["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["processor"].as_str().unwrap())
            .collect();
        let processors: Vec<&str> = purpose
            .processors
            .iter()
            .chain(&purpose.do_not_call_to)
            .map(|p| p.as_str())
            .collect();
        assert_eq!(recipients, processors);
    }
    assert!(
        summary["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["recipients"][0]["agreement"].is_string()),
        "the shipped printer purpose names its agreement"
    );
    let (action, _, _) = audit_actions(&app).await.pop().unwrap();
    assert_eq!(action, "report.article30");
    let anna_c = app.sign_in(&anna, "anna").await;
    let res = app
        .get_with("/api/v1/audit/reports/article30", Some(&anna_c))
        .await;
    assert_eq!(res.status(), 403);

    // The same reports from the command line, as text and as CSV for Swedish Excel.
    let config = app.dir.config_path.display().to_string();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_registervakt"))
            .args(args)
            .args(["--config", &config])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let text = String::from_utf8(cli(&["report", "article30"])).unwrap();
    for purpose in &shipped {
        assert!(text.contains(purpose.id.as_str()), "{text}");
    }
    assert!(text.contains("Recipients outside the party: "), "{text}");
    let csv = cli(&["report", "article30", "--csv"]);
    let table = registervakt::extract::format::read_csv(&csv).unwrap();
    assert_eq!(table.len(), shipped.len() + 1);
    assert_eq!(table[0][0], "purpose");
    let now = OffsetDateTime::now_utc();
    let f = |t: OffsetDateTime| t.format(&Rfc3339).unwrap();
    let (from, to) = (f(now - Duration::days(1)), f(now + Duration::days(1)));
    let text =
        String::from_utf8(cli(&["report", "activity", "--from", &from, "--to", &to])).unwrap();
    assert!(
        text.contains("requested") && text.contains("total"),
        "{text}"
    );
    let csv = cli(&["report", "activity", "--from", &from, "--to", &to, "--csv"]);
    let table = registervakt::extract::format::read_csv(&csv).unwrap();
    assert_eq!(table[1][..3], ["total", "", "0"]);
    let actions: Vec<String> = audit_actions(&app)
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "report.activity").count(),
        2
    );
    app.stop().await;
}
