//! Server-rendered pages. Templates are compiled into the binary and rendered with
//! auto-escaping on (minijinja escapes every `{{ }}` in `.html` templates), so text from
//! users or the register can never become markup. No inline script or style: the CSP forbids it.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};

use crate::web::AppState;

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
    ("confirm.html", include_str!("templates/confirm.html")),
    (
        "passkey_required.html",
        include_str!("templates/passkey_required.html"),
    ),
    ("invite.html", include_str!("templates/invite.html")),
    ("handover.html", include_str!("templates/handover.html")),
    (
        "handover_deleted.html",
        include_str!("templates/handover_deleted.html"),
    ),
    (
        "invite_oidc.html",
        include_str!("templates/invite_oidc.html"),
    ),
    ("continue.html", include_str!("templates/continue.html")),
    (
        "_freeze_form.html",
        include_str!("templates/_freeze_form.html"),
    ),
    ("admin.html", include_str!("templates/admin.html")),
    (
        "admin_purpose.html",
        include_str!("templates/admin_purpose.html"),
    ),
    ("extracts.html", include_str!("templates/extracts.html")),
    ("calls.html", include_str!("templates/calls.html")),
    ("call_list.html", include_str!("templates/call_list.html")),
    (
        "calls_manage.html",
        include_str!("templates/calls_manage.html"),
    ),
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
    // Recertification of roles (issue 22, item 2).
    (
        "roles_confirm.html",
        include_str!("templates/roles_confirm.html"),
    ),
    (
        "audit_samples.html",
        include_str!("templates/audit_samples.html"),
    ),
    (
        "audit_sample.html",
        include_str!("templates/audit_sample.html"),
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
const PASSKEY_SCRIPT: &str = include_str!("static/passkey.js");

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
            let html = fallback_error(super::frame::lang());
            (StatusCode::INTERNAL_SERVER_ERROR, Html(html)).into_response()
        }
    }
}

/// The page when a template cannot be rendered: plain markup, in the page's language.
fn fallback_error(lang: super::i18n::Lang) -> String {
    use super::i18n::text;
    use minijinja::HtmlEscape;
    format!(
        "<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><title>{}</title><p>{}</p></html>",
        lang.code(),
        HtmlEscape(&text(lang, "error.title")),
        HtmlEscape(&text(lang, "error.internal")),
    )
}

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

