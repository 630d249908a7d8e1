//! TLS to a PostgreSQL store and register (threat model F-4, SECURITY_BAR G7), against the real
//! server in `REGISTERVAKT_TEST_POSTGRES_URL`, which must run on this host (the test writes the
//! server's certificate and key beside its data directory, so it needs root).
//!
//! The test makes its own CA and a server certificate for `localhost` with the `openssl`
//! command line, has the running server use them (`ALTER SYSTEM`, `pg_reload_conf()`), and puts
//! the server's own SSL settings back at the end, pass or fail. Runs hold an advisory lock, so
//! two on one server take turns. Other suites go on meanwhile: SSL on changes nothing for a
//! client that does not ask for it, and sqlx's default `prefer` takes any certificate unchecked.
//! The same for a MariaDB register is in `tls_mariadb.rs`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::FutureExt as _;
use registervakt::config::{RegisterConfig, StoreLocation};
use registervakt::register::Register;
use registervakt::store::register_writer;
use registervakt::store::{Options, Store};
use registervakt::synthetic;
use secrecy::SecretString;
use sqlx::{Connection as _, Executor as _, PgConnection};

use super::pki::{Pki, make_pki};

/// The server settings the test changes, and puts back.
const SETTINGS: [&str; 3] = ["ssl", "ssl_cert_file", "ssl_key_file"];
/// `pg_advisory_lock` key that serialises runs of this test on one server ("RVTLS").
const LOCK_KEY: i64 = 0x52_56_54_4c_53;
/// Beside the server's data directory; a run that was killed leaves the files the server's
/// settings still name, so a reload or restart does not find them missing.
const DIR_NAME: &str = "registervakt-tls-test";

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL) and root"]
async fn with_verify_full_the_store_and_register_talk_tls_and_refuse_another_ca_or_another_name() {
    let admin_url = std::env::var("REGISTERVAKT_TEST_POSTGRES_URL")
        .expect("REGISTERVAKT_TEST_POSTGRES_URL must be set for the PostgreSQL suite");
    let mut lock = PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut lock)
        .await
        .unwrap();
    let server = Server::take_over(&admin_url).await;
    let db = format!("rv_tls_{}", registervakt::crypto::random_id128());
    lock.execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();

    let outcome = AssertUnwindSafe(check_connections(&admin_url, &db, &server.pki))
        .catch_unwind()
        .await;

    lock.execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
        .await
        .unwrap();
    server.restore(&admin_url).await;
    lock.close().await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn check_connections(admin_url: &str, db: &str, pki: &Pki) {
    let verified = url_for(admin_url, db, "localhost", "verify-full", &pki.ca);

    // The broker's store, migrated and written over the verified connection.
    let store = open_store(&verified).await.unwrap();
    store.migrate().await.unwrap();
    super::append(&store, 3).await;
    store.ping().await.unwrap();
    assert_encrypted(admin_url, db, None).await;

    // The register: written by the demo's writer, opened and checked by the broker's connector.
    let written = register_writer::write_register(
        &verified,
        synthetic::DEMO_TABLE,
        synthetic::generate(5, 7),
    )
    .await
    .unwrap();
    assert_eq!(written, 5);
    let register = Register::open(&RegisterConfig {
        url: SecretString::from(verified.clone()),
        table: synthetic::DEMO_TABLE.to_owned(),
        columns: synthetic::demo_columns(),
        connect_timeout_secs: 5,
        max_connections: 2,
        statuses: Default::default(),
        limits: Default::default(),
    })
    .await
    .unwrap();
    register.ping().await.unwrap();
    register.check_report().await.unwrap();
    assert_encrypted(admin_url, db, Some("registervakt")).await;
    store.close().await;

    // Another CA's root: the server's certificate does not chain to it.
    let foreign = url_for(admin_url, db, "localhost", "verify-full", &pki.other_ca);
    let err = open_store(&foreign).await.unwrap_err().to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
    let err = open_register(&foreign).await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // The right CA but a name the certificate does not carry (it names `localhost` only).
    let by_address = url_for(admin_url, db, "127.0.0.1", "verify-full", &pki.ca);
    let err = open_store(&by_address).await.unwrap_err().to_string();
    assert!(err.contains("not valid for name"), "{err}");
    let err = open_register(&by_address).await.unwrap_err();
    assert!(err.contains("not valid for name"), "{err}");

    // Plain connections go on while SSL is on: the suites that ask for nothing, and `disable`.
    let mut disable = url::Url::parse(admin_url).unwrap();
    disable.query_pairs_mut().append_pair("sslmode", "disable");
    let mut plain = PgConnection::connect(disable.as_str()).await.unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut plain)
        .await
        .unwrap();
    assert!(!ssl);
    plain.close().await.unwrap();
    PgConnection::connect(admin_url)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

async fn open_store(url: &str) -> Result<Store, registervakt::store::Error> {
    Store::open(&Options {
        location: StoreLocation::Postgres(SecretString::from(url.to_owned())),
        busy_timeout: Duration::from_secs(5),
        max_connections: 2,
        create: false,
    })
    .await
}

