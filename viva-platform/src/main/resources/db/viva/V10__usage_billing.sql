-- Full mode part 2: usage counts, the batches already applied (idempotent writes), invoices.
-- Portable SQL: runs on PostgreSQL and on H2 in PostgreSQL mode. Versioned 10 to leave room for
-- part 1's own later migrations.

-- One row per batch id applied, written in the same transaction as the batch's counts: a batch
-- delivered twice (at-least-once) is applied once.
CREATE TABLE usage_batches (
  batch_id   VARCHAR(64)  PRIMARY KEY,
  source     VARCHAR(100) NOT NULL,
  events     BIGINT       NOT NULL,
  applied_at BIGINT       NOT NULL
);

-- Requests per key, minute (minutes since the epoch, UTC), outcome and the tier that served them.
CREATE TABLE usage_counts (
  key_id   VARCHAR(40) NOT NULL,
  at_minute BIGINT     NOT NULL,
  outcome  VARCHAR(16) NOT NULL,
  tier     VARCHAR(64) NOT NULL,
  requests BIGINT      NOT NULL,
  CONSTRAINT usage_counts_pk PRIMARY KEY (key_id, at_minute, outcome, tier)
);
CREATE INDEX usage_counts_minute ON usage_counts (at_minute);

-- One invoice per owner and billing period (YYYY-MM); the unique constraint makes closing a
-- period twice a no-op.
CREATE TABLE invoices (
  id        VARCHAR(40)  PRIMARY KEY,
  owner_id  VARCHAR(200) NOT NULL,
  period    VARCHAR(7)   NOT NULL,
  currency  VARCHAR(3)   NOT NULL,
  total     BIGINT       NOT NULL,
  requests  BIGINT       NOT NULL,
  issued_at BIGINT       NOT NULL,
  CONSTRAINT invoices_owner_period UNIQUE (owner_id, period)
);
CREATE INDEX invoices_period ON invoices (period);

CREATE TABLE invoice_lines (
  invoice_id  VARCHAR(40)  NOT NULL,
  line_no     INT          NOT NULL,
  key_id      VARCHAR(40)  NOT NULL,
  tier        VARCHAR(64)  NOT NULL,
  kind        VARCHAR(16)  NOT NULL,
  description VARCHAR(200) NOT NULL,
  quantity    BIGINT       NOT NULL,
  unit_price  BIGINT,
  amount      BIGINT       NOT NULL,
  CONSTRAINT invoice_lines_pk PRIMARY KEY (invoice_id, line_no)
);
