//! Sampled follow-up (issue 22, item 1): a random sample of releases is drawn per district and
//! per ended period, once, recorded in the audit log with its population and seed so it can be
//! re-derived; two periods with the same releases get different samples; the review needs a
//! fresh second factor, a case needs a comment, nobody reviews their own release, a period is
//! signed off only when every item is reviewed; an unsigned sample past its deadline is a flag
//! for the party-wide auditors and not for a district auditor.
//!
//! Time is an argument: the draws of periods that have not ended in real time are made by
//! calling the library with a later `now` (as the housekeeping pass would, then), after every
//! release of the test is done.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{body, live_extract, raw};
use common::{TestApp, TestDir, prepare, spawn_app_in};
use registervakt::audit::Actor;
use registervakt::oversight::followup::draw;
use serde_json::{Value, json};
use sqlx::Executor as _;
use time::OffsetDateTime;

const CANVASS: &str = "phone-canvassing";

async fn app_with(extra: &str) -> TestApp {
    let dir: TestDir = prepare(200).await;
    let text = format!("{}\n{extra}\n", dir.config_text());
    std::fs::write(&dir.config_path, text).unwrap();
    spawn_app_in(dir).await
}

/// Shows page 0 of extract `id` `n` times: `n` releases (`extract.view`).
/// A second after the period holding now has ended, and `more` periods after that.
fn after_this_period(app: &TestApp, more: i64) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let p = draw::period_of(&app.state, now);
    OffsetDateTime::from_unix_timestamp(p.end + more * (p.end - p.start) + 1).unwrap()
}

async fn views(app: &TestApp, cookie: &str, id: &str, n: usize) {
    for _ in 0..n {
        let res = app
            .post_json(
                &format!("/api/v1/extracts/{id}/view"),
                Some(cookie),
                json!({ "page": 0 }),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
}

async fn canvass(app: &TestApp, cookie: &str, district: &str) -> String {
    live_extract(
        app,
        cookie,
        body(CANVASS, district, &["first_name", "phone"], 60),
    )
    .await
}

/// The `followup.sample_draw` entries, oldest first: (seq, details).
async fn draws(app: &TestApp) -> Vec<(i64, Value)> {
    let store = app.store().await;
    let mut rows = store.list_recent_audit_events(10_000).await.unwrap();
    store.close().await;
    rows.reverse();
    rows.into_iter()
        .filter(|r| r.action == "followup.sample_draw")
        .map(|r| (r.seq, serde_json::from_str(&r.details).unwrap()))
        .collect()
}

fn of<'a>(draws: &'a [(i64, Value)], district: &str) -> Vec<&'a Value> {
    draws
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d["district"] == district)
        .collect()
}

