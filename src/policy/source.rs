//! Which policy is in force, and changing it.
//!
//! Guarantees: the policy in force is the highest version in the broker's store, or — before
//! the first change — the base policy (`[policy] dir`, else the one shipped in the binary).
//! Every request reads the current version number from the store, so a change made on one
//! broker is enforced by every broker at its next request (no stale cache; SECURITY_BAR C7).
//! A change is validated completely before it is stored, becomes a new version (old ones
//! stay readable), and is an audit event with the versions and catalogues before and after,
//! in the same transaction.

use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::RwLock;

use super::{Error, Policy, Texts, parse_catalogue};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::store::policy::PolicyVersionRow;
use crate::store::{self, Store};

/// A policy change's comment: 1–500 characters, line breaks allowed ([`crate::text`]).
pub const COMMENT: crate::text::Rule = crate::text::Rule::lines(1, 500);

/// A policy change's comment, trimmed, if [`COMMENT`] takes it.
pub fn check_comment(comment: &str) -> Result<&str, ChangeError> {
    COMMENT.check(comment).map_err(|_| ChangeError::Comment)
}

/// The base policy and a cache of the latest stored version.
pub struct Source {
    base: Policy,
    base_texts: Texts,
    cache: RwLock<Option<(i64, Policy, Texts)>>,
}

/// The policy in force and its version (`None` = the base policy).
pub struct Current {
    pub version: Option<i64>,
    pub policy: Policy,
    pub texts: Texts,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Invalid(#[from] Error),
    /// Refused by [`COMMENT`]. One sentence for every reason, so the pages (which match this
    /// variant) need not know the text rule's.
    #[error(
        "the comment must say why the policy changes, in 1 to 500 characters, without control \
         characters other than line breaks or characters that change the direction of text"
    )]
    Comment,
    #[error("the audit log cannot be written: {0}")]
    Audit(#[from] audit::Error),
    #[error("store: {0}")]
    Store(#[from] store::Error),
}

impl Source {
    pub async fn new(base_texts: Texts) -> Source {
        Source {
            base: Policy::from_texts_or_deny_all(&base_texts).await,
            base_texts,
            cache: RwLock::new(None),
        }
    }

    /// The policy in force now. A store error is returned, and the caller denies.
    pub async fn current(&self, store: &Store) -> Result<Current, store::Error> {
        let Some(version) = store.latest_policy_version().await? else {
            return Ok(Current {
                version: None,
                policy: self.base.clone(),
                texts: self.base_texts.clone(),
            });
        };
        if let Some((v, policy, texts)) = self.cache.read().await.as_ref()
            && *v == version
        {
            return Ok(Current {
                version: Some(version),
                policy: policy.clone(),
                texts: texts.clone(),
            });
        }
        let row = store
            .find_policy_version(version)
            .await?
            .ok_or_else(|| store::Error::Corrupt(format!("policy version {version} vanished")))?;
        let texts = Texts {
            model: row.model,
            permissions: row.permissions,
            purposes: row.purposes,
        };
        let policy = Policy::from_texts_or_deny_all(&texts).await;
        *self.cache.write().await = Some((version, policy.clone(), texts.clone()));
        Ok(Current {
            version: Some(version),
            policy,
            texts,
        })
    }

    /// The operator at the command line stores a new version with `purposes` and/or
    /// `permissions` replaced, at once. Administrators in the web propose a change instead,
    /// and a second one confirms it (`admin::policy_change`). The model itself changes only
    /// with a release.
    pub async fn change(
        &self,
        store: &Store,
        actor: Actor,
        purposes: Option<String>,
        permissions: Option<String>,
        comment: &str,
        now: OffsetDateTime,
    ) -> Result<i64, ChangeError> {
        let comment = check_comment(comment)?;
        let before = self.current(store).await?;
        let after = before.texts.with(purposes, permissions);
        Policy::from_parts(&after.model, &after.permissions, &after.purposes).await?;
        let mut tx = store.begin().await?;
        let version =
            store_version(&mut tx, &before, &after, actor, comment, json!({}), now).await?;
        tx.commit().await?;
        Ok(version)
    }
}

impl Texts {
    /// These texts with the purpose catalogue and/or the permission table replaced.
    pub fn with(&self, purposes: Option<String>, permissions: Option<String>) -> Texts {
        Texts {
            model: self.model.clone(),
            permissions: permissions.unwrap_or_else(|| self.permissions.clone()),
            purposes: purposes.unwrap_or_else(|| self.purposes.clone()),
        }
    }

    /// SHA-256 of the three texts, as the audit log names a version.
    pub fn sha256(&self) -> String {
        crate::crypto::sha256_hex(
            format!("{}\0{}\0{}", self.model, self.permissions, self.purposes).as_bytes(),
        )
    }
}

/// The purpose ids a catalogue text names (none when it does not parse).
pub fn purpose_ids(text: &str) -> Vec<String> {
    parse_catalogue(text)
        .map(|ps| ps.iter().map(|p| p.id.as_str().to_owned()).collect())
        .unwrap_or_default()
}

/// Stores `after` (already validated) as the next version, in `tx`, with its `policy.change`
/// event: versions and catalogues before and after, plus `extra` details.
pub(crate) async fn store_version(
    tx: &mut store::Tx,
    before: &Current,
    after: &Texts,
    actor: Actor,
    comment: &str,
    extra: serde_json::Value,
    now: OffsetDateTime,
) -> Result<i64, ChangeError> {
    let row = PolicyVersionRow {
        version: 0,
        model: after.model.clone(),
        permissions: after.permissions.clone(),
        purposes: after.purposes.clone(),
        changed_by: actor.as_str().to_owned(),
        changed_at: now.unix_timestamp(),
        comment: comment.to_owned(),
    };
    let version = store::policy::insert_policy_version(tx, &row).await?;
    let mut details = json!({
        "from_version": before.version, "to_version": version, "comment": comment,
        "purposes_before": purpose_ids(&before.texts.purposes),
        "purposes_after": purpose_ids(&after.purposes),
        "permissions_changed": before.texts.permissions != after.permissions,
        "sha256_before": before.texts.sha256(), "sha256_after": after.sha256(),
    });
    if let (Some(map), Some(more)) = (details.as_object_mut(), extra.as_object()) {
        map.extend(more.clone());
    }
    let event = Event::new(
        EventKind::PolicyChanged,
        actor,
        "policy",
        Outcome::Success,
        details,
    );
    audit::record(tx, &event, now).await?;
    Ok(version)
}
