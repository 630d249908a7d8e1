//! The server started for real on port 0: health, readiness, OpenAPI, headers, limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::spawn_app;
use registervakt::config::MAX_BODY_BYTES;

#[tokio::test]
async fn healthz_readyz_and_openapi_answer_200() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/api/openapi.json", "/", "/metrics"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["audit"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_health_endpoints() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    // Every API route of the router is described, with its method.
    for route in registervakt::web::routes() {
        if !route.path.starts_with("/api/v1/") {
            continue;
        }
        let method = route.method.as_str().to_lowercase();
        assert!(
            doc["paths"][route.path][&method].is_object(),
            "{} {} is not in the OpenAPI document",
            route.method,
            route.path
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/", "/healthz", "/api/v1/nothing", "/nothing"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_api_path_answers_a_json_error_with_a_stable_code() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].as_str().unwrap().len() > 5);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413_before_parsing() {
    let app = spawn_app().await;
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    let res = app
        .client
        .post(app.url("/api/v1/anything"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "body_too_large");
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_closed_when_the_data_dir_is_gone_and_recovers_without_restart() {
    let app = spawn_app().await;
    // Ready first: the broker's start-up (system.start, the first checkpoint) writes to the
    // data dir, and a broker that cannot start does not serve at all.
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let data = app.dir.data.clone();
    let moved = data.with_file_name("data-moved");
    // Moving the directory away makes every new file in it fail (this works as root too,
    // where permission bits would not stop a write).
    std::fs::rename(&data, &moved).unwrap();
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let text = res.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("/readyz answered {text:?}, not JSON: {e}"));
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["data_dir"], "failing");
    std::fs::rename(&moved, &data).unwrap();
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "readiness must recover without a restart"
    );
    app.stop().await;
}

#[tokio::test]
async fn start_and_graceful_stop_are_audited_and_the_chain_verifies() {
    let app = spawn_app().await;
    let dir = app.stop().await;
    let config = dir.config();
    let store = registervakt::app::open_store(&config, false).await.unwrap();
    let report = registervakt::audit::verify(&store).await.unwrap();
    // store.init, system.start, system.stop
    assert_eq!(report.entries, 3);
    let recent = store.list_recent_audit_events(10).await.unwrap();
    let codes: Vec<&str> = recent.iter().rev().map(|r| r.action.as_str()).collect();
    assert_eq!(codes, ["store.init", "system.start", "system.stop"]);
}

#[tokio::test]
async fn the_openapi_document_names_each_operations_session_and_the_errors_every_operation_gives() {
    let app = spawn_app().await;
    let user = app.user("greta", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "greta").await;
    let doc = app.get_json("/api/openapi.json").await;
    // The security scheme is the cookie this broker sets, under the name it sets it.
    let scheme = &doc["components"]["securitySchemes"]["session"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["in"].as_str()),
        (Some("apiKey"), Some("cookie"))
    );
    let set_name = cookie.split('=').next().unwrap();
    assert_eq!(scheme["name"], set_name);
    for route in registervakt::web::routes() {
        let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        if !op.is_object() {
            continue;
        }
        let label = format!("{} {}", route.method, route.path);
        let error_body = |status: &str| {
            op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/ErrorBody"
        };
        if route.access == registervakt::web::Access::Public {
            assert!(op.get("security").is_none(), "{label} is public");
        } else {
            assert_eq!(
                op["security"],
                serde_json::json!([{ "session": [] }]),
                "{label}"
            );
            assert!(error_body("401"), "{label} documents no 401");
        }
        if op["requestBody"]["content"]["application/json"].is_object() {
            for status in ["400", "413", "415", "422"] {
                assert!(error_body(status), "{label} documents no {status}");
            }
        }
        if route.method != axum::http::Method::GET {
            assert!(error_body("403"), "{label} documents no 403 (cross_origin)");
        }
    }
    // Every operation described is one the router serves, with that method.
    let table = registervakt::web::routes();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                table
                    .iter()
                    .any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is described but not routed"
            );
        }
    }
    // Purpose ids are the catalogue in force, as `GET /api/v1/policy` lists it.
    let policy = app.get_json_with("/api/v1/policy", &cookie).await;
    let ids: Vec<&str> = policy["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let documented: Vec<&str> = doc["components"]["schemas"]["PurposeId"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(documented, ids);
    app.stop().await;
}

/// Regression (schemathesis, G1): axum's own query and path rejections answered 400 in plain
/// text, outside the error mapping and the API description.
#[tokio::test]
async fn a_bad_query_string_or_path_parameter_gets_the_json_error_body_and_never_its_value_back() {
    let app = spawn_app().await;
    let user = app.user("hugo", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "hugo").await;
    let cases = [
        ("GET", "/api/v1/extracts?pending=hunter2", None),
        ("GET", "/api/v1/extracts?colour=red", Some("`colour`")),
        ("POST", "/api/v1/extracts/%FF%FE/done", None),
        ("GET", "/api/v1/audit/members/%FF/disclosures", None),
        ("POST", "/api/v1/notices/%C3%28/read", None),
        ("POST", "/api/v1/users/%FF/disable", None),
    ];
    for (method, path, names) in cases {
        let req = match method {
            "GET" => app.client.get(app.url(path)),
            _ => app.client.post(app.url(path)),
        };
        let res = req.header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 422, "{method} {path}");
        assert_eq!(res.headers()["content-type"], "application/json", "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_input", "{path}");
        let message = body["message"].as_str().unwrap();
        assert!(!message.contains("hunter2"), "{message}");
        if let Some(name) = names {
            assert!(message.contains(name), "{message}");
        }
    }
    // A body that is not JSON, on a handler that once took axum's `Json` as it is.
    let res = app
        .client
        .post(app.url("/api/v1/audit/pseudonyms/resolve"))
        .header("cookie", &cookie)
        .body("member_id=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_media_type");
    app.stop().await;
}
