//! What keeps extracts safe when something is wrong: tampered chunks (D2), an unwritable audit
//! log (E1), the release event before the first byte (E2), parallel downloads at the limit,
//! crypto-shredding on time (D4, C4), canary members nowhere in plaintext (D1), formula cells
//! neutralised (F1), also behind NUL, white space and invisible characters, as LibreOffice
//! opens them (F4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::extracts::{audit_actions, body, download, live_extract, raw};
use common::{files_containing, prepare_with, spawn_app, spawn_app_in};
use registervakt::extract::format;
use registervakt::synthetic;
use serde_json::json;

const INVITE: &str = "district-assembly-invitation";

fn uppsala_canary(seed: u64) -> synthetic::SyntheticMember {
    let mut m = synthetic::canary(seed);
    m.district = "Uppsala".into();
    m
}

#[tokio::test]
async fn a_flipped_bit_a_swapped_or_a_missing_chunk_sends_not_one_byte_and_is_audited() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let fields = ["first_name", "last_name", "email"];
    let a = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
    let b = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
    let pool = raw(&app).await;
    let chunk = |id: &str| {
        let id = id.to_owned();
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT sealed FROM extract_chunks WHERE extract_id = ? AND seq = 0",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (original_a, original_b) = (chunk(&a).await, chunk(&b).await);
    let set = |id: &str, bytes: Vec<u8>| {
        let id = id.to_owned();
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE extract_chunks SET sealed = ? WHERE extract_id = ? AND seq = 0")
                .bind(bytes)
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    // A flipped bit.
    let mut flipped = original_a.clone();
    let last = flipped.len() - 20;
    flipped[last] ^= 0x01;
    set(&a, flipped).await;
    let (status, _, bytes) = download(&app, &cookie, &a, "csv").await;
    assert_eq!(status, 500);
    assert!(
        !bytes.starts_with(format::CSV_BOM),
        "not one byte of the file"
    );
    // Swapped between extracts.
    set(&a, original_b.clone()).await;
    let (status, _, bytes) = download(&app, &cookie, &a, "csv").await;
    assert_eq!(status, 500);
    assert!(!bytes.starts_with(format::CSV_BOM));
    // The right chunk again: it works, and the failed attempts took no download.
    set(&a, original_a).await;
    let (status, _, _) = download(&app, &cookie, &a, "csv").await;
    assert_eq!(status, 200);
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{a}"), &cookie)
        .await;
    assert_eq!(meta["downloads"], 1);
    // A missing chunk.
    sqlx::query("DELETE FROM extract_chunks WHERE extract_id = ?")
        .bind(&b)
        .execute(&pool)
        .await
        .unwrap();
    let (status, _, bytes) = download(&app, &cookie, &b, "xlsx").await;
    assert_eq!(status, 500);
    assert!(!bytes.starts_with(b"PK"));
    let damaged = audit_actions(&app)
        .await
        .iter()
        .filter(|a| a.0 == "extract.integrity_fail")
        .count();
    assert_eq!(damaged, 3);
    app.stop().await;
}

#[tokio::test]
async fn parallel_downloads_never_pass_the_limit_and_the_last_one_shreds_the_extract() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let limit = registervakt::config::ExtractConfig::default().max_downloads as usize;
    let attempts = (0..12).map(|_| download(&app, &cookie, &id, "csv"));
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let gone = results.iter().filter(|r| r.0 == 410).count();
    assert_eq!(
        (ok, gone),
        (limit, 12 - limit),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let released = audit_actions(&app)
        .await
        .iter()
        .filter(|a| a.0 == "extract.download")
        .count();
    assert_eq!(released, limit);
    for _ in 0..100 {
        let meta = app
            .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
            .await;
        if meta["state"] == "shredded" {
            assert_eq!(meta["end_reason"], "download_limit");
            app.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the extract was not shredded at its download limit");
}

#[tokio::test]
async fn with_the_audit_log_unwritable_nothing_is_released_and_it_recovers_by_itself() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(
        &app,
        &cookie,
        body(INVITE, "Uppsala", &["first_name", "email"], 60),
    )
    .await;
    let pool = raw(&app).await;
    sqlx::query(
        "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (status, _, bytes) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 503);
    assert!(
        !String::from_utf8_lossy(&bytes).contains('@'),
        "zero bytes of member data"
    );
    let (status, res) =
        common::extracts::request(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60))
            .await;
    assert_eq!(status, 503, "{res}");
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
        .await;
    assert_eq!(meta["downloads"], 0, "the failed release took no download");
    sqlx::query("DROP TRIGGER audit_broken")
        .execute(&pool)
        .await
        .unwrap();
    let (status, _, _) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200, "no restart needed");
    app.stop().await;
}

#[tokio::test]
async fn the_release_event_is_stored_before_the_first_byte_arrives() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/download"),
            Some(&cookie),
            json!({ "format": "csv" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Headers are in, the body not yet read: the event is already committed (E2).
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    assert!(actions.contains(&"extract.download".to_owned()));
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(format::CSV_BOM));
    app.stop().await;
}

#[tokio::test]
async fn an_extract_with_a_one_minute_lifetime_is_shredded_within_a_minute_of_its_deadline() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 1)).await;
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
        .await;
    let deadline = time::OffsetDateTime::parse(
        meta["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let started = Instant::now();
    let shredded_at = loop {
        let meta = app
            .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
            .await;
        if meta["state"] == "shredded" {
            break time::OffsetDateTime::now_utc();
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "not shredded in time"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let late = (shredded_at - deadline).whole_seconds();
    assert!(late <= 60, "shredded {late} s after the deadline");
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
        .await;
    assert_eq!(meta["end_reason"], "expired");
    let (status, _, _) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 410);
    app.stop().await;
}

#[tokio::test]
async fn canary_members_are_never_in_plaintext_in_the_data_dir_before_or_after_expiry() {
    let marker = synthetic::canary_marker(42);
    let dir = prepare_with(200, vec![uppsala_canary(42)]).await;
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let fields = ["first_name", "last_name", "email", "street_address"];
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
    let (status, _, csv) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&csv).contains(&marker),
        "the canary is in the file"
    );
    let (status, _, _) = download(&app, &cookie, &id, "xlsx").await;
    assert_eq!(status, 200);
    assert_eq!(
        files_containing(&app.dir.data, marker.as_bytes()),
        Vec::<String>::new(),
        "before expiry"
    );
    let done = app
        .post_json(
            &format!("/api/v1/extracts/{id}/done"),
            Some(&cookie),
            json!({}),
        )
        .await;
    assert_eq!(done.status(), 204);
    assert_eq!(
        files_containing(&app.dir.data, marker.as_bytes()),
        Vec::<String>::new(),
        "after expiry"
    );
    let audit: String = audit_actions(&app).await.into_iter().map(|a| a.2).collect();
    assert!(!audit.contains(&marker), "nor in the audit log");
    app.stop().await;
}

