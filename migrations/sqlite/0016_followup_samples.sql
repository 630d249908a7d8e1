-- Sampled follow-up: one draw per district and period, made once (the primary key and a
-- conditional insert), with the items drawn. The population, its SHA-256 and the seed are
-- also in the draw's audit event (followup.sample_draw), so the sample can be re-derived.
-- A review's comment is the reviewer's own text; the audit log holds its length and SHA-256.
CREATE TABLE sample_draws (
    district          TEXT   NOT NULL,
    period_start      BIGINT NOT NULL,
    period_end        BIGINT NOT NULL,
    review_by         BIGINT NOT NULL,
    population        BIGINT NOT NULL,
    population_sha256 TEXT   NOT NULL,
    seed              TEXT   NOT NULL,
    drawn_at          BIGINT NOT NULL,
    early             BOOLEAN NOT NULL,
    signed_off_by     TEXT   REFERENCES users (id),
    signed_off_at     BIGINT,
    PRIMARY KEY (district, period_start)
);

CREATE TABLE sample_items (
    district     TEXT   NOT NULL,
    period_start BIGINT NOT NULL,
    position     BIGINT NOT NULL,
    audit_seq    BIGINT NOT NULL,
    action       TEXT   NOT NULL,
    actor        TEXT   NOT NULL,
    extract_id   TEXT   NOT NULL,
    occurred_at  BIGINT NOT NULL,
    verdict      TEXT,
    comment      TEXT,
    reviewed_by  TEXT   REFERENCES users (id),
    reviewed_at  BIGINT,
    PRIMARY KEY (district, period_start, position),
    FOREIGN KEY (district, period_start) REFERENCES sample_draws (district, period_start)
);

-- The overdue flags read unsigned draws by their deadline.
CREATE INDEX sample_draws_open ON sample_draws (signed_off_at, review_by);
