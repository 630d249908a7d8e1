-- The session a pending TOTP seed was shown in (its token hash): the enrolment page shows the
-- same seed again within that session (a reload keeps the QR code the user already scanned),
-- and a new one in any other session (an abandoned enrolment's seed is never shown again).
ALTER TABLE users ADD COLUMN totp_pending_session TEXT;
