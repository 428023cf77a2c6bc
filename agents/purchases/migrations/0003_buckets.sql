-- 0003: buckets, the unit of placement (see agents/purchases/ledger/__init__.py).
--
-- A user's bucket is the first 8 bytes of sha256(user id), big-endian, modulo 4096: the low
-- 12 bits, that is the 14th to 16th hex digits of SHA2(id, 256). Every table keyed by a user
-- carries it as a stored generated column, computed by the server for old and new rows alike,
-- so that moving a bucket finds its rows through an index:
--   purchases, licences      the buyer's bucket
--   sales, seller_totals     the seller's bucket
--   payments, processed_commands   through their purchase (the buyer's bucket)
-- agents.purchases.ledger.routing.bucket_of computes the same number; a test pins both.
ALTER TABLE purchases
    ADD COLUMN IF NOT EXISTS bucket SMALLINT UNSIGNED
        AS (CONV(SUBSTRING(SHA2(buyer_id, 256), 14, 3), 16, 10)) PERSISTENT,
    ADD INDEX IF NOT EXISTS ix_purchases_bucket (bucket);

ALTER TABLE licences
    ADD COLUMN IF NOT EXISTS bucket SMALLINT UNSIGNED
        AS (CONV(SUBSTRING(SHA2(buyer_id, 256), 14, 3), 16, 10)) PERSISTENT,
    ADD INDEX IF NOT EXISTS ix_licences_bucket (bucket);

ALTER TABLE sales
    ADD COLUMN IF NOT EXISTS bucket SMALLINT UNSIGNED
        AS (CONV(SUBSTRING(SHA2(seller_id, 256), 14, 3), 16, 10)) PERSISTENT,
    ADD INDEX IF NOT EXISTS ix_sales_bucket (bucket);

ALTER TABLE seller_totals
    ADD COLUMN IF NOT EXISTS bucket SMALLINT UNSIGNED
        AS (CONV(SUBSTRING(SHA2(seller_id, 256), 14, 3), 16, 10)) PERSISTENT,
    ADD INDEX IF NOT EXISTS ix_seller_totals_bucket (bucket);

ALTER TABLE processed_commands ADD INDEX IF NOT EXISTS ix_processed_commands_purchase (purchase_id);

-- The buckets this shard owns. 'owned': its transactions claim the row with a shared lock
-- before touching a user's rows. 'moving': a move to shard `moving_to` (an index in the
-- MYSQL_SHARDS list) has begun; transactions wait until the bucket is gone from here.
CREATE TABLE IF NOT EXISTS ledger_buckets (
    bucket     SMALLINT UNSIGNED        NOT NULL,
    state      ENUM('owned', 'moving')  NOT NULL,
    moving_to  SMALLINT UNSIGNED        NULL,
    updated_at DATETIME(3)              NOT NULL,
    PRIMARY KEY (bucket),
    CONSTRAINT ck_ledger_buckets_range CHECK (bucket < 4096),
    CONSTRAINT ck_ledger_buckets_moving CHECK ((state = 'moving') = (moving_to IS NOT NULL))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row: this shard received its first buckets (seeded_shards = how many shards the first
-- layout spread them over; 0 for a shard added later, which gets buckets only by moves).
CREATE TABLE IF NOT EXISTS ledger_layout (
    id            TINYINT     NOT NULL,
    shard_index   INT         NOT NULL,
    seeded_shards INT         NOT NULL,
    seeded_at     DATETIME(3) NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT ck_ledger_layout_one CHECK (id = 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
