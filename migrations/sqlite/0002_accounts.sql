-- Accounts, roles, invitations, second factors and sessions. Times are Unix seconds (UTC).
-- Nothing secret is stored in the clear: passwords as argon2id PHC strings, TOTP seeds sealed
-- under the key-encryption key, invitation, session and recovery tokens as SHA-256 hashes.
CREATE TABLE users (
    id                TEXT    PRIMARY KEY,
    username          TEXT    NOT NULL UNIQUE,
    display_name      TEXT    NOT NULL,
    password_hash     TEXT,
    status            TEXT    NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    totp_seed         BLOB,
    totp_pending_seed BLOB,
    totp_last_step    BIGINT,
    totp_failures     INTEGER NOT NULL DEFAULT 0,
    totp_locks        INTEGER NOT NULL DEFAULT 0,
    totp_locked_until BIGINT,
    totp_disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    -- Bumped when the user is disabled, loses or gains a role, or has 2FA reset: every
    -- session made under an older epoch is dead at its next request (SECURITY_BAR B1, C7).
    auth_epoch        BIGINT  NOT NULL DEFAULT 0,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL
);

-- district '*' means party-wide (central roles such as the DPO).
CREATE TABLE user_roles (
    user_id    TEXT   NOT NULL REFERENCES users (id),
    role       TEXT   NOT NULL CHECK (role IN ('staff', 'approver', 'admin', 'auditor')),
    district   TEXT   NOT NULL,
    granted_by TEXT   NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role, district)
);

CREATE TABLE invitations (
    token_hash TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE recovery_codes (
    user_id   TEXT   NOT NULL REFERENCES users (id),
    code_hash TEXT   NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- stage: 'password' (password or OIDC done, second factor pending), 'enrol' (must enrol
-- TOTP first), 'full' (two factors).
CREATE TABLE sessions (
    token_hash       TEXT   PRIMARY KEY,
    user_id          TEXT   NOT NULL REFERENCES users (id),
    stage            TEXT   NOT NULL CHECK (stage IN ('password', 'enrol', 'full')),
    auth_epoch       BIGINT NOT NULL,
    csrf_token       TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    second_factor_at BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Users are keyed by (issuer, subject), never by e-mail (SECURITY_BAR A7).
CREATE TABLE oidc_identities (
    issuer  TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (issuer, subject)
);

-- An OIDC login in flight: state, nonce and PKCE verifier, sealed; deleted on first use.
CREATE TABLE oidc_pending (
    state_hash TEXT   PRIMARY KEY,
    sealed     BLOB  NOT NULL,
    created_at BIGINT NOT NULL
);

-- Failed sign-ins per client address, across accounts (SECURITY_BAR A4).
CREATE TABLE ip_failures (
    ip           TEXT    PRIMARY KEY,
    window_start BIGINT  NOT NULL,
    failures     INTEGER NOT NULL
);
