-- Follow-up flags are computed from extracts, verdicts and the audit log, under ids derived
-- from what raised them; only the acknowledgement is stored, so it sticks to the same flag.
-- The comment is the acknowledger's own text; the audit event records that it was given.
CREATE TABLE followup_acks (
    flag_id         TEXT   PRIMARY KEY,
    kind            TEXT   NOT NULL,
    district        TEXT   NOT NULL,
    acknowledged_by TEXT   NOT NULL REFERENCES users (id),
    comment         TEXT   NOT NULL,
    acknowledged_at BIGINT NOT NULL
);

-- Flags and reports read extracts by when they were requested (downloads and denials by
-- action and time use audit_events_by_action from 0001).
CREATE INDEX extracts_by_created ON extracts (created_at);
