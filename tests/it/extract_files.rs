//! Files staff open in Excel (issue 18, item 9): a file downloaded from the extract's page is
//! headed by the fields' names in the page's language, the API's keeps the ids unless asked;
//! phone numbers, postcodes and member numbers with leading zeros keep every zero when
//! LibreOffice opens the CSV and the XLSX with Swedish settings, and the XLSX shows no
//! apostrophe; the leak trace recognises every header, Swedish, English or ids.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx};
use common::extracts::{body, live_extract};
use common::pages::{csrf, page, post_form};
use common::{TestApp, TestDir, prepare, spawn_app_in};
use registervakt::extract::format;
use registervakt::nouns::Field;
use registervakt::oversight::trace;
use registervakt::web::i18n::Lang;
use registervakt::web::labels;
use serde_json::{Value, json};

const INVITE: &str = "district-assembly-invitation";
const CANVASS: &str = "phone-canvassing";
const INVITE_FIELDS: [&str; 4] = ["member_id", "first_name", "last_name", "postal_code"];
const INVITE_SV: [&str; 4] = ["Medlemsnummer", "Förnamn", "Efternamn", "Postnummer"];
const CANVASS_FIELDS: [&str; 3] = ["first_name", "last_name", "phone"];
const CANVASS_SV: [&str; 3] = ["Förnamn", "Efternamn", "Telefon"];

/// A register whose member numbers, phones and postcodes are digits with leading zeros, as a
/// party's register may hold them: member `n` is `00000n`, phone `07000000n`, postcode
/// `0000n` (zero-padded). The demo table's member number is an INTEGER column, so the numbers
/// go in a TEXT column of their own, which the config maps instead.
async fn register_with_leading_zeros() -> TestDir {
    use sqlx::Connection as _;
    let dir = prepare(200).await;
    let mut register = sqlx::SqliteConnection::connect(&dir.register_url)
        .await
        .unwrap();
    for statement in [
        "ALTER TABLE medlemmar ADD COLUMN medlemsnr_text TEXT",
        "UPDATE medlemmar SET medlemsnr_text = printf('%06d', medlemsnr), \
         telefon = printf('07%08d', medlemsnr), postnummer = printf('%05d', medlemsnr)",
    ] {
        sqlx::query(statement).execute(&mut register).await.unwrap();
    }
    register.close().await.unwrap();
    let config = std::fs::read_to_string(&dir.config_path).unwrap();
    let mapped = config.replacen(
        "member_id = \"medlemsnr\"\n",
        "member_id = \"medlemsnr_text\"\n",
        1,
    );
    assert_ne!(config, mapped, "the member number's mapping");
    std::fs::write(&dir.config_path, mapped).unwrap();
    dir
}

async fn staff(app: &TestApp) -> String {
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    app.sign_in(&anna, "anna").await
}

/// Downloads through the extract page's form, as staff do, in the language `cookie` chose.
async fn download_from_page(app: &TestApp, cookie: &str, id: &str, format: &str) -> Vec<u8> {
    let (_, html) = page(app, &format!("/extracts/{id}"), cookie).await;
    let token = csrf(&html);
    let path = format!("/extracts/{id}/download");
    let res = post_form(app, &path, cookie, &[("csrf", &token), ("format", format)]).await;
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

/// Downloads through the API with `extra` in the body (`header`); returns (status, bytes).
async fn download_from_api(
    app: &TestApp,
    cookie: &str,
    id: &str,
    format: &str,
    header: Option<&str>,
) -> (u16, Vec<u8>) {
    let mut request = json!({ "format": format });
    if let Some(header) = header {
        request["header"] = json!(header);
    }
    let path = format!("/api/v1/extracts/{id}/download");
    let res = app.post_json(&path, Some(cookie), request).await;
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap().to_vec())
}

/// The file's table, whichever format it is.
fn table(file: &[u8]) -> Vec<Vec<String>> {
    use registervakt::extract::format;
    if file.starts_with(b"PK\x03\x04") {
        format::read_xlsx(file).unwrap()
    } else {
        format::read_csv(file).unwrap()
    }
}

