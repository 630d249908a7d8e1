//! Tests that need no database server: mapping errors before connecting, unreachable
//! registers, and that reading a SQLite register leaves its file untouched.

use super::*;

fn sqlite_config(url: &str, columns: BTreeMap<String, String>) -> RegisterConfig {
    RegisterConfig {
        url: SecretString::from(url.to_owned()),
        table: synthetic::DEMO_TABLE.to_owned(),
        columns,
        connect_timeout_secs: 2,
        max_connections: 1,
        statuses: Default::default(),
        limits: Default::default(),
    }
}

#[tokio::test]
async fn an_unknown_field_in_the_mapping_is_named_with_its_config_key() {
    let mut columns = synthetic::demo_columns();
    columns.insert("telefon".into(), "telefon".into());
    let err = Register::open(&sqlite_config("sqlite:/nonexistent/x.db", columns))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("register.columns.telefon is not a known field (known: member_id,"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_register_without_a_protected_identity_mapping_refuses_to_open() {
    let mut columns = synthetic::demo_columns();
    columns.remove("protected_identity");
    let err = Register::open(&sqlite_config("sqlite:/nonexistent/x.db", columns))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "register.columns.protected_identity is missing: without it members with protected identity cannot be excluded"
    );
}

#[tokio::test]
async fn a_table_or_column_name_that_is_not_a_plain_identifier_is_refused() {
    let mut cfg = sqlite_config("sqlite:/nonexistent/x.db", synthetic::demo_columns());
    cfg.table = "medlemmar; DROP TABLE x".into();
    let msg = Register::open(&cfg).await.unwrap_err().to_string();
    assert!(
        msg.starts_with("register.table is not a plain identifier"),
        "{msg}"
    );
    let mut cfg = sqlite_config("sqlite:/nonexistent/x.db", synthetic::demo_columns());
    cfg.columns.insert("email".into(), "\"epost\"".into());
    let msg = Register::open(&cfg).await.unwrap_err().to_string();
    assert!(
        msg.starts_with("register.columns.email is not a plain identifier"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unreachable_sqlite_register_is_one_sentence_naming_the_path() {
    let cfg = sqlite_config("sqlite:/nonexistent/register.db", synthetic::demo_columns());
    let msg = Register::open(&cfg).await.unwrap_err().to_string();
    assert!(
        msg.starts_with("cannot reach the member register (sqlite at /nonexistent/register.db): "),
        "{msg}"
    );
    assert!(
        msg.ends_with("; check register.url and that the database is up"),
        "{msg}"
    );
    assert_eq!(msg.lines().count(), 1);
}

#[tokio::test]
async fn an_unreachable_postgres_register_names_host_and_port_but_never_the_password() {
    let cfg = sqlite_config(
        "postgres://registervakt:hunter2secret@127.0.0.1:1/party",
        synthetic::demo_columns(),
    );
    let err = Register::open(&cfg).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cannot reach the member register (postgres at 127.0.0.1:1): "),
        "{msg}"
    );
    assert!(
        !msg.contains("hunter2secret") && !format!("{err:?}").contains("hunter2secret"),
        "{msg}"
    );
}

#[tokio::test]
async fn reading_a_sqlite_register_never_changes_its_file() {
    let members = protection_and_consent_members();
    run(Kind::Sqlite, members, |fx| async move {
        let path = fx.url.trim_start_matches("sqlite:").to_owned();
        let before = (
            std::fs::read(&path).unwrap(),
            std::fs::metadata(&path).unwrap().modified().unwrap(),
        );
        let register = fx.open().await;
        register.ping().await.unwrap();
        register
            .count(&uppsala(), ProtectedIdentity::Exclude, TODAY)
            .await
            .unwrap();
        let _ = ids(&register, &uppsala(), ProtectedIdentity::Include).await;
        register.check_report().await.unwrap();
        drop(register);
        let after = (
            std::fs::read(&path).unwrap(),
            std::fs::metadata(&path).unwrap().modified().unwrap(),
        );
        assert!(before == after, "the register file changed");
        let dir = std::path::Path::new(&path).parent().unwrap();
        let names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names.len(),
            1,
            "no journal or WAL files left behind: {names:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_writer_refuses_to_overwrite_an_existing_register_table() {
    run(Kind::Sqlite, vec![member(1)], |fx| async move {
        let err = register_writer::write_register(&fx.url, &fx.table, std::iter::once(member(2)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_canary_member_is_written_and_read_back_with_its_marker() {
    let canary = synthetic::canary(99);
    let mut members: Vec<_> = synthetic::generate(50, 3).collect();
    members.push(canary.clone());
    run(Kind::Sqlite, members, |fx| async move {
        let register = fx.open().await;
        let f = Filter::district(DistrictCode::parse(&canary.district).unwrap());
        let rows: Vec<Row> = register
            .rows(
                &f,
                &[Field::MemberId, Field::FirstName],
                ProtectedIdentity::Exclude,
                TODAY,
            )
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let marker = synthetic::canary_marker(99);
        let found = rows
            .iter()
            .filter(|r| r[1].as_deref() == Some(marker.as_str()))
            .count();
        assert_eq!(found, 1);
    })
    .await;
}

/// A register whose statuses are none of `register.statuses.members` (a CiviCRM-shaped one
/// says `Current`, not `active`) refuses to open, naming the key and the values it holds: every
/// default request would otherwise be empty. Its districts, branches and statuses are what a
/// request chooses among.
#[tokio::test]
async fn a_register_without_a_member_status_refuses_to_open_and_its_choices_are_its_values() {
    let members = protection_and_consent_members();
    run(Kind::Sqlite, members, |fx| async move {
        let mut cfg = fx.config();
        cfg.statuses.members = vec!["Current".to_owned(), "New".to_owned()];
        let err = Register::open(&cfg).await.unwrap_err().to_string();
        assert!(
            err.contains("register.statuses.members (Current, New)") && err.contains("active"),
            "{err}"
        );
        let register = fx.open().await;
        assert_eq!(register.member_statuses(), ["active"]);
        let uppsala = DistrictCode::parse("Uppsala").unwrap();
        assert!(register.districts().await.unwrap().contains(&uppsala));
        assert!(register.has_district(&uppsala).await.unwrap());
        let upsala = DistrictCode::parse("Upsala").unwrap();
        assert!(!register.has_district(&upsala).await.unwrap());
        let choices = register.choices(&uppsala).await.unwrap();
        assert!(
            choices.statuses.contains(&"active".to_owned()),
            "{choices:?}"
        );
        assert!(!choices.local_branches.is_empty(), "{choices:?}");
    })
    .await;
}

#[test]
fn the_stores_default_limits_are_the_configs() {
    let cfg = sqlite_config("sqlite:/x.db", BTreeMap::new());
    assert_eq!(
        super::super::limits(&cfg),
        crate::store::register::Limits::default()
    );
}

#[tokio::test]
async fn the_check_announces_each_step_as_it_starts_and_times_it_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("register.db").display());
    register_writer::write_register(&url, synthetic::DEMO_TABLE, synthetic::generate(20, 3))
        .await
        .unwrap();
    let register = Register::open(&sqlite_config(&url, synthetic::demo_columns()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let report = register
        .check_report_with(&mut |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(report.total_members, 20);
    let names: Vec<String> = seen
        .iter()
        .map(|p| match p {
            Progress::Started(n) => format!("start {n}"),
            Progress::Finished(n, _) => format!("end {n}"),
        })
        .collect();
    let expected: Vec<String> = crate::register::report::STEPS
        .iter()
        .flat_map(|n| [format!("start {n}"), format!("end {n}")])
        .collect();
    assert_eq!(names, expected);
}
