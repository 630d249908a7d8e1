use super::*;

#[test]
fn locations_show_host_and_port_but_never_credentials() {
    let loc = describe_location(
        Backend::Postgres,
        "postgres://reg:hunter2@db.example:6543/party",
    );
    assert_eq!(loc, "db.example:6543");
    let loc = describe_location(Backend::MariaDb, "mysql://reg:hunter2@db.example/party");
    assert_eq!(loc, "db.example:3306");
    assert_eq!(
        describe_location(Backend::Sqlite, "sqlite:/srv/register.db?mode=ro"),
        "/srv/register.db"
    );
}

#[test]
fn a_password_echoed_by_a_driver_is_redacted() {
    let out = redact("auth failed for hunter2", "postgres://u:hunter2@h/db");
    assert_eq!(out, "auth failed for ***");
}

#[test]
fn only_known_schemes_are_accepted() {
    assert_eq!(
        Backend::from_url("mariadb://h/db").unwrap(),
        Backend::MariaDb
    );
    assert_eq!(
        Backend::from_url("postgresql://h/db").unwrap(),
        Backend::Postgres
    );
    assert!(Backend::from_url("mssql://h/db").is_err());
}

/// Tries to change the register through the broker's own pool; every backend must refuse.
async fn a_write_through_the_pool_is_refused(url: String, table: &str) {
    let members = crate::synthetic::generate(3, 5);
    crate::store::register_writer::write_register(&url, table, members)
        .await
        .unwrap();
    let db = RegisterDb::connect(
        &SecretString::from(url.clone()),
        Duration::from_secs(5),
        1,
        Limits::default(),
    )
    .await
    .unwrap();
    let delete = format!("DELETE FROM {}", db.backend().quote(table));
    let outcome: Result<(), Error> = async {
        on_pool!(db, pool => sqlx::query(&delete).execute(pool).await.map(|_| ()).map_err(query_error))
    }
    .await;
    let remaining = db.count_by(table, "distrikt", &[]).await.unwrap();
    if db.backend() != Backend::Sqlite {
        crate::store::register_writer::drop_table(&url, table)
            .await
            .unwrap();
    }
    let err = outcome.expect_err("the register session must be read-only");
    let msg = err.to_string().to_lowercase();
    assert!(
        msg.contains("read-only") || msg.contains("readonly") || msg.contains("read only"),
        "{msg}"
    );
    assert_eq!(remaining.iter().map(|(_, n)| n).sum::<u64>(), 3);
}

fn random_table() -> String {
    format!("rv_ro_{:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn a_write_through_the_sqlite_register_pool_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("r.db").display());
    a_write_through_the_pool_is_refused(url, "medlemmar").await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn postgres_a_write_through_the_register_pool_is_refused() {
    let url = std::env::var("REGISTERVAKT_TEST_POSTGRES_URL").unwrap();
    a_write_through_the_pool_is_refused(url, &random_table()).await;
}

#[tokio::test]
#[ignore = "needs MariaDB (REGISTERVAKT_TEST_MYSQL_URL)"]
async fn mariadb_a_write_through_the_register_pool_is_refused() {
    let url = std::env::var("REGISTERVAKT_TEST_MYSQL_URL").unwrap();
    a_write_through_the_pool_is_refused(url, &random_table()).await;
}