async fn trace_file(app: &TestApp, cookie: &str, file: Vec<u8>) -> Value {
    let res = app
        .client
        .post(app.url("/api/v1/audit/trace"))
        .header("cookie", cookie)
        .header("content-type", "application/octet-stream")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[test]
fn every_field_name_in_the_catalogues_is_a_header_the_trace_recognises() {
    for lang in Lang::ALL {
        let mut names = Vec::new();
        for field in Field::ALL {
            let name = labels::field(lang, field.as_str());
            assert_eq!(
                trace::header_field(&name),
                Some(field),
                "{}.toml names {} \"{name}\": add it to oversight::trace::HEADER_NAMES \
                 (add, never replace: files with the old name are still out there)",
                lang.code(),
                field.as_str()
            );
            names.push(name.to_lowercase());
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Field::ALL.len(), "two fields share a name");
    }
}

#[tokio::test]
async fn page_files_are_headed_in_the_pages_language_api_files_by_ids_and_the_trace_reads_each() {
    let app = spawn_app_in(register_with_leading_zeros().await).await;
    let cookie = staff(&app).await;
    let english = format!("{cookie}; rv_lang=en");
    let invite = live_extract(&app, &cookie, body(INVITE, "Uppsala", &INVITE_FIELDS, 60)).await;
    let canvass = live_extract(&app, &cookie, body(CANVASS, "Uppsala", &CANVASS_FIELDS, 60)).await;

    let swedish_csv = download_from_page(&app, &cookie, &invite, "csv").await;
    assert_eq!(table(&swedish_csv)[0], INVITE_SV);
    let english_xlsx = download_from_page(&app, &english, &invite, "xlsx").await;
    assert_eq!(
        table(&english_xlsx)[0],
        ["Member number", "First name", "Last name", "Postcode"]
    );
    let (status, ids_csv) = download_from_api(&app, &cookie, &invite, "csv", None).await;
    assert_eq!(status, 200);
    assert_eq!(table(&ids_csv)[0], INVITE_FIELDS);

    let (status, wrong) = download_from_api(&app, &cookie, &canvass, "csv", Some("fi")).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&wrong));
    let error: Value = serde_json::from_slice(&wrong).unwrap();
    assert_eq!(error["error"], "invalid_input");
    let (_, ids_xlsx) = download_from_api(&app, &cookie, &canvass, "xlsx", Some("ids")).await;
    assert_eq!(table(&ids_xlsx)[0], CANVASS_FIELDS);
    let (_, sv_xlsx) = download_from_api(&app, &cookie, &canvass, "xlsx", Some("sv")).await;
    assert_eq!(table(&sv_xlsx)[0], CANVASS_SV);
    let (_, en_csv) = download_from_api(&app, &cookie, &canvass, "csv", Some("en")).await;
    assert_eq!(table(&en_csv)[0], ["First name", "Last name", "Phone"]);

    let farid = app.user("farid", &["auditor:*"]).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let files = [
        (swedish_csv, &invite, "member_id"),
        (english_xlsx, &invite, "member_id"),
        (ids_csv, &invite, "member_id"),
        (ids_xlsx, &canvass, "row_tag"),
        (sv_xlsx, &canvass, "row_tag"),
        (en_csv, &canvass, "row_tag"),
    ];
    for (i, (file, id, key)) in files.into_iter().enumerate() {
        let rows = table(&file).len() - 1;
        let answer = trace_file(&app, &farid_c, file).await;
        assert_eq!(answer["matched_by"], key, "file {i}: {answer:#}");
        let best = &answer["candidates"][0];
        assert_eq!(best["extract"]["id"], id.as_str(), "file {i}: {answer:#}");
        assert_eq!(best["matched_rows"].as_u64(), Some(rows as u64), "file {i}");
        assert_eq!(best["same_columns"], true, "file {i}: {answer:#}");
    }
    app.stop().await;
}

