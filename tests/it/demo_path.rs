//! The acceptance check for extracts, on the demo itself: staff requests, the approver
//! approves, staff downloads CSV and XLSX, says "I'm done", and the data key is gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// `key: value` of one user's block in demo-users.txt.
fn credentials(users: &str, name: &str) -> (String, String) {
    let block = users
        .split("\n\n")
        .find(|b| b.contains(&format!("username: {name}")))
        .unwrap();
    let field = |key: &str| {
        block
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{key}:"))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap()
    };
    (field("password"), field("secret"))
}

struct Client {
    url: String,
    http: reqwest::Client,
}

impl Client {
    async fn sign_in(&self, user: &str, (password, secret): &(String, String)) -> String {
        let res = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "username": user, "password": password }),
            )
            .await;
        let pending = common::session_cookie(&res).unwrap();
        let res = self
            .post(
                "/api/v1/auth/totp",
                Some(&pending),
                json!({ "code": common::code_now(secret) }),
            )
            .await;
        assert_eq!(res.status(), 200, "{user} signs in");
        common::session_cookie(&res).unwrap()
    }

    async fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str, cookie: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", cookie)
            .send()
            .await;
        res.unwrap().json().await.unwrap()
    }
}

#[test]
fn the_demo_runs_the_whole_path_of_one_extract_and_the_key_is_gone_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args([
            "demo",
            "--members",
            "20000",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&demo_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = common::demo_url(&mut child);
    // The CLI run against the demo's config prints links to where the demo is, not port 8080.
    let added = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args([
            "user",
            "add",
            "--username",
            "nykomling",
            "--name",
            "Ny Kollega",
        ])
        .args(["--role", "staff:Uppsala", "--config"])
        .arg(demo_dir.join("registervakt.toml"))
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let printed = String::from_utf8_lossy(&added.stdout);
    assert!(
        printed.contains(&format!("{}/invite/", url.trim_end_matches('/'))),
        "the invitation link names the demo's address {url}: {printed}"
    );
    let users = std::fs::read_to_string(demo_dir.join("demo-users.txt")).unwrap();
    let client = Client {
        url,
        http: reqwest::Client::new(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let id = rt.block_on(async {
        let anna = client.sign_in("anna", &credentials(&users, "anna")).await;
        let asked = json!({
            "purpose": "district-assembly-invitation", "district": "Uppsala",
            "fields": ["first_name", "last_name", "email", "postal_code"],
            "lifetime_minutes": 120, "justification": "Kallelse till distriktsstämman",
            "acknowledged": true,
        });
        let created: Value = client
            .post("/api/v1/extracts", Some(&anna), asked)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            created["state"], "pending",
            "Uppsala is large enough to need an approver: {created}"
        );
        let id = created["id"].as_str().unwrap().to_owned();
        let bertil = client
            .sign_in("bertil", &credentials(&users, "bertil"))
            .await;
        let queue = client.get("/api/v1/extracts?pending=true", &bertil).await;
        assert!(
            queue["extracts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] == id.as_str())
        );
        let approve =
            json!({ "request_hash": created["request_hash"], "comment": "Stämman är beslutad" });
        let res = client
            .post(
                &format!("/api/v1/extracts/{id}/approve"),
                Some(&bertil),
                approve,
            )
            .await;
        assert_eq!(res.status(), 200);
        for _ in 0..400 {
            if client.get(&format!("/api/v1/extracts/{id}"), &anna).await["state"] == "live" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for format in ["csv", "xlsx"] {
            let res = client
                .post(
                    &format!("/api/v1/extracts/{id}/download"),
                    Some(&anna),
                    json!({ "format": format }),
                )
                .await;
            assert_eq!(res.status(), 200, "{format}");
            let bytes = res.bytes().await.unwrap();
            let table = match format {
                "csv" => registervakt::extract::format::read_csv(&bytes).unwrap(),
                _ => registervakt::extract::format::read_xlsx(&bytes).unwrap(),
            };
            assert_eq!(
                table[0],
                ["first_name", "last_name", "email", "postal_code"]
            );
            assert!(table.len() > 1000, "{format} holds the district's members");
        }
        let res = client
            .post(
                &format!("/api/v1/extracts/{id}/done"),
                Some(&anna),
                json!({}),
            )
            .await;
        assert_eq!(res.status(), 204);
        let res = client
            .post(
                &format!("/api/v1/extracts/{id}/download"),
                Some(&anna),
                json!({ "format": "csv" }),
            )
            .await;
        assert_eq!(res.status(), 410);
        id
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    rt.block_on(async {
        let config =
            registervakt::config::Config::load(Some(&demo_dir.join("registervakt.toml"))).unwrap();
        let store = registervakt::app::open_store(&config, false).await.unwrap();
        let row = store.find_extract(&id).await.unwrap().unwrap();
        assert_eq!(row.state.as_str(), "shredded");
        assert!(row.wrapped_key.is_none(), "the data key is gone");
        assert!(store.find_chunks(&id, 0, 1).await.unwrap().is_empty());
        registervakt::audit::verify(&store).await.unwrap();
    });
}
