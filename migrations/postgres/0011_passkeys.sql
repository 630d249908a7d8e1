-- Passkeys (WebAuthn credentials), one or more per user, beside or instead of TOTP.
-- The credential (public key, id, signature counter, backup flags) is kept sealed under the
-- key-encryption key with the row's id and user as AAD, so a credential copied into another
-- user's row does not open. credential_id is the credential's id (base64url), unique: one
-- authenticator credential belongs to one account.
CREATE TABLE passkeys (
    id            TEXT   PRIMARY KEY,
    user_id       TEXT   NOT NULL REFERENCES users (id),
    name          TEXT   NOT NULL,
    credential_id TEXT   NOT NULL UNIQUE,
    sealed        BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);

-- A WebAuthn ceremony begun and not yet finished: its state, sealed, bound to the session
-- that began it (one at a time per session; taken once; stale after a few minutes).
-- kind: 'register', 'sign_in' or 'step_up'.
CREATE TABLE passkey_ceremonies (
    session_hash TEXT   PRIMARY KEY,
    kind         TEXT   NOT NULL CHECK (kind IN ('register', 'sign_in', 'step_up')),
    sealed       BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL
);