/// LibreOffice with Swedish settings: the profile's locale is sv-SE (what a Swedish
/// installation has), and a CSV is imported as Swedish Calc offers it — `;`, `"`, UTF-8, from
/// line 1, language 1053 (sv-SE) — and converted to XLSX, which is read back with its cell
/// types.
fn libreoffice_in_swedish(work: &Path, input: &Path) -> PathBuf {
    let profile = work.join("profile");
    let user = profile.join("user");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("registrymodifications.xcu"),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse"><value>sv-SE</value></prop></item>
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooLocale" oor:op="fuse"><value>sv-SE</value></prop></item>
</oor:items>
"#,
    )
    .unwrap();
    let kind = input.extension().unwrap().to_string_lossy();
    let out = work.join(format!("converted-from-{kind}"));
    let infilter = (kind == "csv").then_some("CSV:59,34,76,1,,1053");
    common::libreoffice::to_xlsx(&profile, &out, input, infilter)
}

/// The first sheet of an XLSX as calamine reads it: numbers stay numbers.
fn cells(xlsx: &Path) -> Vec<Vec<Data>> {
    let bytes = std::fs::read(xlsx).unwrap();
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    let first = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&first).unwrap();
    range.rows().map(<[Data]>::to_vec).collect()
}

/// Every value of `column` in the extract as LibreOffice opened it, checked against the value
/// the broker sent (the file's own table): a text cell, every zero kept. In a CSV the text may
/// carry the `'` that marked it; in an XLSX it may not.
fn assert_zeros_kept(opened: &[Vec<Data>], sent: &[Vec<String>], column: usize, csv: bool) {
    assert!(sent.len() > 1, "the district has members");
    for (row, sent_row) in opened.iter().zip(sent).skip(1) {
        let value = format::unneutralise(&sent_row[column]);
        assert!(
            value.starts_with('0') && value.len() >= 5,
            "a test value with leading zeros: {value}"
        );
        match &row[column] {
            Data::String(text) if csv => assert_eq!(format::unneutralise(text), value),
            Data::String(text) => assert_eq!(text, value, "no apostrophe in an XLSX"),
            other => panic!("{value} became {other:?}: its leading zeros are lost"),
        }
    }
}

fn assert_swedish_header(opened: &[Vec<Data>], header: &[&str]) {
    let row: Vec<String> = opened[0].iter().map(ToString::to_string).collect();
    assert_eq!(row, header);
}

#[tokio::test]
#[ignore = "needs LibreOffice (libreoffice-calc-nogui)"]
async fn leading_zeros_survive_libreoffice_in_swedish_and_the_headers_are_swedish() {
    let app = spawn_app_in(register_with_leading_zeros().await).await;
    let cookie = staff(&app).await;
    let invite = live_extract(&app, &cookie, body(INVITE, "Uppsala", &INVITE_FIELDS, 60)).await;
    let canvass = live_extract(&app, &cookie, body(CANVASS, "Uppsala", &CANVASS_FIELDS, 60)).await;
    let work = tempfile::tempdir().unwrap();
    // (extract, its Swedish header, columns with leading zeros)
    let cases: [(&str, &[&str], &[usize]); 2] = [
        (&invite, &INVITE_SV, &[0, 3]),
        (&canvass, &CANVASS_SV, &[2]),
    ];
    for (n, (id, header, zeros)) in cases.into_iter().enumerate() {
        for kind in ["csv", "xlsx"] {
            let file = download_from_page(&app, &cookie, id, kind).await;
            let sent = table(&file);
            let path = work.path().join(format!("utdrag-{n}.{kind}"));
            std::fs::write(&path, &file).unwrap();
            let opened = cells(&libreoffice_in_swedish(work.path(), &path));
            assert_eq!(opened.len(), sent.len(), "{kind}: every row arrived");
            assert_swedish_header(&opened, header);
            for &column in zeros {
                assert_zeros_kept(&opened, &sent, column, kind == "csv");
            }
            if kind == "xlsx" {
                let apostrophes: Vec<&Data> = opened
                    .iter()
                    .flatten()
                    .filter(|c| matches!(c, Data::String(t) if t.starts_with('\'')))
                    .collect();
                assert!(apostrophes.is_empty(), "shown with a ': {apostrophes:?}");
            }
        }
    }
    app.stop().await;
}
