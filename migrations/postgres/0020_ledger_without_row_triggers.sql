-- The disclosure ledger's rows no longer carry a foreign key to their extract (issue 19).
-- PostgreSQL checks a foreign key with a trigger per inserted row that looks the extract up
-- and locks it: about 0.4 s for each of the two tables per 100 000 rows, more than half of
-- what filing them cost. Every statement that writes ledger rows runs in a transaction that
-- has first written that extract's own row: a build updates it under its attempt number
-- (`renew_build_lease`, `finish_build`), which changes nothing when the extract is not there
-- and then writes no ledger row, and locks the row until commit; a do-not-call list inserts
-- its extract first. No code deletes an extract. SQLite checks its foreign keys with one
-- lookup in its page cache per row, at no measurable cost, and keeps them.
ALTER TABLE disclosures DROP CONSTRAINT disclosures_extract_id_fkey;
ALTER TABLE disclosed_members DROP CONSTRAINT disclosed_members_extract_id_fkey;