#[tokio::test]
async fn cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised() {
    let mut evil = uppsala_canary(7);
    evil.first_name = "=HYPERLINK(\"http://evil.example\",\"klick\")".into();
    evil.last_name = "@SUM(A1)".into();
    let dir = prepare_with(50, vec![evil]).await;
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(
        &app,
        &cookie,
        body(INVITE, "Uppsala", &["first_name", "last_name"], 60),
    )
    .await;
    let (_, _, csv) = download(&app, &cookie, &id, "csv").await;
    let table = format::read_csv(&csv).unwrap();
    assert!(
        table.iter().any(|r| r[0].starts_with("'=HYPERLINK")),
        "CSV neutralised"
    );
    assert!(
        !table
            .iter()
            .any(|r| r[0].starts_with('=') || r[1].starts_with('@'))
    );
    let (_, _, xlsx) = download(&app, &cookie, &id, "xlsx").await;
    // XLSX holds the value as it is, in a string cell marked with the quote prefix
    // (src/extract/format/tests.rs checks the mark).
    let sheet = format::read_xlsx(&xlsx).unwrap();
    assert!(
        sheet.iter().any(|r| r[1] == "@SUM(A1)"),
        "XLSX holds the value"
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&xlsx)).unwrap();
    let mut styles = String::new();
    archive
        .by_name("xl/styles.xml")
        .unwrap()
        .read_to_string(&mut styles)
        .unwrap();
    assert!(styles.contains(r#"quotePrefix="1""#), "{styles}");
    app.stop().await;
}

/// Cells built to run as formulas in a spreadsheet that skips or drops what comes before the
/// trigger (issue 15), and the plain ones.
const HOSTILE_CELLS: [&str; 14] = [
    "=1+2*3",
    "\u{0}=1+2*3",
    "\u{a0}=HYPERLINK(\"http://x\")",
    "＝1+1",
    "\u{feff}+1",
    "\u{200b}-1",
    "\u{3000}@SUM(1)",
    "\u{1}=1+1",
    "\u{2028}=1+1",
    "\u{200b}\u{0}=1+1",
    "\u{0}+1+1",
    "-1+1",
    "@SUM(1)",
    "'=1+1",
];

/// LibreOffice's import options for our CSV: `;` separator, `"` quote, UTF-8 (76), data
/// from line 1; formulas are evaluated, as when staff open the file.
const LIBREOFFICE_CSV_FILTER: &str = "CSV:59,34,76,1";

/// Converts `input` to XLSX with LibreOffice headless (its own profile under `work`, so
/// parallel runs do not share one) and returns the converted file.
fn libreoffice_to_xlsx(work: &Path, input: &Path, infilter: Option<&str>) -> PathBuf {
    let out = work.join(format!(
        "out-{}",
        input.extension().unwrap().to_string_lossy()
    ));
    common::libreoffice::to_xlsx(&work.join("profile"), &out, input, infilter)
}

/// The first worksheet's XML of an XLSX file.
fn sheet_xml(xlsx: &Path) -> String {
    let file = std::fs::File::open(xlsx).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut sheet = archive.by_name("xl/worksheets/sheet1.xml").unwrap();
    let mut xml = String::new();
    sheet.read_to_string(&mut xml).unwrap();
    xml
}

fn has_formula(sheet: &str) -> bool {
    sheet.contains("<f>") || sheet.contains("<f ")
}

#[test]
#[ignore = "needs LibreOffice (libreoffice-calc-nogui)"]
fn hostile_cells_in_our_csv_and_xlsx_open_in_libreoffice_as_text_never_as_formulas() {
    let work = tempfile::tempdir().unwrap();
    let header: Vec<String> = (0..HOSTILE_CELLS.len()).map(|i| format!("c{i}")).collect();
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    let row: Vec<Option<String>> = HOSTILE_CELLS.iter().map(|c| Some(c.to_string())).collect();

    // The check can fail: the same cells written as they are become formulas.
    let raw = work.path().join("raw.csv");
    let raw_line = HOSTILE_CELLS.map(|c| format!("\"{}\"", c.replace('"', "\"\"")));
    std::fs::write(
        &raw,
        format!("{}\r\n{}\r\n", names.join(";"), raw_line.join(";")),
    )
    .unwrap();
    let raw_sheet = sheet_xml(&libreoffice_to_xlsx(
        work.path(),
        &raw,
        Some(LIBREOFFICE_CSV_FILTER),
    ));
    assert!(
        has_formula(&raw_sheet),
        "LibreOffice ran no formula: {raw_sheet}"
    );

    let mut csv = Vec::new();
    format::csv_header(&names, &mut csv);
    format::csv_row(&row, &mut csv);
    let ours = work.path().join("ours.csv");
    std::fs::write(&ours, &csv).unwrap();
    let converted = libreoffice_to_xlsx(work.path(), &ours, Some(LIBREOFFICE_CSV_FILTER));
    let sheet = sheet_xml(&converted);
    assert!(!has_formula(&sheet), "a formula from our CSV: {sheet}");
    // Every cell arrived, as the text we wrote.
    assert_eq!(
        format::read_xlsx(&std::fs::read(&converted).unwrap()).unwrap(),
        format::read_csv(&csv).unwrap()
    );

    let mut builder = format::XlsxBuilder::new(
        &names,
        &format::XlsxInfo {
            extract_id: "EXT-F4".to_owned(),
            title: "Formula check".to_owned(),
            expires: "2030-01-01T00:00:00Z".to_owned(),
            notice: "Test".to_owned(),
        },
    )
    .unwrap();
    builder.push_row(&row).unwrap();
    let xlsx = builder.finish().unwrap();
    let ours = work.path().join("ours.xlsx");
    std::fs::write(&ours, xlsx.as_slice()).unwrap();
    let converted = libreoffice_to_xlsx(work.path(), &ours, None);
    let sheet = sheet_xml(&converted);
    assert!(!has_formula(&sheet), "a formula from our XLSX: {sheet}");
    assert_eq!(
        format::read_xlsx(&std::fs::read(&converted).unwrap()).unwrap(),
        format::read_xlsx(&xlsx).unwrap()
    );
}

#[tokio::test]
async fn the_incident_switch_shreds_every_live_extract_and_stops_new_ones_until_lifted() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let res = app
        .post_json("/api/v1/freeze", Some(&cookie), json!({ "reason": "test" }))
        .await;
    assert_eq!(res.status(), 403, "staff cannot pull the switch");
    let farid_c = app.sign_in(&farid, "farid").await;
    let res = app
        .post_json(
            "/api/v1/freeze",
            Some(&farid_c),
            json!({ "reason": "misstänkt läcka" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["shredded"], 1);
    let (status, _, _) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 410);
    let (status, res) =
        common::extracts::request(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60))
            .await;
    assert_eq!(
        (status, res["error"].as_str()),
        (423, Some("extracts_frozen"))
    );
    let res = app
        .post_json(
            "/api/v1/freeze/lift",
            Some(&farid_c),
            json!({ "reason": "utrett" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    assert!(
        actions.contains(&"extract.freeze".to_owned())
            && actions.contains(&"extract.unfreeze".to_owned())
    );
    app.stop().await;
}

/// Item 8 of issue 15: a build that meets "database is locked" (another writer holding the
/// store past `store.busy_timeout_ms`: a backup, a CLI command, another broker) tries the
/// write again instead of failing an approved request. The lock is taken from a second
/// connection while the build runs, and held well past the broker's busy timeout.
#[tokio::test]
async fn a_build_that_meets_a_locked_store_tries_again_and_goes_live() {
    use sqlx::{Connection as _, Row as _};
    let dir = common::prepare(9000).await;
    let config = std::fs::read_to_string(&dir.config_path).unwrap().replacen(
        "[store]\n",
        "[store]\nbusy_timeout_ms = 100\n",
        1,
    );
    std::fs::write(&dir.config_path, config).unwrap();
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let db = app.dir.data.join(registervakt::config::SQLITE_STORE_FILE);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .busy_timeout(Duration::from_secs(10));
    let mut locker = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let fields = ["first_name", "last_name", "email", "street_address"];
    // The build may finish before the lock is taken; then the test asks again.
    let mut caught = None;
    for _ in 0..10 {
        let (status, created) =
            common::extracts::request(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut locker)
            .await
            .unwrap();
        let state: String = sqlx::query("SELECT state FROM extracts WHERE id = ?")
            .bind(&id)
            .fetch_one(&mut locker)
            .await
            .unwrap()
            .get(0);
        if state == "building" {
            // Longer than the busy timeout many times over, shorter than the build's retries.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
        if state == "building" {
            caught = Some(id);
            break;
        }
    }
    let id = caught.expect("every build finished before the store could be locked");
    let meta = common::extracts::wait_settled(&app, &cookie, &id).await;
    assert_eq!(meta["state"], "live", "{meta}");
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    assert!(
        !actions.iter().any(|a| a == "extract.build_failed"),
        "{actions:?}"
    );
    let (status, _, csv) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    assert!(format::read_csv(&csv).unwrap().len() > 1);
    app.stop().await;
}
