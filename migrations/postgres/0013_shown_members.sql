-- Who was shown which members of an extract in the browser (issue 21): one row per page shown,
-- naming the positions (as in `disclosures.position`) and the person. Written in the same
-- transaction as the `extract.view` event, so the ledger can tell "shown to X on the screen"
-- from "in a downloaded file" when it answers "who received member X". Kept after shredding,
-- like the ledger; it holds no member data, only positions.
CREATE TABLE shown_members (
    extract_id     TEXT    NOT NULL REFERENCES extracts (id),
    first_position BIGINT  NOT NULL,
    last_position  BIGINT  NOT NULL,
    shown_to       TEXT    NOT NULL,
    shown_at       BIGINT  NOT NULL,
    CHECK (first_position <= last_position)
);
CREATE INDEX shown_members_by_extract ON shown_members (extract_id, first_position);