async fn open_register(url: &str) -> Result<(), String> {
    registervakt::store::register::RegisterDb::connect(
        &SecretString::from(url.to_owned()),
        Duration::from_secs(5),
        1,
        Default::default(),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Every connection to `db` (with `application_name`, if given) is TLS 1.2 or 1.3, and there
/// is at least one.
async fn assert_encrypted(admin_url: &str, db: &str, application: Option<&str>) {
    let mut admin = PgConnection::connect(admin_url).await.unwrap();
    let rows: Vec<(bool, Option<String>)> = sqlx::query_as(
        "SELECT s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid \
         WHERE a.datname = $1 AND ($2::text IS NULL OR a.application_name = $2)",
    )
    .bind(db)
    .bind(application)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    assert!(!rows.is_empty(), "no connection to {db} ({application:?})");
    for (ssl, version) in rows {
        assert!(ssl, "a plain connection to {db} ({application:?})");
        let version = version.unwrap_or_default();
        assert!(
            matches!(version.as_str(), "TLSv1.2" | "TLSv1.3"),
            "{version}"
        );
    }
}

/// The admin URL pointed at `db` on `host` with `sslmode` and `sslrootcert`.
fn url_for(admin_url: &str, db: &str, host: &str, mode: &str, root: &Path) -> String {
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_host(Some(host)).unwrap();
    url.set_path(db);
    url.query_pairs_mut()
        .clear()
        .append_pair("sslmode", mode)
        .append_pair("sslrootcert", &root.display().to_string());
    url.to_string()
}

/// The server with this test's certificate in force, and what to put back.
struct Server {
    pki: Pki,
    /// What `postgresql.auto.conf` said before (`None`: nothing, the setting comes from
    /// `postgresql.conf` or the default).
    before: BTreeMap<&'static str, Option<String>>,
}

impl Server {
    async fn take_over(admin_url: &str) -> Server {
        let mut admin = PgConnection::connect(admin_url).await.unwrap();
        let data_dir: String = sqlx::query_scalar("SHOW data_directory")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        let data_dir = PathBuf::from(data_dir);
        let owner = std::fs::metadata(&data_dir).unwrap_or_else(|e| {
            panic!(
                "the server's data directory {} must be on this host: {e}",
                data_dir.display()
            )
        });
        let dir = data_dir.parent().unwrap().join(DIR_NAME);
        let pki = make_pki(&dir, owner.uid(), owner.gid());
        let cert = pki.cert.display().to_string();

        let before = settings_in_auto_conf(&mut admin).await;
        alter(&mut admin, "ssl_cert_file", Some(&cert)).await;
        alter(
            &mut admin,
            "ssl_key_file",
            Some(&pki.key.display().to_string()),
        )
        .await;
        alter(&mut admin, "ssl", Some("on")).await;
        reload_until(admin_url, &mut admin, |file| file == cert).await;
        admin.close().await.unwrap();
        Server { pki, before }
    }

    async fn restore(self, admin_url: &str) {
        let mut admin = PgConnection::connect(admin_url).await.unwrap();
        for name in SETTINGS {
            alter(&mut admin, name, self.before[name].as_deref()).await;
        }
        let ours = self.pki.cert.display().to_string();
        reload_until(admin_url, &mut admin, |file| file != ours).await;
        admin.close().await.unwrap();
        std::fs::remove_dir_all(&self.pki.dir).unwrap();
    }
}

/// The SSL settings `ALTER SYSTEM` had made before this run. Ones that name this test's
/// directory were left by a run that was killed: they count as never made.
async fn settings_in_auto_conf(admin: &mut PgConnection) -> BTreeMap<&'static str, Option<String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, setting FROM pg_file_settings \
         WHERE sourcefile LIKE '%postgresql.auto.conf' AND name = ANY($1)",
    )
    .bind(SETTINGS.to_vec())
    .fetch_all(&mut *admin)
    .await
    .unwrap();
    let left_over = rows.iter().any(|(_, value)| value.contains(DIR_NAME));
    SETTINGS
        .into_iter()
        .map(|name| {
            let value = rows
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .filter(|_| !left_over);
            (name, value)
        })
        .collect()
}

/// `ALTER SYSTEM SET name = 'value'`, or `RESET` for `None`. Utility statements take no bound
/// parameters, so the value is quoted here; it is a path this test made or a value it read.
async fn alter(admin: &mut PgConnection, name: &str, value: Option<&str>) {
    let sql = match value {
        Some(v) => format!("ALTER SYSTEM SET {name} = '{}'", v.replace('\'', "''")),
        None => format!("ALTER SYSTEM RESET {name}"),
    };
    admin.execute(sql.as_str()).await.unwrap();
}

/// `pg_reload_conf()`, then waits until a new connection sees `ssl_cert_file` pass `done`:
/// the postmaster reloads after the call returns, and new backends inherit what it loaded.
async fn reload_until(admin_url: &str, admin: &mut PgConnection, done: impl Fn(&str) -> bool) {
    admin.execute("SELECT pg_reload_conf()").await.unwrap();
    let mut last = String::new();
    for _ in 0..100 {
        let mut fresh = PgConnection::connect(admin_url).await.unwrap();
        last = sqlx::query_scalar("SHOW ssl_cert_file")
            .fetch_one(&mut fresh)
            .await
            .unwrap();
        fresh.close().await.unwrap();
        if done(&last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not reload its SSL settings within 10 s (ssl_cert_file = {last})");
}
