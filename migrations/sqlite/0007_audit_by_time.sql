-- The newest time the audit log holds, read before every release (src/audit/clock.rs: no
-- member data leaves while the clock reads earlier than that). MAX(occurred_at) over this
-- index is one lookup, however long the log.
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
