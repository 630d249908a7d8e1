//! The server started for real on port 0: health, readiness, OpenAPI, headers, limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::Duration;

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

#[test]
fn a_request_is_checked_against_its_literal_operation_before_one_with_a_parameter() {
    let template = |method, path| common::openapi::operation(method, path).map(|(t, _)| t);
    assert_eq!(
        template("POST", "/api/v1/extracts/estimate"),
        Some("/api/v1/extracts/estimate")
    );
    assert_eq!(
        template("GET", "/api/v1/extracts/0123?x=1"),
        Some("/api/v1/extracts/{id}")
    );
    assert_eq!(template("GET", "/extracts/0123"), None);
    assert_eq!(template("DELETE", "/api/v1/extracts/0123"), None);
}

#[tokio::test]
#[should_panic(expected = "which the API description does not list")]
async fn a_status_the_description_does_not_list_fails_the_suite_that_sees_it() {
    common::openapi::check_status("GET /api/v1/me", 418);
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

const SOME_ROWS: &[u8] = b"first_name;last_name\r\nAnna;Berg\r\n";

/// The content type a raised-limit route's upload is sent with: the page's form, or a file.
fn upload_type(path: &str) -> &'static str {
    if path.starts_with("/api/") {
        "text/csv"
    } else {
        "multipart/form-data; boundary=rv-boundary"
    }
}

/// Issue 15, finding 3 (SECURITY_BAR F5): staff sending 31 MiB files to the trace were each
/// refused with 403 only after the body was read. Every route with a raised limit must answer
/// 401 or 403 from the headers alone: here the body is held back after a few bytes, so an
/// answer that comes at all came before the body was read.
#[tokio::test]
async fn every_raised_limit_route_refuses_staff_and_strangers_before_reading_the_body() {
    use registervakt::web::{Access, Body, routes};
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let staff = app.sign_in(&anna, "anna").await;
    let raised: Vec<_> = routes()
        .into_iter()
        .filter(|r| r.body != Body::Capped)
        .collect();
    let paths: Vec<&str> = raised.iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/audit/trace",
            "/api/v1/audit/breach-scope/file",
            "/audit/trace"
        ]
    );
    let declared = 31 * 1024 * 1024;
    assert!(declared > MAX_BODY_BYTES && declared <= Body::AuditFile.cap());
    for route in &raised {
        assert_eq!(route.access, Access::SignedIn, "{}", route.path);
        for (cookie, status, code) in [
            (Some(staff.as_str()), 403, "not_permitted"),
            (None, 401, "not_signed_in"),
        ] {
            let mut stream = common::raw_http::connect(app.addr).await;
            let kind = upload_type(route.path);
            common::raw_http::post_head(&mut stream, route.path, cookie, kind, declared, SOME_ROWS)
                .await;
            let answer = common::raw_http::read_answer(&mut stream, Duration::from_secs(10))
                .await
                .unwrap_or_else(|| {
                    panic!("{}: no answer while the body was held back", route.path)
                });
            assert_eq!(answer.status, status, "{} {cookie:?}", route.path);
            let content_type = answer.header("content-type").unwrap_or_default();
            if route.path.starts_with("/api/") {
                assert_eq!(answer.json()["error"], code, "{}", route.path);
            } else {
                // The page answers as a page.
                assert!(content_type.starts_with("text/html"), "{content_type}");
            }
        }
    }
    app.stop().await;
}

