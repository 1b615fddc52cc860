-- What the flush worker writes from the outbox: confirmed reservations, their payments
-- and every wallet movement. Every primary key is the idempotency id the Lua scripts
-- assigned, so a replayed outbox entry inserts nothing. No foreign keys to the catalog:
-- a flush must never fail because a catalog row is missing.
CREATE TABLE IF NOT EXISTS reservations (
  reservation_id VARCHAR(64) NOT NULL PRIMARY KEY,
  payment_id VARCHAR(64) NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  concert_id BIGINT UNSIGNED NOT NULL,
  schedule_id BIGINT UNSIGNED NOT NULL,
  seat_no INT UNSIGNED NOT NULL,
  amount BIGINT UNSIGNED NOT NULL,
  confirmed_at DATETIME(3) NOT NULL,
  flushed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY idx_reservations_user (user_id),
  KEY idx_reservations_seat (schedule_id, seat_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS payments (
  payment_id VARCHAR(64) NOT NULL PRIMARY KEY,
  reservation_id VARCHAR(64) NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  amount BIGINT UNSIGNED NOT NULL,
  ledger_id VARCHAR(64) NOT NULL,
  paid_at DATETIME(3) NOT NULL,
  UNIQUE KEY uq_payments_reservation (reservation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS wallet_ledger (
  ledger_id VARCHAR(64) NOT NULL PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  kind VARCHAR(16) NOT NULL,
  amount BIGINT UNSIGNED NOT NULL,
  balance_after BIGINT UNSIGNED NOT NULL,
  idempotency_key VARCHAR(255) NULL,
  reservation_id VARCHAR(64) NULL,
  created_at DATETIME(3) NOT NULL,
  KEY idx_wallet_ledger_user (user_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
