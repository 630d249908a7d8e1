-- The requester may send the processor's link again (a lost mail, an expired link) while the
-- list is neither downloaded nor locked: the new link replaces the old one, whose hash is
-- overwritten, so only the newest link works. `links_sent` counts the link mails, so a
-- hand-over sends at most a few (extract::handover::MAX_LINKS).
ALTER TABLE handovers ADD COLUMN links_sent BIGINT NOT NULL DEFAULT 1;
