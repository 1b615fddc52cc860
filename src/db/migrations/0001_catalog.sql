-- The catalog: concerts, their schedules and each schedule's seats with prices.
CREATE TABLE IF NOT EXISTS concerts (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  title VARCHAR(200) NOT NULL,
  artist VARCHAR(200) NOT NULL,
  venue VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS schedules (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  concert_id BIGINT UNSIGNED NOT NULL,
  starts_at DATETIME(3) NOT NULL,
  KEY idx_schedules_concert (concert_id),
  CONSTRAINT fk_schedules_concert FOREIGN KEY (concert_id) REFERENCES concerts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS seats (
  schedule_id BIGINT UNSIGNED NOT NULL,
  seat_no INT UNSIGNED NOT NULL,
  grade VARCHAR(16) NOT NULL,
  price BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (schedule_id, seat_no),
  CONSTRAINT fk_seats_schedule FOREIGN KEY (schedule_id) REFERENCES schedules (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
