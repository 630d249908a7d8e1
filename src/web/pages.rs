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
    ("start.html", include_str!("templates/start.html")),
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
const FRAME_SCRIPT: &str = include_str!("static/frame.js");

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
        super::i18n::register(&mut env);
        for (name, source) in TEMPLATES {
            // The templates are part of the binary; a broken one fails the unit test below.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        Pages { env }
    }

    /// Renders `name` with the handler's context over the page frame's (language, user,
    /// navigation): a handler's key wins over the frame's.
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
        let ctx = minijinja::value::merge_maps([super::frame::context(), ctx]);
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
    let demo_users_file = state.config.server.demo_users_file.as_deref();
    page(state.pages.render(
        "landing.html",
        context! { version => env!("CARGO_PKG_VERSION"), demo_users_file },
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
    script(EXTRACTS_SCRIPT)
}

/// The frame's script (idle warning and sign-out, progress on long actions). Public; may be
/// cached (it holds no data).
pub async fn frame_script() -> Response {
    script(FRAME_SCRIPT)
}

fn script(source: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        source,
    )
        .into_response()
}

pub fn not_found_page() -> Response {
    use super::i18n::text;
    let pages = Pages::new();
    let lang = super::frame::lang();
    let mut res = page(pages.render(
        "error.html",
        context! {
            title => text(lang, "error.not_found"),
            text => text(lang, "error.not_found_text"),
            status => 404,
        },
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
                .render(name, context! { version => "t", title => "t", status => 1 })
                .unwrap();
            assert!(html.contains("<html lang=\"sv\">"), "{name}");
        }
    }

    /// The keys a template asks the catalogue for: `t("…")` and `t('…')`.
    fn keys_in(source: &str) -> Vec<String> {
        let mut out = Vec::new();
        let bytes = source.as_bytes();
        for (i, _) in source.match_indices("t(") {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
                continue;
            }
            let rest = &source[i + 2..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                out.push(rest[1..1 + end].to_owned());
            }
        }
        out
    }

    #[test]
    fn every_key_a_template_uses_is_in_both_catalogues() {
        use crate::web::i18n::{Lang, lookup};
        let mut used = 0;
        for (name, source) in TEMPLATES {
            for key in keys_in(source) {
                used += 1;
                for lang in Lang::ALL {
                    assert!(
                        lookup(lang, &key).is_some(),
                        "{name} uses {key}, missing from {}.toml",
                        lang.code()
                    );
                }
            }
        }
        assert!(used > 50, "the templates ask for only {used} texts");
    }

    #[test]
    fn a_page_is_in_the_language_of_the_frame() {
        let pages = Pages::new();
        let html = pages
            .render("landing.html", context! { lang => "en", version => "t" })
            .unwrap();
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("The path of one extract"));
        assert!(!html.contains("Så går ett utdrag till"));
    }

    #[test]
    fn text_is_escaped() {
        let pages = Pages::new();
        let html = pages
            .render(
                "error.html",
                context! { title => "<script>x</script>", status => 1 },
            )
            .unwrap();
        assert!(!html.contains("<script>x"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
