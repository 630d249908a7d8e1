-- The append-only, hash-chained audit log (see src/audit/mod.rs for the hash encoding).
-- Times are Unix milliseconds (UTC). seq runs 1, 2, 3 … without gaps.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    details     TEXT   NOT NULL,
    prev_hash   TEXT   NOT NULL,
    entry_hash  TEXT   NOT NULL
);

CREATE INDEX audit_events_by_action ON audit_events (action, occurred_at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;

CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- A new row must continue the chain: next sequence number, previous row's hash.
CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq  BIGINT;
    last_hash TEXT;
BEGIN
    SELECT seq, entry_hash INTO last_seq, last_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
    IF NEW.seq <> COALESCE(last_seq, 0) + 1
       OR NEW.prev_hash <> COALESCE(last_hash, '0000000000000000000000000000000000000000000000000000000000000000') THEN
        RAISE EXCEPTION 'audit_events: new entry does not continue the chain';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_chain();
