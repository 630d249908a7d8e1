-- Recertification of roles (issue 22, item 2). A role is due `[roles] recertify_days` after it
-- was granted or last confirmed (confirmed_at); past that and not confirmed it is suspended:
-- the row stays, but every read of the roles in force leaves it out. Roles that exist when
-- this migration runs count as confirmed now, so an upgrade suspends nobody at once.
-- notice_for / suspended_for hold the due date (confirmed_at) for which the advance notice
-- was sent and the suspension recorded, so each is done once per due date.
ALTER TABLE user_roles ADD COLUMN confirmed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE user_roles ADD COLUMN confirmed_by TEXT;
ALTER TABLE user_roles ADD COLUMN notice_for BIGINT;
ALTER TABLE user_roles ADD COLUMN suspended_for BIGINT;
UPDATE user_roles SET confirmed_at = CAST(EXTRACT(EPOCH FROM now()) AS BIGINT);
CREATE INDEX user_roles_by_confirmation ON user_roles (confirmed_at);
