-- Every change to the access policy is a new, complete version; the highest one is in force.
-- Old versions stay, so an auditor can read the policy that allowed an old extract.
CREATE TABLE policy_versions (
    version     BIGINT PRIMARY KEY,
    model       TEXT   NOT NULL,
    permissions TEXT   NOT NULL,
    purposes    TEXT   NOT NULL,
    changed_by  TEXT   NOT NULL,
    changed_at  BIGINT NOT NULL,
    comment     TEXT   NOT NULL
);
