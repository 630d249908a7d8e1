-- Hand-over of an extract to a registered processor (issue 21, item 2): one row per extract
-- that names a processor. The processor's name, contact and agreement are copied here when
-- the extract goes live, so the disclosure register names the processor and the agreement the
-- members were disclosed under, whatever the catalogue says later.
--
-- Every credential is stored only as a SHA-256 hash: the link sent to the processor's contact
-- (`link_hash`), the one-time code sent in a second mail (`code_hash`, bound to the extract)
-- and the deletion-confirmation link (`deletion_hash`). Each is used through a conditional
-- UPDATE, so a second download or a second confirmation cannot slip through in parallel.
CREATE TABLE handovers (
    extract_id            TEXT    PRIMARY KEY REFERENCES extracts (id),
    processor_id          TEXT    NOT NULL,
    processor_name        TEXT    NOT NULL,
    contact               TEXT    NOT NULL,
    agreement_ref         TEXT    NOT NULL,
    -- The agreement's last day, YYYY-MM-DD (UTC), as the catalogue said at hand-over.
    agreement_ends        TEXT    NOT NULL,
    link_hash             TEXT    NOT NULL UNIQUE,
    offered_at            BIGINT  NOT NULL,
    link_expires_at       BIGINT  NOT NULL,
    code_hash             TEXT,
    code_expires_at       BIGINT,
    codes_sent            BIGINT  NOT NULL DEFAULT 0,
    code_failures         BIGINT  NOT NULL DEFAULT 0,
    locked_at             BIGINT,
    downloaded_at         BIGINT,
    deletion_hash         TEXT    UNIQUE,
    delete_by             BIGINT,
    deletion_confirmed_at BIGINT
);
-- The follow-up flag for a processor that has not confirmed deletion by its deadline.
CREATE INDEX handovers_by_deadline ON handovers (delete_by);
