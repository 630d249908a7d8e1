-- Extracts: request → approval → encrypted snapshot → delivery → crypto-shredding.
-- Times are Unix seconds (UTC). Nothing here is member data in the clear: rows live only as
-- AES-256-GCM chunks under a per-extract data key, which is stored only wrapped by the
-- key-encryption key and set to NULL when the extract is shredded.
CREATE TABLE extracts (
    id                TEXT    PRIMARY KEY,
    requester_id      TEXT    NOT NULL REFERENCES users (id),
    purpose           TEXT    NOT NULL,
    district          TEXT    NOT NULL,
    -- The whole request as canonical JSON (fields, filters, lifetime, justification).
    request           TEXT    NOT NULL,
    -- SHA-256 over the request and requester: what approvers approve (SECURITY_BAR C5).
    request_hash      TEXT    NOT NULL,
    -- The policy's hash of the same request (purpose, district, fields, lifetime, rows).
    policy_hash       TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN
                        ('pending', 'denied', 'lapsed', 'building', 'live', 'shredded', 'failed')),
    approvers_needed  BIGINT  NOT NULL,
    estimated_rows    BIGINT  NOT NULL,
    lifetime_minutes  BIGINT  NOT NULL,
    max_downloads     BIGINT  NOT NULL,
    downloads         BIGINT  NOT NULL DEFAULT 0,
    created_at        BIGINT  NOT NULL,
    pending_until     BIGINT  NOT NULL,
    decided_at        BIGINT,
    -- A building extract is leased by one broker; an expired lease is taken over by a sweeper.
    lease_until       BIGINT,
    build_attempts    BIGINT  NOT NULL DEFAULT 0,
    live_at           BIGINT,
    expires_at        BIGINT,
    row_count         BIGINT,
    chunk_count       BIGINT ,
    key_id            TEXT,
    wrapped_key       BYTEA,
    last_download_at  BIGINT,
    expiry_warned     BOOLEAN NOT NULL DEFAULT FALSE,
    ended_at          BIGINT,
    end_reason        TEXT,
    attested_at       BIGINT
);
CREATE INDEX extracts_by_state ON extracts (state, expires_at);
CREATE INDEX extracts_by_requester ON extracts (requester_id, created_at);
CREATE INDEX extracts_by_district ON extracts (district, state);

-- Each approver's verdict on one request, bound to the request hash they saw.
CREATE TABLE extract_decisions (
    extract_id   TEXT   NOT NULL REFERENCES extracts (id),
    approver_id  TEXT   NOT NULL REFERENCES users (id),
    verdict      TEXT   NOT NULL CHECK (verdict IN ('approve', 'deny')),
    request_hash TEXT   NOT NULL,
    comment      TEXT   NOT NULL,
    decided_at   BIGINT NOT NULL,
    PRIMARY KEY (extract_id, approver_id)
);

-- The sealed rows of a live extract; deleted (and, with secure_delete, overwritten) at shredding.
CREATE TABLE extract_chunks (
    extract_id TEXT    NOT NULL REFERENCES extracts (id),
    seq        BIGINT  NOT NULL,
    sealed     BYTEA    NOT NULL,
    PRIMARY KEY (extract_id, seq)
);

-- The disclosure ledger: which members an extract held, as keyed pseudonyms (the first 128
-- bits of HMAC-SHA256 under the broker's pseudonym key), and where each stood in the delivered
-- file (the per-extract keyed order is the file's fingerprint). Kept after shredding, so "who
-- received member M" stays answerable (E6). `row_ref` is a keyed 64-bit tag of the row's
-- names (or of all its cells when it has no names), so a leaked file without member numbers
-- still finds its extract (see `extract::fingerprint`).
CREATE TABLE disclosures (
    extract_id TEXT   NOT NULL REFERENCES extracts (id),
    position   BIGINT NOT NULL,
    member_ref BYTEA   NOT NULL,
    row_ref    BYTEA   NOT NULL,
    PRIMARY KEY (extract_id, position)
);
CREATE INDEX disclosures_by_member ON disclosures (member_ref);
-- A leaked file without member numbers is traced by its rows' keyed name tags.
CREATE INDEX disclosures_by_row ON disclosures (row_ref);

-- In-app notices (and the record of which were also e-mailed). No member data.
CREATE TABLE notices (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    kind       TEXT    NOT NULL,
    extract_id TEXT    REFERENCES extracts (id),
    message    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    read_at    BIGINT,
    emailed    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notices_by_user ON notices (user_id, created_at);

-- Keys the broker keeps sealed under the key-encryption key (the pseudonym key).
CREATE TABLE broker_keys (
    name       TEXT   PRIMARY KEY,
    sealed     BYTEA   NOT NULL,
    created_at BIGINT NOT NULL
);

-- The incident switch: while frozen no extract is created, approved or released.
CREATE TABLE extract_freeze (
    id         BIGINT  PRIMARY KEY CHECK (id = 1),
    frozen     BOOLEAN NOT NULL,
    reason     TEXT    NOT NULL,
    changed_by TEXT    NOT NULL,
    changed_at BIGINT  NOT NULL
);

-- An extract's whole story (request, verdicts, snapshot, downloads, receipt) is read by target.
CREATE INDEX audit_events_by_target ON audit_events (target, seq);

-- Where notices are e-mailed (optional).
ALTER TABLE users ADD COLUMN email TEXT;
