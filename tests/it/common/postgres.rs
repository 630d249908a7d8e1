//! A broker whose store is a fresh PostgreSQL database, for the suites that run when
//! `REGISTERVAKT_TEST_POSTGRES_URL` is set; and two brokers on one such database.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use sqlx::Executor as _;

use super::{TestApp, TestDir, prepare, serve_in, spawn_app_in};

/// A broker on a new database named `rv_<prefix>_<random>`, over a register of 200 members.
pub async fn spawn_on_postgres(prefix: &str) -> TestApp {
    let url = create_database(prefix).await;
    let dir = prepare(200).await;
    use_store(&dir, &url, "");
    spawn_app_in(dir).await
}

/// Two brokers on one new database, as a deployment behind a load balancer runs them: each
/// has its own listener, data dir, config file and checkpoint file; they share the store, the
/// register (200 members) and the key file (B gets a copy of A's, mode 0600, as a second host
/// would). `extra` is appended to both config files (e.g. an `[extracts]` table). A runs
/// `init`; B only serves, as `registervakt serve` on a second host does.
pub async fn spawn_pair_on_postgres(prefix: &str, extra: &str) -> (TestApp, TestApp) {
    let url = create_database(prefix).await;
    let first = prepare(200).await;
    use_store(&first, &url, extra);
    let second = second_host(&first);
    use_store(&second, &url, extra);
    let a = spawn_app_in(first).await;
    let b = serve_in(second).await;
    (a, b)
}

/// A broker on a new database over a register of 200 members, its config text passed through
/// `edit` with the database's URL first (the fault suite points the store at a proxy and sets
/// a deadline). Returns
/// the broker and the database's own URL, which reaches it whatever the proxy does.
pub async fn spawn_on_postgres_edited(
    prefix: &str,
    edit: impl FnOnce(String, &url::Url) -> String,
) -> (TestApp, url::Url) {
    let url = create_database(prefix).await;
    let dir = prepare(200).await;
    use_store(&dir, &url, "");
    let text = std::fs::read_to_string(&dir.config_path).unwrap();
    std::fs::write(&dir.config_path, edit(text, &url)).unwrap();
    (spawn_app_in(dir).await, url)
}

/// `CREATE DATABASE rv_<prefix>_<random>`; returns its URL.
async fn create_database(prefix: &str) -> url::Url {
    let admin_url = std::env::var("REGISTERVAKT_TEST_POSTGRES_URL")
        .expect("REGISTERVAKT_TEST_POSTGRES_URL must be set for the PostgreSQL suite");
    let db = format!("rv_{prefix}_{}", registervakt::crypto::random_id128());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();
    admin.close().await;
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&db);
    url
}

/// Points `dir`'s config file at the PostgreSQL store `url`, with `extra` appended.
fn use_store(dir: &TestDir, url: &url::Url, extra: &str) {
    let text = dir.config_text().replacen(
        "[store]\n",
        &format!("[store]\nurl = {:?}\n", url.as_str()),
        1,
    );
    std::fs::write(&dir.config_path, format!("{text}{extra}")).unwrap();
}

/// A second host's directory beside `first`'s: its own data dir and config, a copy of the
/// key file, the same register.
fn second_host(first: &TestDir) -> TestDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&keys).unwrap();
    copy_private(&first.kek, &keys.join("kek.key"));
    TestDir::assemble(dir, first.register_url.clone(), first.leaks.clone())
}

fn copy_private(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).unwrap();
}
