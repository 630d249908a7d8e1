//! Telling people what needs them: in-app notices always, e-mail over SMTP when `[smtp]` is
//! configured.
//!
//! Guarantees: a notice says what happened and to which extract (by id), never which members or
//! what data; e-mail carries the same fixed sentence and a link to the broker, so a mailbox
//! holds no member data. A notice is e-mailed by one broker only (claimed with a conditional
//! UPDATE before sending). An unreachable mail server loses no notice: it stays in the app, and
//! never blocks a request (mail goes out after the commit, in the background). A send that
//! may work later (no connection, a time-out, a 4xx, an answer cut short) gives its claim
//! back and stops the pump. The next pump sends it: after every commit that makes notices,
//! and after every sweep (≤ 60 s), for notices up to a day old. So a mail server that was
//! down gets the notices once it answers again. A time-out after the server had taken the
//! message can, rarely, send it twice; a lost notice would be worse.

pub mod mail;

use crate::store::notices::{self, NoticeRow};
use crate::store::{Store, Tx};

/// Leaves an in-app notice of `kind` for `user_id` in the caller's transaction, about
/// `extract_id` when there is one: the kind and its fixed [`sentence`], nothing else.
pub async fn leave(
    tx: &mut Tx,
    user_id: &str,
    kind: &'static str,
    extract_id: Option<&str>,
    at: i64,
) -> Result<(), crate::store::Error> {
    notices::insert_notice(
        tx,
        &NoticeRow {
            id: crate::crypto::random_id128(),
            user_id: user_id.to_owned(),
            kind: kind.to_owned(),
            extract_id: extract_id.map(str::to_owned),
            message: sentence(kind).to_owned(),
            created_at: at,
            read_at: None,
        },
    )
    .await
}

/// The sentence shown (and mailed) for a kind of notice, Swedish first.
pub fn sentence(kind: &str) -> &'static str {
    match kind {
        "extract_requested" => {
            "En ny begäran om medlemsutdrag väntar på ditt beslut. / A new extract request awaits your decision."
        }
        "extract_approved" => {
            "Din begäran är godkänd och utdraget förbereds. / Your request was approved; the extract is being prepared."
        }
        "extract_denied" => "Din begäran avslogs. / Your request was denied.",
        "extract_ready" => "Ditt utdrag är klart att hämta. / Your extract is ready.",
        "extract_failed" => {
            "Utdraget kunde inte skapas; inget lämnades ut. / The extract could not be made; nothing was released."
        }
        "extract_expiring" => {
            "Ditt utdrag raderas inom en timme. / Your extract will be destroyed within the hour."
        }
        "extract_shredded" => "Ditt utdrag är raderat. / Your extract was destroyed.",
        "extract_waiting_register" => {
            "Medlemsregistret svarar inte just nu; utdraget väntar och försöker igen av sig självt. Inget har lämnats ut. / The member register is not answering; the extract waits and tries again by itself. Nothing was released."
        }
        "extract_lapsed" => {
            "Din begäran beslutades inte i tid och har upphört. / Your request was not decided in time and has lapsed."
        }
        "role_due" => {
            "En av dina roller behöver bekräftas snart; annars vilar den tills någon bekräftar den. Se Översikt. / One of your roles must be confirmed soon, or it is suspended until someone confirms it. See Overview."
        }
        "role_due_confirm" => {
            "En roll som du kan bekräfta behöver bekräftas snart. Se Bekräfta roller. / A role you can confirm is due soon. See Confirm roles."
        }
        _ => {
            "Något i Registervakt behöver din uppmärksamhet. / Something in Registervakt needs your attention."
        }
    }
}

/// Starts sending the notices not yet e-mailed, when SMTP is configured.
/// `public_url` is the broker's address, for the link in the mail.
pub fn kick(store: &Store, mailer: Option<&mail::Mailer>, public_url: &str) {
    if let Some(mailer) = mailer.cloned() {
        let store = store.clone();
        let public_url = public_url.to_owned();
        tokio::spawn(async move { pump(&store, &mailer, &public_url).await });
    }
}

/// Notices younger than this are still worth an e-mail.
const MAIL_WITHIN_SECS: i64 = 24 * 3600;

async fn pump(store: &Store, mailer: &mail::Mailer, public_url: &str) {
    let since = time::OffsetDateTime::now_utc().unix_timestamp() - MAIL_WITHIN_SECS;
    let due = match store.list_unmailed_notices(since, 100).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read notices to e-mail");
            return;
        }
    };
    for (notice, address) in due {
        match store.claim_notice_for_mail(&notice.id).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a notice for e-mail");
                return;
            }
        }
        let subject = format!("Registervakt: {}", subject(&notice.kind));
        let link = link(public_url, &notice.kind, notice.extract_id.as_deref());
        let body = format!("{}\n\n{link}\n", notice.message);
        match mailer.send(&address, &subject, &body).await {
            Ok(()) => {}
            Err(e) if e.may_work_later() => {
                tracing::warn!(error = %e, kind = %notice.kind, "the mail server cannot take notices now; they stay in the app and are e-mailed when it answers again");
                if let Err(e) = store.release_notice_for_mail(&notice.id).await {
                    tracing::warn!(error = %e, "cannot give back a notice's e-mail claim; it stays in the app only");
                }
                // The server is down or refusing: the rest wait for the next pump.
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, kind = %notice.kind, "a notice could not be e-mailed; it stays in the app");
            }
        }
    }
}

/// Where a notice's mail leads: the extract it is about, the roles to confirm, or the start
/// page (which tells a holder their role is due).
fn link(public_url: &str, kind: &str, extract_id: Option<&str>) -> String {
    let base = public_url.trim_end_matches('/');
    match (extract_id, kind) {
        (Some(id), _) => format!("{base}/extracts/{id}"),
        (None, "role_due_confirm") => format!("{base}/roles/confirm"),
        (None, _) => format!("{base}/"),
    }
}

fn subject(kind: &str) -> &'static str {
    match kind {
        "extract_requested" => "ny begäran att besluta / a request to decide",
        "extract_approved" => "begäran godkänd / request approved",
        "extract_denied" => "begäran avslagen / request denied",
        "extract_ready" => "utdraget är klart / extract ready",
        "extract_expiring" => "utdraget raderas snart / extract expires soon",
        "extract_shredded" => "utdraget raderat / extract destroyed",
        "role_due" => "din roll behöver bekräftas / your role is due for confirmation",
        "role_due_confirm" => "roller att bekräfta / roles to confirm",
        _ => "meddelande / notice",
    }
}

#[cfg(test)]
mod tests {
    use super::link;

    #[test]
    fn a_mail_leads_to_the_extract_the_roles_to_confirm_or_the_start_page() {
        let url = "https://rv.example/";
        assert_eq!(
            link(url, "extract_ready", Some("abc")),
            "https://rv.example/extracts/abc"
        );
        assert_eq!(
            link(url, "role_due_confirm", None),
            "https://rv.example/roles/confirm"
        );
        assert_eq!(link(url, "role_due", None), "https://rv.example/");
    }
}
