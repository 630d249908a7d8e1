//! The API description tells the truth about statuses (issue 15): every answer a suite sees
//! from an operation of `/api/openapi.json` has a status the description lists for that
//! operation. [`check_status`] runs in `TestApp::finish`, so every black-box suite that goes
//! through the helpers checks it on everything it does — refusals, conflicts, expiry and
//! freezes the fuzzer rarely reaches — not only the suites about the description.

use std::sync::OnceLock;

use serde_json::Value;

/// The description as the broker serves it (the purposes and the cookie's name change no
/// status).
fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| registervakt::web::api::openapi::document(&[], "registervakt"))
}

/// Whether `path` (no query string) is an instance of the template `template`.
fn instance_of(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// The operation `method path` is, as `(template, operation)`: a literal template before one
/// with parameters, as the router matches them.
pub fn operation(method: &str, path: &str) -> Option<(&'static str, &'static Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let method = method.to_ascii_lowercase();
    let mut candidates: Vec<(&'static String, &'static Value)> = document()["paths"]
        .as_object()?
        .iter()
        .filter(|(template, item)| instance_of(template, path) && item[&method].is_object())
        .map(|(template, item)| (template, &item[&method]))
        .collect();
    candidates.sort_by_key(|(template, _)| template.matches('{').count());
    candidates
        .first()
        .map(|(template, op)| (template.as_str(), *op))
}

/// Fails the test when `request` ("METHOD /path?query", as the helpers name it) is an
/// operation of the description that does not list `status`.
pub fn check_status(request: &str, status: u16) {
    let Some((method, path)) = request.split_once(' ') else {
        return;
    };
    let Some((template, op)) = operation(method, path) else {
        return;
    };
    let listed: Vec<&String> = op["responses"]
        .as_object()
        .map(|r| r.keys().collect())
        .unwrap_or_default();
    assert!(
        listed.iter().any(|s| *s == &status.to_string()),
        "{method} {template} answered {status}, which the API description does not list for \
         it (it lists {listed:?}): document it in the handler's `responses(...)` or, for a \
         status every operation of its kind gives, in `web::api::openapi::describe`"
    );
}
