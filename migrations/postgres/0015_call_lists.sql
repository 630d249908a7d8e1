-- Call lists worked in Registervakt (issue 21): which member (by ledger position) is assigned
-- to which caller, the outcome recorded and the caller's note, sealed under the extract's data
-- key. When the list ends (deadline, or the requester closes it) the rows are counted into
-- call_tallies and deleted in the shredding transaction: only counts per outcome remain.
CREATE TABLE call_assignments (
    extract_id  TEXT   NOT NULL REFERENCES extracts (id),
    position    BIGINT NOT NULL,
    caller_id   TEXT   NOT NULL,
    outcome     TEXT,
    note_sealed BYTEA,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (extract_id, position)
);
CREATE INDEX call_assignments_by_caller ON call_assignments (caller_id, extract_id);
CREATE TABLE call_tallies (
    extract_id TEXT   NOT NULL REFERENCES extracts (id),
    caller_id  TEXT   NOT NULL,
    outcome    TEXT   NOT NULL,
    members    BIGINT NOT NULL,
    PRIMARY KEY (extract_id, caller_id, outcome)
);
