//! Helpers for the page suites: a page's CSRF token, and a page fetched with a session.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::TestApp;

/// The CSRF token of the first form on the page.
pub fn csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a form with a CSRF token")
        .to_owned()
}

/// GET `path` with the session cookie: (status, body).
pub async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let res = app.get_with(path, Some(cookie)).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// POSTs a page's form with the session cookie.
/// A page form posted without a session (a processor following its link has none).
pub async fn post_form_signed_out(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let res = app
        .client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    app.finish(&format!("POST {path}"), res).await
}

pub async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    form.iter()
        .for_each(|(name, value)| app.dir.leaks.sent_field(name, value));
    let res = app
        .client
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    app.finish(&format!("POST {path}"), res).await
}

/// An RFC 3339 time, as the API takes it.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
