//! Server-rendered pages. Templates are compiled into the binary and rendered with
//! auto-escaping on (minijinja escapes every `{{ }}` in `.html` templates), so text from
//! users or the register can never become markup. No inline script or style: the CSP forbids it.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};

use crate::app::AppState;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("landing.html", include_str!("templates/landing.html")),
    ("error.html", include_str!("templates/error.html")),
    ("message.html", include_str!("templates/message.html")),
    ("login.html", include_str!("templates/login.html")),
    ("code.html", include_str!("templates/code.html")),
    ("enrol.html", include_str!("templates/enrol.html")),
    (
        "recovery_codes.html",
        include_str!("templates/recovery_codes.html"),
    ),
    ("account.html", include_str!("templates/account.html")),
    ("invite.html", include_str!("templates/invite.html")),
    ("admin.html", include_str!("templates/admin.html")),
    ("extracts.html", include_str!("templates/extracts.html")),
    (
        "extract_new.html",
        include_str!("templates/extract_new.html"),
    ),
    ("extract.html", include_str!("templates/extract.html")),
    (
        "extract_view.html",
        include_str!("templates/extract_view.html"),
    ),
    ("approvals.html", include_str!("templates/approvals.html")),
    ("audit.html", include_str!("templates/audit.html")),
    (
        "audit_member.html",
        include_str!("templates/audit_member.html"),
    ),
    (
        "audit_trace.html",
        include_str!("templates/audit_trace.html"),
    ),
    (
        "audit_scope.html",
        include_str!("templates/audit_scope.html"),
    ),
    (
        "audit_story.html",
        include_str!("templates/audit_story.html"),
    ),
    (
        "audit_events.html",
        include_str!("templates/audit_events.html"),
    ),
    (
        "audit_flags.html",
        include_str!("templates/audit_flags.html"),
    ),
    (
        "audit_reports.html",
        include_str!("templates/audit_reports.html"),
    ),
    (
        "audit_article30.html",
        include_str!("templates/audit_article30.html"),
    ),
];

const STYLESHEET: &str = include_str!("static/app.css");
const EXTRACTS_SCRIPT: &str = include_str!("static/extracts.js");

pub struct Pages {
    env: Environment<'static>,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

impl Pages {
    pub fn new() -> Pages {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary; a broken one fails the unit test below.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        Pages { env }
    }

    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

pub(crate) fn page(result: Result<String, minijinja::Error>) -> Response {
    match result {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, Html(FALLBACK_ERROR)).into_response()
        }
    }
}

const FALLBACK_ERROR: &str =
    "<!doctype html><title>Fel</title><p>Något gick fel. Something went wrong.</p>";

/// The landing page. Public.
pub async fn landing(State(state): State<AppState>) -> Response {
    page(state.pages.render(
        "landing.html",
        context! { version => env!("CARGO_PKG_VERSION") },
    ))
}

/// The one stylesheet. Public; may be cached (it holds no data).
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The extract pages' script (live estimate, countdowns). Public; may be cached (it holds no
/// data, and reads member counts only through the signed-in user's own API calls).
pub async fn extracts_script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        EXTRACTS_SCRIPT,
    )
        .into_response()
}

pub fn not_found_page() -> Response {
    let pages = Pages::new();
    let mut res = page(pages.render(
        "error.html",
        context! { title => "Sidan finns inte", title_en => "Page not found", status => 404 },
    ));
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_renders() {
        let pages = Pages::new();
        for (name, _) in TEMPLATES {
            if *name == "base.html" {
                continue;
            }
            let html = pages
                .render(
                    name,
                    context! { version => "t", title => "t", title_en => "t", status => 1 },
                )
                .unwrap();
            assert!(html.contains("<html lang=\"sv\">"), "{name}");
        }
    }

    #[test]
    fn text_is_escaped() {
        let pages = Pages::new();
        let html = pages
            .render(
                "error.html",
                context! { title => "<script>x</script>", title_en => "", status => 1 },
            )
            .unwrap();
        assert!(!html.contains("<script>x"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
