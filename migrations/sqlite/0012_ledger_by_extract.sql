-- The disclosure ledger laid out for how it is written (issue 19). Its two indexes over all
-- extracts (member pseudonym, row tag) took random inserts: once the ledger held millions of
-- rows every build rewrote pages all over them. Now nothing in the ledger is keyed across
-- extracts:
--   disclosures        (extract_id, position)            written in order while building;
--   disclosed_members  (extract_id, member_ref, position) filled once per extract, in
--                      member order, by the transaction that makes it live.
-- "Who received member X" is one keyed lookup per released extract in disclosed_members; the
-- leak trace looks keys up per extract there, or reads an extract's rows in order.
DROP INDEX disclosures_by_member;
DROP INDEX disclosures_by_row;
CREATE TABLE disclosed_members (
    extract_id TEXT   NOT NULL REFERENCES extracts (id),
    member_ref BLOB   NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (extract_id, member_ref, position)
) WITHOUT ROWID;
INSERT INTO disclosed_members (extract_id, member_ref, position)
    SELECT extract_id, member_ref, position FROM disclosures
    ORDER BY extract_id, member_ref, position;