/// The passkey ceremonies' script (`navigator.credentials`). Public; may be cached.
pub async fn passkey_script() -> Response {
    script(PASSKEY_SCRIPT)
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

/// The page for a request cut off by the deadline (`web::deadline`): 503, nothing released.
pub fn unavailable_page(pages: &Pages) -> Response {
    use super::i18n::text;
    let lang = super::frame::lang();
    let mut res = page(pages.render(
        "error.html",
        context! {
            title => text(lang, "error.title"),
            text => text(lang, "error.unavailable"),
            status => 503,
        },
    ));
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_renders() {
        let pages = Pages::new();
        for (name, _) in TEMPLATES {
            // The frame and the parts pages include (`_…`) are no pages of their own.
            if *name == "base.html" || name.starts_with('_') {
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

    /// Every template in English, with a context that fills in its lists and conditions, so
    /// that the branches a bare render skips are rendered too.
    fn rendered_in(lang: &str) -> Vec<(&'static str, String)> {
        let pages = Pages::new();
        let extract = context! {
            id => "abc123", state => "pending", state_label => "x", purpose => "p",
            district => "Uppsala", requester => "anna", fields => ["a"], estimated_rows => 1234,
            row_count => 12, created => "c", created_at => "2026-03-01T12:00:00Z",
            pending_until => "2026-03-02T12:00:00Z", pending_until_text => "d",
            expires_at => "2026-03-03T12:00:00Z", expires => "e", ended => "f",
            ended_at => "2026-03-04T12:00:00Z", end_reason => "r", downloads => 2,
            max_downloads => 3, downloads_left => 1, attested => false, approvers_needed => 2,
            approvals => 1, justification => "j",
            history => [context! { created => "c", purpose => "p", district => "d", state_label => "s", row_count => 5 }],
        };
        let flag = context! {
            id => "f1", kind => "many_pulls", label => "l", district => "Uppsala", user => "anna",
            what => "w", extract_id => "0123456789abcdef", week => "2026-W10", count => 3,
            raised => "r", acknowledged_by => "bertil", acknowledged_at => "a", comment => "c",
        };
        let report = context! {
            period_from => "a", period_to => "b", scope => "s", totals => [1, 2, 3, 4, 5, 6, 7],
            by_purpose => [context! { label => "l", code => "c", counts => [1, 2, 3, 4, 5, 6, 7] }],
            roles => [1, 2, 3],
        };
        let code = crate::web::i18n::Lang::parse(lang).unwrap_or_default();
        // What the frame gives a page in `lang` (outside a request it gives Swedish).
        let other_lang = if lang == "en" { "sv" } else { "en" };
        let js_text = crate::web::i18n::script_texts(code);
        let ctx = context! {
            lang, other_lang, js_text, version => "t", title => "t", status => 1, text => "t", link => "/", link_text => "l",
            user => context! { display_name => "A", csrf => "c", idle_secs => 60, staff => true, approver => true, admin => true, auditor => true, totp => true, passkeys => true },
            passkeys => [context! { id => "0123456789abcdef", name => "Telefonen", created => context! { rfc => "2026-03-01T12:00:00Z", text => "c" }, last_used => () }],
            passkeys_on => true, passkey => true, totp => true, code => true,
            e => extract.clone(), mine => true, live => false, downloads => ["csv"], can_view => true,
            may_attest => true, may_decide => true, fresh => false, message => "m", error => "x",
            verdicts => [context! { approver => "b", approve => true, at => "a" }],
            filters => ["f"], extracts => vec![context! { extract => extract.clone(), members => 3, ..extract.clone() }], pending => vec![extract.clone()],
            overdue => vec![extract.clone()], notices => [context! { message => "m", read => false, at => "a", extract_id => "x" }],
            approver => true, auditor => true, districts => "d", open_flags => 2,
            purpose => context! { id => "p", name => "n", fields => [context! { name => "phone", label => "Phone" }], consents => ["c"], formats => ["csv"], max_rows => 10, max_lifetime => 60, description => "d", acknowledgement => "a" },
            purposes => [context! { id => "p", name => "n", fields => ["f"], categories => [context! { name => "n", fields => ["f"] }], requested_by => ["r"], approved_by => ["a"], consents => Vec::<String>::new(), formats => ["csv"], max_rows => 5, retention_minutes => 60, approval_rule => "r", recipients => ["x"] }],
            values => context! { district => "Uppsala" }, recovery => false, action => "/login/code",
            codes => ["c"], roles => [context! { label => "Staff", code => "staff:Uppsala" }],
            users => [context! { username => "u", display_name => "d", status => "s", roles => ["r"] }],
            items => [context! { id => "0123456789", downloads => 1, fields => ["f"], shredded => "s" }],
            with_names => true, member_id => "1", member_ref => "r", made => "m",
            candidates => vec![context! { extract => extract.clone(), coverage => "9%", order => "8%", evidence => ["e"] }],
            confidence => "medium", columns => [context! { name => "phone", label => "Phone" }],
            rows => [["1"]], page => 1, pages => 3, total_rows => 50, first_row => 26, sharing => 1,
            by_member => true, sha256 => "s", members => 3, still_live => 1,
            categories => [context! { name => "n", fields => ["f"] }],
            releases => [context! { at => "a", username => "u", format => "csv", extract_id => "0123456789" }],
            extract => extract.clone(), events => [context! { seq => 1, at => "a", actor => "a", action => "x", target => "t", outcome => "o", details => "d" }],
            open => vec![flag.clone()], acknowledged => vec![flag.clone()], notice => "n", shown => true,
            paged => true, next => "n", report, policy_version => 3, demo_users_file => "f",
            staff => true, admin => true, waiting => 1, name => "A",
            actions => ["a"], idle_signed_out => true,
            sample => context! { district => "Uppsala", href => "/h", from => "a", to => "b", from_rfc3339 => "x", to_rfc3339 => "y", early => true, drawn => "d", cases => "c", status => "s", signed_off => false },
            done => Vec::<minijinja::Value>::new(), left => 0, href => "/audit/samples/Uppsala/2026-03-02", lead => "l", early => true,
        };
        TEMPLATES
            .iter()
            .filter(|(name, _)| *name != "base.html" && !name.starts_with('_'))
            .map(|(name, _)| (*name, pages.render(name, ctx.clone()).unwrap()))
            .collect()
    }

    #[test]
    fn no_page_holds_an_inline_translation() {
        for lang in ["en", "sv"] {
            for (name, html) in rendered_in(lang) {
                assert!(!html.contains("class=\"en\""), "{name} in {lang}");
                // The page's own language and the language switch; no text in the other one.
                assert_eq!(html.matches(" lang=\"").count(), 2, "{name} in {lang}");
                assert!(
                    html.contains(&format!("<html lang=\"{lang}\">")),
                    "{name} in {lang}"
                );
            }
        }
    }

    #[test]
    fn english_pages_hold_none_of_the_swedish_they_used_to() {
        // Words the pages used to show beside their English; none is English or a name.
        let swedish = [
            "Mina utdrag",
            "Logga in",
            "Användarnamn",
            "Lösenord",
            "Engångskod",
            "Begär",
            "Distrikt",
            "Ändamål",
            "Medlemmar",
            "Nedladdningar",
            "Godkänn",
            "Avslå",
            "Granskning",
            "Händelser",
            "Flaggor",
            "Kvittera",
            "Utdrag",
            "Hämta",
            "Radera",
            "säkerhetsansvarig",
            "Fält",
            "Spara",
            "Bekräfta",
            "Inga",
            "Tillbaka",
            " av ",
            "Från",
            "Till och med",
            "Medlemsnummer",
            "Registerförteckning",
            "medlemmar",
            "Välj",
        ];
        for (name, html) in rendered_in("en") {
            // The frame's language switch names Swedish in Swedish, on purpose.
            let html = html.replace("Svenska", "");
            for word in swedish {
                assert!(
                    !html.contains(word),
                    "{name} in English still says {word:?}"
                );
            }
        }
    }

    #[test]
    fn pages_that_show_members_carry_the_member_data_warning() {
        let pages = Pages::new();
        let warning = "Sidan visar medlemsuppgifter";
        let html = pages
            .render("extract_view.html", context! { member_data => true, id => "x", rows => [["1"]], page => 0, pages => 1, first_row => 1, total_rows => 1, columns => Vec::<String>::new() })
            .unwrap();
        assert_eq!(html.matches(warning).count(), 1, "shown once, by the frame");
        let html = pages.render("extracts.html", context! {}).unwrap();
        assert!(!html.contains(warning));
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
