-- The append-only, hash-chained audit log (see src/audit/mod.rs for the hash encoding).
-- Times are Unix milliseconds (UTC). seq runs 1, 2, 3 … without gaps.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    occurred_at INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    entry_hash  TEXT    NOT NULL
);

CREATE INDEX audit_events_by_action ON audit_events (action, occurred_at);

-- Rows are never changed or removed. Dropping these triggers is possible for whoever owns
-- the database file; `registervakt audit verify` and the signed checkpoints catch what follows.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- A new row must continue the chain: next sequence number, previous row's hash.
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
WHEN NEW.seq <> COALESCE((SELECT MAX(seq) FROM audit_events), 0) + 1
  OR NEW.prev_hash <> COALESCE(
        (SELECT entry_hash FROM audit_events ORDER BY seq DESC LIMIT 1),
        '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
    SELECT RAISE(ABORT, 'audit_events: new entry does not continue the chain');
END;
