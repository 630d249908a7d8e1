-- How a session's last second-factor proof was made: 'totp', 'recovery_code', 'passkey' or
-- 'oidc:<provider>' (NULL while the second factor is pending). Step-up offers the methods the
-- user has; a policy may require a phishing-resistant one.
ALTER TABLE sessions ADD COLUMN factor TEXT;
-- An account that signs in only through an identity provider (its id in the configuration):
-- it has no password, and its invitation is accepted by signing in there.
ALTER TABLE users ADD COLUMN oidc_provider TEXT;
-- Accounts proposed in the web may sign in only through an identity provider, too.
ALTER TABLE user_proposals ADD COLUMN oidc_provider TEXT;
