-- 0001: the purchases ledger, created on every shard alike.
--
-- Applied once per shard by agents.purchases.ledger (recorded in schema_migrations). MariaDB and
-- MySQL commit DDL implicitly, so every statement here is idempotent (IF NOT EXISTS): a crash
-- between a statement and the version record is repaired by simply running the file again.
--
-- Ids are compared byte for byte (utf8mb4_bin): Firebase uids and Stripe ids are case
-- sensitive, and the server's default collation (utf8mb4_unicode_ci) is not.
-- Money is integer cents (BIGINT), never a float or a decimal fraction.

-- One row per purchase, on the BUYER's shard. `live_picture_id` equals picture_id while the
-- purchase is pending, awaiting payment or completed, and is NULL once it failed or was
-- refunded: UNIQUE (buyer_id, live_picture_id) then lets a buyer hold at most one live purchase
-- of a picture (NULLs never collide), so a picture cannot be bought, or paid for, twice.
-- `sale_recorded` is the outbox flag for the seller's shard: set once the sale row exists there.
CREATE TABLE IF NOT EXISTS purchases (
    purchase_id       VARCHAR(128)  NOT NULL,
    picture_id        VARCHAR(128)  NOT NULL,
    buyer_id          VARCHAR(128)  NOT NULL,
    seller_id         VARCHAR(128)  NOT NULL,
    amount_cents      BIGINT        NOT NULL,
    currency          CHAR(3)       NOT NULL,
    status            ENUM('pending', 'awaiting_payment', 'completed', 'failed', 'refunded')
                      NOT NULL DEFAULT 'pending',
    live_picture_id   VARCHAR(128)  NULL,
    payment_intent_id VARCHAR(255)  NULL,
    client_secret     VARCHAR(255)  NULL,
    failure_reason    VARCHAR(1000) NULL,
    idempotency_key   VARCHAR(255)  NULL,
    sale_recorded     BOOLEAN       NOT NULL DEFAULT FALSE,
    created_at        DATETIME(3)   NOT NULL,
    updated_at        DATETIME(3)   NOT NULL,
    completed_at      DATETIME(3)   NULL,
    PRIMARY KEY (purchase_id),
    UNIQUE KEY uq_purchases_payment_intent (payment_intent_id),
    UNIQUE KEY uq_purchases_idempotency_key (buyer_id, idempotency_key),
    UNIQUE KEY uq_purchases_live_picture (buyer_id, live_picture_id),
    KEY ix_purchases_buyer_created (buyer_id, created_at),
    KEY ix_purchases_sale_outbox (sale_recorded, status),
    CONSTRAINT ck_purchases_amount CHECK (amount_cents >= 0),
    CONSTRAINT ck_purchases_live CHECK (
        (status IN ('pending', 'awaiting_payment', 'completed') AND live_picture_id = picture_id)
        OR (status IN ('failed', 'refunded') AND live_picture_id IS NULL)
    )
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every Stripe event applied to a purchase; the event id as primary key makes a redelivered
-- webhook a no-op. kind: 'succeeded' (money applied: the purchase completed), 'failed' (an
-- attempt failed, amount 0), 'unapplied' (money received that the ledger could not apply, e.g.
-- a payment for a purchase already paid through another intent: a refund is due, see `note`).
CREATE TABLE IF NOT EXISTS payments (
    event_id          VARCHAR(255)  NOT NULL,
    purchase_id       VARCHAR(128)  NOT NULL,
    kind              VARCHAR(32)   NOT NULL,
    amount_cents      BIGINT        NOT NULL,
    currency          CHAR(3)       NOT NULL,
    payment_intent_id VARCHAR(255)  NULL,
    note              VARCHAR(1000) NULL,
    received_at       DATETIME(3)   NOT NULL,
    PRIMARY KEY (event_id),
    KEY ix_payments_purchase (purchase_id),
    KEY ix_payments_kind_received (kind, received_at),
    CONSTRAINT ck_payments_amount CHECK (amount_cents >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The right to download a picture's original, on the buyer's shard.
CREATE TABLE IF NOT EXISTS licences (
    buyer_id    VARCHAR(128) NOT NULL,
    picture_id  VARCHAR(128) NOT NULL,
    purchase_id VARCHAR(128) NOT NULL,
    granted_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (buyer_id, picture_id),
    KEY ix_licences_purchase (purchase_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Materialized on the SELLER's shard when a purchase completes, so /me/sales reads one shard.
CREATE TABLE IF NOT EXISTS sales (
    seller_id    VARCHAR(128) NOT NULL,
    purchase_id  VARCHAR(128) NOT NULL,
    picture_id   VARCHAR(128) NOT NULL,
    buyer_id     VARCHAR(128) NOT NULL,
    amount_cents BIGINT       NOT NULL,
    currency     CHAR(3)      NOT NULL,
    completed_at DATETIME(3)  NOT NULL,
    PRIMARY KEY (seller_id, purchase_id),
    KEY ix_sales_seller_completed (seller_id, completed_at),
    CONSTRAINT ck_sales_amount CHECK (amount_cents >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Running totals per seller and currency, updated in the same transaction as the sale row.
CREATE TABLE IF NOT EXISTS seller_totals (
    seller_id   VARCHAR(128) NOT NULL,
    currency    CHAR(3)      NOT NULL,
    sales_count BIGINT       NOT NULL,
    gross_cents BIGINT       NOT NULL,
    updated_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (seller_id, currency)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Kafka command ids already applied, with their outcome, in the same transaction as the write.
CREATE TABLE IF NOT EXISTS processed_commands (
    command_id   VARCHAR(128) NOT NULL,
    purchase_id  VARCHAR(128) NULL,
    result       JSON         NOT NULL,
    processed_at DATETIME(3)  NOT NULL,
    PRIMARY KEY (command_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
