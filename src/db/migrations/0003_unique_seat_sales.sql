-- A seat is sold at most once: confirmed reservations UNIQUE per (schedule, seat). Rows
-- that already break it (a seat sold twice, before this index) are moved, all but the
-- first confirmed, to reservation_seat_conflicts for an operator to settle (refund one
-- buyer): never deleted silently. Runs on MySQL 8 and MariaDB 10.11.
CREATE TABLE IF NOT EXISTS reservation_seat_conflicts LIKE reservations;
INSERT IGNORE INTO reservation_seat_conflicts
  SELECT r.* FROM reservations r
  WHERE EXISTS (
    SELECT 1 FROM reservations k
    WHERE k.schedule_id = r.schedule_id AND k.seat_no = r.seat_no
      AND (k.confirmed_at < r.confirmed_at
           OR (k.confirmed_at = r.confirmed_at AND k.reservation_id < r.reservation_id))
  );
DELETE r FROM reservations r
  JOIN reservation_seat_conflicts c ON c.reservation_id = r.reservation_id;
ALTER TABLE reservations
  DROP INDEX idx_reservations_seat,
  ADD UNIQUE KEY uq_reservations_seat (schedule_id, seat_no);
