//! Where a passkey ceremony's state and the stored credentials are sealed and opened.
//!
//! Guarantees: a ceremony's state is sealed with its session and kind as AAD and taken once
//! (one DELETE … RETURNING) within [`CEREMONY_TTL_SECS`](super::CEREMONY_TTL_SECS); a stored
//! credential is sealed with its own id and its user as AAD, so a row copied to another user
//! does not open. Never: keep either in the clear.

use time::OffsetDateTime;
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PasskeyRegistration};

use super::{CEREMONY_TTL_SECS, Ceremonies};
use crate::auth::session::Session;
use crate::auth::{Error, unix};
use crate::crypto::Keyring;
use crate::store::passkeys::PasskeyRow;
use crate::store::{self, Tx};

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) enum Pending {
    Register(PasskeyRegistration),
    Authenticate(PasskeyAuthentication),
}

fn ceremony_aad(kind: &str, session_hash: &str) -> Vec<u8> {
    format!("registervakt/passkey-ceremony\0{kind}\0{session_hash}").into_bytes()
}

pub(super) fn credential_aad(user_id: &str, id: &str) -> Vec<u8> {
    format!("registervakt/passkey\0user:{user_id}\0id:{id}").into_bytes()
}

pub(super) async fn keep(
    c: &Ceremonies<'_>,
    session: &Session,
    kind: &str,
    pending: &Pending,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(pending).map_err(|e| Error::Internal(e.to_string()))?,
    );
    let sealed = c
        .keyring
        .seal(&plain, &ceremony_aad(kind, &session.token_hash))?;
    let mut tx = c.store.begin().await?;
    store::passkeys::put_ceremony(&mut tx, &session.token_hash, kind, &sealed, unix(now)).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn take(
    tx: &mut Tx,
    keyring: &Keyring,
    session: &Session,
    kind: &str,
    now: OffsetDateTime,
) -> Result<Option<Pending>, Error> {
    let not_before = unix(now) - CEREMONY_TTL_SECS;
    let Some(sealed) =
        store::passkeys::take_ceremony(tx, &session.token_hash, kind, not_before).await?
    else {
        return Ok(None);
    };
    let plain =
        zeroize::Zeroizing::new(keyring.open(&sealed, &ceremony_aad(kind, &session.token_hash))?);
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// A credential's id as stored (base64url, RFC 4648 §5), to find the passkey an assertion used.
pub(super) fn credential_key(id: &webauthn_rs::prelude::CredentialID) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_ref() as &[u8])
}

pub(super) fn open_credential(keyring: &Keyring, row: &PasskeyRow) -> Result<Passkey, Error> {
    let plain =
        zeroize::Zeroizing::new(keyring.open(&row.sealed, &credential_aad(&row.user_id, &row.id))?);
    serde_json::from_slice(&plain).map_err(|e| Error::Internal(e.to_string()))
}
