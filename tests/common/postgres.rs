//! A broker whose store is a fresh PostgreSQL database, for the suites that run when
//! `REGISTERVAKT_TEST_POSTGRES_URL` is set.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::Executor as _;

use super::{TestApp, prepare, spawn_app_in};

/// A broker on a new database named `rv_<prefix>_<random>`, over a register of 200 members.
pub async fn spawn_on_postgres(prefix: &str) -> TestApp {
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
    let dir = prepare(200).await;
    let text = dir.config_text().replacen(
        "[store]\n",
        &format!("[store]\nurl = {:?}\n", url.as_str()),
        1,
    );
    std::fs::write(&dir.config_path, text).unwrap();
    spawn_app_in(dir).await
}
