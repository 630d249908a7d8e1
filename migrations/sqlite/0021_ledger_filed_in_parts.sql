-- The ledger filed by member in parts, off the transaction that makes an extract live (issue
-- 19). Migration 12 filed an extract's members once, all of them sorted by the transaction
-- that made it live: 0.13-0.16 s of a 100 000-row build, and seconds of a 1 000 000-row one,
-- in which the extract waited. Now each transaction of a build files its own ledger rows,
-- sorted by member, as one part of disclosed_members while the next rows are read; a part is
-- named by the position it begins at. disclosed_member_parts lists an extract's parts, so "who
-- received member X" is one keyed lookup per part of each released extract, and nothing in
-- the ledger is keyed across extracts. The members filed before are each extract's part 0.
CREATE TABLE disclosed_member_parts (
    extract_id TEXT   NOT NULL REFERENCES extracts (id),
    part       BIGINT NOT NULL,
    PRIMARY KEY (extract_id, part)
) WITHOUT ROWID;
INSERT INTO disclosed_member_parts (extract_id, part)
    SELECT DISTINCT extract_id, 0 FROM disclosed_members ORDER BY extract_id;
CREATE TABLE disclosed_members_in_parts (
    extract_id TEXT   NOT NULL REFERENCES extracts (id),
    part       BIGINT NOT NULL,
    member_ref BLOB   NOT NULL,
    position   BIGINT NOT NULL,
    PRIMARY KEY (extract_id, part, member_ref, position)
) WITHOUT ROWID;
INSERT INTO disclosed_members_in_parts (extract_id, part, member_ref, position)
    SELECT extract_id, 0, member_ref, position FROM disclosed_members
    ORDER BY extract_id, member_ref, position;
DROP TABLE disclosed_members;
ALTER TABLE disclosed_members_in_parts RENAME TO disclosed_members;
