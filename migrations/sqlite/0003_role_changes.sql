-- Role changes that need a second administrator (granting `admin`, or any party-wide role):
-- one admin proposes, a different admin confirms, and only then is the role changed.
CREATE TABLE role_change_requests (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id),
    change       TEXT   NOT NULL CHECK (change IN ('grant', 'revoke')),
    role         TEXT   NOT NULL CHECK (role IN ('staff', 'approver', 'admin', 'auditor')),
    district     TEXT   NOT NULL,
    requested_by TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    decided_by   TEXT,
    decided_at   BIGINT,
    outcome      TEXT   CHECK (outcome IN ('applied', 'rejected'))
);
