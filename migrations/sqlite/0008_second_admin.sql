-- Four eyes on administration (SECURITY_BAR C8): a new account and a policy change proposed by
-- one administrator take effect only when a different administrator confirms them.

-- A proposed account. The account itself (users, user_roles, invitations) is made only at
-- confirmation; until then the username is reserved here, and nothing can sign in.
CREATE TABLE user_proposals (
    id           TEXT   PRIMARY KEY,
    username     TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    -- Where the invitation is e-mailed when [smtp] is set; also the account's notice address.
    email        TEXT,
    -- ROLE:DISTRICT, one per line.
    roles        TEXT   NOT NULL,
    requested_by TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    decided_by   TEXT,
    decided_at   BIGINT,
    outcome      TEXT   CHECK (outcome IN ('applied', 'rejected')),
    -- The account made when it was applied.
    user_id      TEXT   REFERENCES users (id)
);
-- One pending proposal per username.
CREATE UNIQUE INDEX user_proposals_pending_username ON user_proposals (username)
    WHERE outcome IS NULL;

-- A proposed policy version, against the version in force when it was proposed.
CREATE TABLE policy_proposals (
    id           TEXT   PRIMARY KEY,
    -- The version in force when proposed (NULL: the base policy); a confirmation against
    -- any other version is refused, so nobody confirms a diff they did not see.
    base_version BIGINT,
    permissions  TEXT   NOT NULL,
    purposes     TEXT   NOT NULL,
    comment      TEXT   NOT NULL,
    proposed_by  TEXT   NOT NULL,
    proposed_at  BIGINT NOT NULL,
    decided_by   TEXT,
    decided_at   BIGINT,
    outcome      TEXT   CHECK (outcome IN ('applied', 'rejected')),
    -- The version it became.
    version      BIGINT
);
