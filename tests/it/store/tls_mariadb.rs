//! TLS to a MariaDB register (threat model F-4, SECURITY_BAR G7), against a real MariaDB server
//! of the test's own: the shared one (10.11) reads `ssl_cert` and `ssl_key` only at start, and
//! restarting it would cut every other suite off. The test makes a data directory with
//! `mariadb-install-db`, starts `mariadbd` on a free loopback port with its own certificate and
//! `require_secure_transport=ON` (so a connection it takes is TLS), and stops it at the end.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use registervakt::config::RegisterConfig;
use registervakt::register::Register;
use registervakt::store::register::RegisterDb;
use registervakt::store::register_writer;
use registervakt::synthetic;
use secrecy::SecretString;
use sqlx::{Connection as _, Executor as _, MySqlConnection};

use super::pki::{Pki, make_pki};

#[tokio::test]
#[ignore = "needs MariaDB's server programs (mariadbd, mariadb-install-db) and root"]
async fn a_mariadb_register_with_verify_identity_talks_tls_and_refuses_another_ca_or_another_name()
{
    let server = PrivateMariaDb::start().await;
    let verified = server.url("localhost", "VERIFY_IDENTITY", &server.pki.ca);

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

    // What the same URL gets, seen from the server.
    let mut conn = MySqlConnection::connect(&verified).await.unwrap();
    let (_, version): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        matches!(version.as_str(), "TLSv1.2" | "TLSv1.3"),
        "{version}"
    );
    conn.close().await.unwrap();

    // The server takes no plain connection, so every connection above was TLS. (MariaDB 10.11
    // answers "access denied" for the user it has just let in over TLS; MySQL names the
    // secure transport.)
    let plain = server.url("localhost", "DISABLED", &server.pki.ca);
    let err = MySqlConnection::connect(&plain)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("secure transport") || err.contains("Access denied"),
        "{err}"
    );

    // Another CA's root: the server's certificate does not chain to it.
    let foreign = server.url("localhost", "VERIFY_IDENTITY", &server.pki.other_ca);
    let err = open_register(&foreign).await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // The right CA but a name the certificate does not carry (it names `localhost` only).
    let by_address = server.url("127.0.0.1", "VERIFY_IDENTITY", &server.pki.ca);
    let err = open_register(&by_address).await.unwrap_err();
    assert!(err.contains("not valid for name"), "{err}");
}

async fn open_register(url: &str) -> Result<(), String> {
    RegisterDb::connect(
        &SecretString::from(url.to_owned()),
        Duration::from_secs(5),
        1,
        Default::default(),
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// A `mariadbd` of the test's own on `127.0.0.1:port`, stopped (and its files removed) when
/// dropped, pass or fail.
struct PrivateMariaDb {
    child: Child,
    port: u16,
    pki: Pki,
    /// Data, socket, pid file and error log; removed when dropped.
    root: tempfile::TempDir,
}

impl PrivateMariaDb {
    async fn start() -> PrivateMariaDb {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        // The server runs as the test's user (root, `--user=root`), who then owns the key.
        let owner = std::fs::metadata(dir).unwrap();
        let pki = make_pki(&dir.join("pki"), owner.uid(), owner.gid());
        let data = dir.join("data");
        run(Command::new("mariadb-install-db").args([
            "--no-defaults",
            &format!("--datadir={}", data.display()),
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]));
        let port = free_port();
        let child = Command::new("mariadbd")
            .args([
                "--no-defaults".to_owned(),
                format!("--datadir={}", data.display()),
                format!("--socket={}", dir.join("mysqld.sock").display()),
                format!("--pid-file={}", dir.join("mysqld.pid").display()),
                format!("--log-error={}", dir.join("error.log").display()),
                format!("--port={port}"),
                "--bind-address=127.0.0.1".to_owned(),
                "--user=root".to_owned(),
                "--innodb-buffer-pool-size=16M".to_owned(),
                format!("--ssl-ca={}", pki.ca.display()),
                format!("--ssl-cert={}", pki.cert.display()),
                format!("--ssl-key={}", pki.key.display()),
                "--require-secure-transport=ON".to_owned(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd (Debian's mariadb-server) runs the test's own server");
        let mut server = PrivateMariaDb {
            child,
            port,
            pki,
            root,
        };
        server.wait_until_ready().await;
        server
    }

    /// `mysql://root@host:port/rv` with `ssl-mode` and `ssl-ca`.
    fn url(&self, host: &str, mode: &str, ca: &Path) -> String {
        format!(
            "mysql://root@{host}:{}/rv?ssl-mode={mode}&ssl-ca={}",
            self.port,
            ca.display()
        )
    }

    /// Polls with a verified connection for up to 30 s, then makes the `rv` database.
    async fn wait_until_ready(&mut self) {
        let url = self
            .url("localhost", "VERIFY_IDENTITY", &self.pki.ca)
            .replace("/rv?", "/?");
        let mut last = String::new();
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("mariadbd exited ({status}): {}", self.error_log());
            }
            match MySqlConnection::connect(&url).await {
                Ok(mut conn) => {
                    conn.execute("CREATE DATABASE rv").await.unwrap();
                    conn.close().await.unwrap();
                    return;
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "mariadbd did not answer within 30 s ({last}): {}",
            self.error_log()
        );
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the kernel's pick for port 0).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .expect("mariadb-install-db (Debian's mariadb-server) makes the test server's data");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