fn seqs(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// Re-derives a recorded draw from the audit log alone: reads the releases of its district
/// and period, checks their hash, and runs the documented seed → sample function.
async fn rederive(app: &TestApp, d: &Value) -> Vec<i64> {
    let t = |k: &str| {
        OffsetDateTime::parse(
            d[k].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp()
            * 1000
    };
    let store = app.store().await;
    let codes: Vec<&str> = draw::RELEASES.iter().map(|k| k.code()).collect();
    let events = store
        .list_audit_events_by_action_between(&codes, t("from"), t("to"))
        .await
        .unwrap();
    let mut population = Vec::new();
    for e in events.iter().filter(|e| e.outcome == "success") {
        let id = e.target.strip_prefix("extract:").unwrap();
        let row = store.find_extract(id).await.unwrap().unwrap();
        if row.district == d["district"].as_str().unwrap() {
            population.push(e.seq);
        }
    }
    store.close().await;
    assert_eq!(d["population"], population.len());
    assert_eq!(d["population_sha256"], draw::population_sha256(&population));
    let seed = hex::decode(d["seed"].as_str().unwrap()).unwrap();
    let size = usize::try_from(d["sample_size"].as_u64().unwrap()).unwrap();
    draw::choose(&seed, population.len(), size)
        .into_iter()
        .map(|i| population[i])
        .collect()
}

#[tokio::test]
async fn each_district_and_period_is_drawn_once_even_when_asked_at_once_re_derives_from_its_seed_and_differs_between_periods()
 {
    let app = app_with("[followup]\nsample_size = 10\n").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cecilia = app.user("cecilia", &["staff:Skåne"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let uppsala = canvass(&app, &anna_c, "Uppsala").await;
    views(&app, &anna_c, &uppsala, 40).await;
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    let skane = canvass(&app, &cecilia_c, "Skåne").await;
    views(&app, &cecilia_c, &skane, 3).await;

    let later = after_this_period(&app, 0);
    let system = Actor::system();
    let (a, b, c, d) = tokio::join!(
        draw::draw_due(&app.state, &system, None, later),
        draw::draw_due(&app.state, &system, None, later),
        draw::draw_due(&app.state, &system, None, later),
        draw::draw_due(&app.state, &system, None, later),
    );
    let made = a.unwrap() + b.unwrap() + c.unwrap() + d.unwrap();
    let first = draws(&app).await;
    assert_eq!(made, first.len(), "every draw made is recorded once");
    let districts = app.state.register.districts().await.unwrap();
    assert_eq!(
        first.len(),
        districts.iter().count(),
        "one draw per district, empty ones too: {first:?}"
    );
    let up = of(&first, "Uppsala");
    let sk = of(&first, "Skåne");
    assert_eq!((up.len(), sk.len()), (1, 1));
    assert_eq!(up[0]["population"], 40);
    assert_eq!(up[0]["chosen"], 10);
    assert_eq!(sk[0]["population"], 3);
    assert_eq!(sk[0]["chosen"], 3);
    assert!(
        first
            .iter()
            .filter(|(_, d)| d["district"] != "Uppsala" && d["district"] != "Skåne")
            .all(|(_, d)| d["population"] == 0 && d["sample"] == json!([])),
        "a district without releases gets an empty draw"
    );
    for d in [up[0], sk[0]] {
        assert_eq!(rederive(&app, d).await, seqs(&d["sample"]), "{d}");
    }
    // Asked again: nothing more to draw.
    assert_eq!(
        draw::draw_due(&app.state, &system, None, later)
            .await
            .unwrap(),
        0
    );

    // The same releases in the next period: the same population, another seed and sample.
    // (The log's append-only trigger is set aside to move them, as a test of the draw only.)
    let pool = raw(&app).await;
    pool.execute("DROP TRIGGER audit_events_no_update")
        .await
        .unwrap();
    let week_ms = 7 * 86_400_000_i64;
    pool.execute(
        format!(
            "UPDATE audit_events SET occurred_at = occurred_at + {week_ms} \
             WHERE action IN ('extract.view', 'extract.download', 'calls.show')"
        )
        .as_str(),
    )
    .await
    .unwrap();
    let after = after_this_period(&app, 1);
    draw::draw_due(&app.state, &system, None, after)
        .await
        .unwrap();
    let all = draws(&app).await;
    let up = of(&all, "Uppsala");
    assert_eq!(up.len(), 2, "{all:?}");
    assert_eq!(up[1]["population"], 40);
    assert_eq!(up[0]["population_sha256"], up[1]["population_sha256"]);
    assert_ne!(up[0]["seed"], up[1]["seed"]);
    assert_ne!(
        seqs(&up[0]["sample"]),
        seqs(&up[1]["sample"]),
        "10 of 40 in order: equal by chance once in 10^15"
    );
    assert_eq!(rederive(&app, up[1]).await, seqs(&up[1]["sample"]));
    app.stop().await;
}

fn sample_path(district: &str, period: &str) -> String {
    format!("/api/v1/audit/samples/{district}/{period}")
}

async fn review(app: &TestApp, cookie: &str, path: &str, pos: i64, body: Value) -> (u16, Value) {
    let res = app
        .post_json(&format!("{path}/items/{pos}/review"), Some(cookie), body)
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn flags_of(app: &TestApp, cookie: &str, kind: &str) -> Vec<Value> {
    let v = app.get_json_with("/api/v1/audit/flags", cookie).await;
    v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_sample_is_reviewed_with_step_up_a_case_needs_a_comment_and_it_is_signed_off_only_when_all_are_reviewed()
 {
    let app = app_with("[followup]\nsample_size = 3\n").await;
    let anna = app
        .user("anna", &["staff:Uppsala", "auditor:Uppsala"])
        .await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let dora = app.user("dora", &["auditor:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let id = canvass(&app, &anna_c, "Uppsala").await;
    views(&app, &anna_c, &id, 5).await;
    let later = after_this_period(&app, 0);
    draw::draw_due(&app.state, &Actor::system(), None, later)
        .await
        .unwrap();

    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let list = app.get_json_with("/api/v1/audit/samples", &bertil_c).await;
    let mine: Vec<&Value> = list["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["district"] == "Uppsala")
        .collect();
    assert_eq!(mine.len(), 1, "{list}");
    assert!(
        list["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["district"] == "Uppsala"),
        "an approver sees only their district's samples"
    );
    let path = sample_path("Uppsala", mine[0]["period"].as_str().unwrap());
    let one = app.get_json_with(&path, &bertil_c).await;
    assert_eq!(one["items"].as_array().unwrap().len(), 3, "{one}");
    assert_eq!(one["population"], 5);
    assert!(
        one["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["user"] == "anna" && i["kind"] == "view")
    );
    // Another district's auditor is told there is no such sample.
    let cecilia = app.user("cecilia", &["auditor:Skåne"]).await;
    let cecilia_c = app.sign_in(&cecilia, "cecilia").await;
    assert_eq!(app.get_with(&path, Some(&cecilia_c)).await.status(), 404);

    // Signing off with nothing reviewed is refused.
    let res = app
        .post_json(&format!("{path}/sign-off"), Some(&bertil_c), json!({}))
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "sample_unreviewed"
    );
    // A case needs a comment; anna may not review her own release.
    let (status, v) = review(&app, &bertil_c, &path, 1, json!({ "verdict": "case" })).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("case_comment_required"))
    );
    let (status, v) = review(&app, &anna_c, &path, 1, json!({ "verdict": "fine" })).await;
    assert_eq!((status, v["error"].as_str()), (409, Some("own_release")));
    // A stale second factor is asked to step up.
    let pool = raw(&app).await;
    let age = registervakt::config::DEFAULT_STEP_UP_MAX_AGE_SECS + 1;
    pool.execute(
        format!("UPDATE sessions SET second_factor_at = second_factor_at - {age}").as_str(),
    )
    .await
    .unwrap();
    let (status, v) = review(&app, &bertil_c, &path, 1, json!({ "verdict": "fine" })).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (401, Some("step_up_required"))
    );
    pool.execute("UPDATE users SET totp_last_step = totp_last_step - 1")
        .await
        .unwrap();
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let said = "Ringde anna och frågade om listan.";
    let (status, v) = review(
        &app,
        &bertil_c,
        &path,
        1,
        json!({ "verdict": "case", "comment": said }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["items"][0]["verdict"], "case");
    assert_eq!(v["items"][0]["reviewed_by"], "bertil");
    let (status, v) = review(&app, &bertil_c, &path, 1, json!({ "verdict": "fine" })).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("already_reviewed"))
    );
    for pos in [2, 3] {
        let (status, v) = review(&app, &bertil_c, &path, pos, json!({ "verdict": "fine" })).await;
        assert_eq!(status, 200, "{v}");
    }
    let store = app.store().await;
    let rows = store.list_recent_audit_events(50).await.unwrap();
    store.close().await;
    let reviews: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "followup.sample_review")
        .collect();
    assert_eq!(reviews.len(), 3);
    assert!(
        reviews.iter().all(|r| !r.details.contains("Ringde")),
        "only the comment's hash is logged"
    );

    // The opened case is a flag for the party-wide auditor, not for the district's auditor.
    let farid_c = app.sign_in(&farid, "farid").await;
    let dora_c = app.sign_in(&dora, "dora").await;
    assert_eq!(flags_of(&app, &farid_c, "sample_case").await.len(), 1);
    assert!(flags_of(&app, &dora_c, "sample_case").await.is_empty());

    let res = app
        .post_json(&format!("{path}/sign-off"), Some(&bertil_c), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["signed_off"], true);
    assert_eq!(v["signed_off_by"], "bertil");
    let res = app
        .post_json(&format!("{path}/sign-off"), Some(&bertil_c), json!({}))
        .await;
    assert_eq!(res.status(), 409);
    let rows = app.store().await.list_recent_audit_events(5).await.unwrap();
    assert!(rows.iter().any(|r| r.action == "followup.sample_signoff"));
    app.stop().await;
}

#[tokio::test]
async fn an_unsigned_sample_past_its_deadline_is_a_flag_for_party_wide_auditors_only() {
    let app = app_with("").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let dora = app.user("dora", &["auditor:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let id = canvass(&app, &anna_c, "Uppsala").await;
    views(&app, &anna_c, &id, 2).await;
    let later = after_this_period(&app, 0);
    draw::draw_due(&app.state, &Actor::system(), None, later)
        .await
        .unwrap();
    let farid_c = app.sign_in(&farid, "farid").await;
    assert!(
        flags_of(&app, &farid_c, "sample_overdue").await.is_empty(),
        "not before its deadline"
    );
    // The deadline passes (the draw's review date moved back rather than the clock on).
    let pool = raw(&app).await;
    pool.execute("UPDATE sample_draws SET review_by = 0 WHERE district = 'Uppsala'")
        .await
        .unwrap();
    let overdue = flags_of(&app, &farid_c, "sample_overdue").await;
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0]["district"], "Uppsala");
    let dora_c = app.sign_in(&dora, "dora").await;
    assert!(flags_of(&app, &dora_c, "sample_overdue").await.is_empty());
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    assert!(flags_of(&app, &bertil_c, "sample_overdue").await.is_empty());
    // Acknowledged like the other flags.
    let path = format!(
        "/api/v1/audit/flags/{}/acknowledge",
        overdue[0]["id"].as_str().unwrap()
    );
    let res = app
        .post_json(
            &path,
            Some(&farid_c),
            json!({ "comment": "Påmint distriktet." }),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn postgres_store_draws_once_reviews_and_signs_off_like_sqlite() {
    let app = common::postgres::spawn_on_postgres("sample").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let id = canvass(&app, &anna_c, "Uppsala").await;
    views(&app, &anna_c, &id, 4).await;
    let later = after_this_period(&app, 0);
    let system = Actor::system();
    let (a, b) = tokio::join!(
        draw::draw_due(&app.state, &system, None, later),
        draw::draw_due(&app.state, &system, None, later),
    );
    let districts = app.state.register.districts().await.unwrap();
    assert_eq!(a.unwrap() + b.unwrap(), districts.iter().count());
    let farid_c = app.sign_in(&farid, "farid").await;
    let list = app.get_json_with("/api/v1/audit/samples", &farid_c).await;
    let up: Vec<&Value> = list["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["district"] == "Uppsala")
        .collect();
    assert_eq!(up.len(), 1, "{list}");
    assert_eq!(up[0]["population"], 4);
    let path = sample_path("Uppsala", up[0]["period"].as_str().unwrap());
    for pos in 1..=3 {
        let (status, v) = review(&app, &farid_c, &path, pos, json!({ "verdict": "fine" })).await;
        assert_eq!(status, 200, "{v}");
    }
    let res = app
        .post_json(&format!("{path}/sign-off"), Some(&farid_c), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}
