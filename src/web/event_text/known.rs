//! The names a page of audit entries needs, looked up once for the whole page: the people the
//! entries name (actors, accounts, proposers), the extracts they are about, the purposes'
//! and identity providers' names.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use time::OffsetDateTime;

use super::Entry;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::i18n::{self, Lang};
use crate::web::labels;

/// An extract as a sentence names it.
#[derive(Debug, Clone)]
struct Brief {
    purpose: String,
    district: String,
    created_at: i64,
}

/// What the entries of one page name, looked up.
#[derive(Debug, Default)]
pub struct Known {
    /// `Anna Berg (anna)` by user id.
    by_id: HashMap<String, String>,
    /// The same by username.
    by_name: HashMap<String, String>,
    extracts: HashMap<String, Brief>,
    /// A purpose's Swedish and English name by its id.
    purposes: HashMap<String, (String, String)>,
    /// An identity provider's Swedish and English label by its id.
    providers: HashMap<String, (String, String)>,
}

/// A person as the pages name them: `Anna Berg (anna)`, or the username when the display name
/// says nothing more.
fn person(display_name: &str, username: &str) -> String {
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name == username {
        username.to_owned()
    } else {
        format!("{display_name} ({username})")
    }
}

impl Known {
    /// Looks up everything `entries` name, each person and extract once.
    pub async fn gather(state: &AppState, entries: &[Entry]) -> Result<Known, ApiError> {
        let store_error = |e| ApiError::from(crate::extract::Error::from(e));
        let mut known = Known::default();
        let policy = crate::extract::lifecycle::policy_now(state).await?;
        for p in policy.purposes() {
            let names = (p.name_sv.clone(), p.name_en.clone());
            known.purposes.insert(p.id.as_str().to_owned(), names);
        }
        for (id, p) in &state.config.oidc {
            let names = (p.label_sv.clone(), p.label_en.clone());
            known.providers.insert(id.clone(), names);
        }
        // Each id, username and extract is asked for once, found or not.
        let mut asked: HashSet<String> = HashSet::new();
        for entry in entries {
            let (ids, names) = people_named(entry);
            for id in ids {
                if asked.insert(format!("id:{id}"))
                    && let Some(u) = state.store.find_user_by_id(id).await.map_err(store_error)?
                {
                    known.add_person(&u.id, &u.username, &u.display_name);
                }
            }
            for name in names {
                if asked.insert(format!("name:{name}"))
                    && let Some(u) = state
                        .store
                        .find_user_by_username(name)
                        .await
                        .map_err(store_error)?
                {
                    known.add_person(&u.id, &u.username, &u.display_name);
                }
            }
            if let Some(id) = extract_named(entry)
                && asked.insert(format!("extract:{id}"))
                && let Some(row) = state.store.find_extract(id).await.map_err(store_error)?
            {
                known.add_extract(id, &row.purpose, &row.district, row.created_at);
            }
        }
        Ok(known)
    }

    pub(super) fn add_person(&mut self, id: &str, username: &str, display_name: &str) {
        let shown = person(display_name, username);
        self.by_id.insert(id.to_owned(), shown.clone());
        self.by_name.insert(username.to_owned(), shown);
    }

    pub(super) fn add_extract(&mut self, id: &str, purpose: &str, district: &str, created: i64) {
        let brief = Brief {
            purpose: purpose.to_owned(),
            district: district.to_owned(),
            created_at: created,
        };
        self.extracts.insert(id.to_owned(), brief);
    }

    #[cfg(test)]
    pub(super) fn add_purpose(&mut self, id: &str, sv: &str, en: &str) {
        self.purposes
            .insert(id.to_owned(), (sv.to_owned(), en.to_owned()));
    }

    #[cfg(test)]
    pub(super) fn add_provider(&mut self, id: &str, sv: &str, en: &str) {
        self.providers
            .insert(id.to_owned(), (sv.to_owned(), en.to_owned()));
    }

    /// The person with this user id, if the account exists.
    pub(super) fn person_by_id(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }

    /// The person with this username, if the account exists.
    pub(super) fn person_by_name(&self, username: &str) -> Option<&str> {
        self.by_name.get(username).map(String::as_str)
    }

    /// A purpose's name in `lang`; its id when the catalogue no longer has it.
    pub(super) fn purpose(&self, lang: Lang, id: &str) -> String {
        self.purposes
            .get(id)
            .map_or_else(|| id.to_owned(), |(sv, en)| labels::pick(lang, sv, en))
    }

    /// An identity provider's label in `lang`; its id when the configuration no longer has it.
    pub(super) fn provider(&self, lang: Lang, id: &str) -> String {
        self.providers
            .get(id)
            .map_or_else(|| id.to_owned(), |(sv, en)| labels::pick(lang, sv, en))
    }

    /// An extract in words: `Kallelse · Uppsala · 2 mars 2026 · 4F2A-91C3` (the short reference
    /// alone when it is gone).
    pub fn extract_words(&self, lang: Lang, id: &str) -> String {
        let reference = labels::reference(id);
        match self.extracts.get(id) {
            Some(b) => {
                let day = OffsetDateTime::from_unix_timestamp(b.created_at)
                    .map(|t| i18n::date(lang, t))
                    .unwrap_or_default();
                let purpose = self.purpose(lang, &b.purpose);
                let district = labels::district(lang, &b.district);
                format!("{purpose} · {district} · {day} · {reference}")
            }
            None => reference,
        }
    }
}

/// The user ids and usernames an entry names: its actor, an account it is about, and who
/// proposed the change it records.
fn people_named(entry: &Entry) -> (Vec<&str>, Vec<&str>) {
    let mut ids = Vec::new();
    let mut names = Vec::new();
    if let Some(id) = entry.actor.strip_prefix("user:") {
        ids.push(id);
    }
    if let Some(who) = entry.target.strip_prefix("user:") {
        // Most recorders name the account by username, a few by id.
        names.push(who);
        ids.push(who);
    }
    for key in ["proposed_by", "caller", "from_caller"] {
        if let Some(id) = entry
            .details
            .get(key)
            .and_then(Value::as_str)
            .and_then(|p| p.strip_prefix("user:"))
        {
            ids.push(id);
        }
    }
    (ids, names)
}

/// The extract an entry is about, if any.
pub(super) fn extract_named(entry: &Entry) -> Option<&str> {
    entry
        .target
        .strip_prefix("extract:")
        .or_else(|| entry.details.get("extract_id").and_then(Value::as_str))
}