/// SECURITY_BAR F5: at most `server.max_concurrent_uploads` large uploads are read at once;
/// one more is refused before it is read, with 429, `Retry-After` and the error body (a page
/// on the page route), and the slots come back when the uploads end.
#[tokio::test]
async fn one_upload_more_than_the_setting_allows_is_answered_429_and_the_slots_come_back() {
    use registervakt::config::DEFAULT_MAX_CONCURRENT_UPLOADS;
    use registervakt::web::upload::UPLOAD_RETRY_AFTER_SECS;
    let app = spawn_app().await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let cookie = app.sign_in(&farid, "farid").await;
    let slots = app.state.config.server.max_concurrent_uploads;
    assert_eq!(slots, DEFAULT_MAX_CONCURRENT_UPLOADS);
    let mut held = Vec::new();
    for _ in 0..slots {
        let mut stream = common::raw_http::connect(app.addr).await;
        common::raw_http::post_head(
            &mut stream,
            "/api/v1/audit/trace",
            Some(&cookie),
            "text/csv",
            4 * 1024 * 1024,
            SOME_ROWS,
        )
        .await;
        held.push(stream);
    }
    // Once the held uploads have their slots, the next one is refused. A held upload that
    // came after one of these probes found no slot and was answered at once: send it again.
    let mut refused = None;
    for _ in 0..100 {
        let res = app
            .post_bytes("/api/v1/audit/trace", &cookie, SOME_ROWS)
            .await;
        if res.status() == 429 {
            refused = Some(res);
            break;
        }
        for stream in held.iter_mut() {
            let answered = common::raw_http::read_answer(stream, Duration::from_millis(5)).await;
            if answered.is_some() {
                *stream = common::raw_http::connect(app.addr).await;
                common::raw_http::post_head(
                    stream,
                    "/api/v1/audit/trace",
                    Some(&cookie),
                    "text/csv",
                    4 * 1024 * 1024,
                    SOME_ROWS,
                )
                .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = refused.expect("no 429 with every upload slot taken");
    assert_eq!(
        refused.headers()["retry-after"],
        UPLOAD_RETRY_AFTER_SECS.to_string().as_str()
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_uploads");
    assert!(body["message"].as_str().unwrap().len() > 10);
    let form = reqwest::multipart::Form::new()
        .text("csrf", "x")
        .part("file", reqwest::multipart::Part::bytes(SOME_ROWS.to_vec()));
    let page = app.post_multipart("/audit/trace", &cookie, form).await;
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    let text = page.text().await.unwrap();
    assert!(text.contains("<html"), "{text}");
    // The held uploads end (their clients went away): their slots are free again.
    drop(held);
    let mut answered = 429;
    for _ in 0..100 {
        let res = app
            .post_bytes("/api/v1/audit/trace", &cookie, SOME_ROWS)
            .await;
        answered = res.status().as_u16();
        if answered != 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answered, 200);
    app.stop().await;
}

/// `n` bytes as a body without a length (chunked), in 1 MiB pieces.
/// `n` bytes sent without a length: a CSV a trace reads to the end (a header, then rows of
/// 300 bytes, few enough for the trace's row limit), so only the size can refuse it.
fn unlengthed(n: usize) -> reqwest::Body {
    let piece = 1024 * 1024;
    let mut row = vec![b'x'; 300];
    row.splice(..4, *b"A;B;");
    row.splice(298.., *b"\r\n");
    let pieces = (0..n.div_ceil(piece)).map(move |i| {
        let size = piece.min(n - i * piece);
        let mut out: Vec<u8> = Vec::with_capacity(size + row.len());
        if i == 0 {
            out.extend_from_slice(b"first_name;last_name;note\r\n");
        }
        while out.len() < size {
            out.extend_from_slice(&row);
        }
        out.truncate(size);
        Ok::<_, std::io::Error>(out)
    });
    reqwest::Body::wrap_stream(futures::stream::iter(pieces))
}

/// SECURITY_BAR F3 and item 4 of issue 15: a body over the cap is 413 with the JSON error body
/// naming the route's cap — at 1 MiB and at the trace's 512 MiB, declared or not (axum's own
/// answer to an unlengthed body over the cap was plain text); the trace page answers a page.
#[tokio::test]
async fn a_body_over_its_routes_cap_gets_413_with_the_error_body_declared_or_not() {
    use registervakt::oversight::trace::MAX_TRACE_BYTES;
    let app = spawn_app().await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let cookie = app.sign_in(&farid, "farid").await;
    let json_413 = |body: serde_json::Value, cap: usize| {
        assert_eq!(body["error"], "body_too_large", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&cap.to_string()), "{message}");
    };
    // 1 MiB, no length declared.
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(unlengthed(MAX_BODY_BYTES + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    json_413(res.json().await.unwrap(), MAX_BODY_BYTES);
    // Over the trace's cap, declared: refused from the headers (the body is never sent).
    for path in ["/api/v1/audit/trace", "/api/v1/audit/breach-scope/file"] {
        let mut stream = common::raw_http::connect(app.addr).await;
        common::raw_http::post_head(
            &mut stream,
            path,
            Some(&cookie),
            "text/csv",
            MAX_TRACE_BYTES + 1,
            b"",
        )
        .await;
        let answer = common::raw_http::read_answer(&mut stream, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(answer.status, 413, "{path}");
        json_413(answer.json(), MAX_TRACE_BYTES);
    }
    // Over the trace's cap, no length declared: read as it streams, refused at the cap.
    let res = app
        .client
        .post(app.url("/api/v1/audit/trace"))
        .header("cookie", &cookie)
        .header("content-type", "text/csv")
        .body(unlengthed(MAX_TRACE_BYTES + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/json");
    json_413(res.json().await.unwrap(), MAX_TRACE_BYTES);
    // The page, no length declared: the 413 page.
    let file = reqwest::multipart::Part::stream(unlengthed(MAX_TRACE_BYTES + 1));
    let form = reqwest::multipart::Form::new()
        .text("csrf", "x")
        .part("file", file);
    let res = app.post_multipart("/audit/trace", &cookie, form).await;
    assert_eq!(res.status(), 413);
    let text = res.text().await.unwrap();
    assert!(text.contains("<html"), "{text}");
    app.stop().await;
}

/// Item 8 of issue 15 (slowloris): a client that opens a connection and sends half a header
/// line is disconnected once `server.header_read_timeout_secs` has passed, and the broker
/// goes on serving everyone else.
#[tokio::test]
async fn a_client_that_sends_half_a_header_line_is_disconnected_within_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = common::prepare(50).await;
    let config = std::fs::read_to_string(&dir.config_path).unwrap().replacen(
        "[server]\n",
        "[server]\nheader_read_timeout_secs = 1\n",
        1,
    );
    std::fs::write(&dir.config_path, config).unwrap();
    let app = common::spawn_app_in(dir).await;
    let mut slow = common::raw_http::connect(app.addr).await;
    let started = std::time::Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaa")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut buf)).await;
    let waited = started.elapsed();
    match read {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("answered instead: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => panic!("still connected after 10 s"),
    }
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "disconnected after {waited:?}"
    );
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await;
}

/// Item 8 of issue 15: the request id is always the broker's own. An `X-Request-Id` a client
/// sends is neither echoed nor written to the log line (it could collide with another
/// request's id, or carry text of the client's into the log).
#[tokio::test]
async fn a_request_id_sent_by_the_client_is_replaced_and_never_logged() {
    let app = spawn_app().await;
    let chosen = "client-chosen-id-5c1e0b7d9a";
    let res = app
        .client
        .get(app.url("/api/v1/nothing"))
        .header("x-request-id", chosen)
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, chosen);
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let dir = app.stop().await;
    let log = String::from_utf8_lossy(&common::leaks::log::since(0)).into_owned();
    assert!(log.contains(&id), "the broker's own id is logged");
    assert!(!log.contains(chosen), "the client's id reached the log");
    drop(dir);
}
