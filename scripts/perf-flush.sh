#!/usr/bin/env bash
# Issue 5's flush target (>= 10,000 confirmed reservations/s into MySQL and Kafka): real
# payments fill the outbox first, then one `concert-queue flush --once` drains it, timed.
#   1. a catalog of SEATS seats (generated; 50 per schedule, 10 schedules per concert);
#   2. a concert-queue on 127.0.0.1 (own Redis prefix and MySQL database) and the load
#      tool's booking flow until the seats are sold (or --fill-seconds pass);
#   3. the server stops; `flush --once` drains the outbox (charges and payments) into
#      MySQL and the topic perf-flush-<pid> (the worker creates it), and its wall time,
#      start-up included, gives reservations/s and outbox entries/s.
# Redis keys and the MySQL database are deleted at the end; the Kafka topic is left (a
# few MB; delete it with your broker's tools if you mind).
#
# usage: scripts/perf-flush.sh [--seats 100000] [--users 350] [--fill-seconds 180] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

SEATS=100000 USERS=350 FILL_SECONDS=180
OUT="target/perf/flush-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seats) SEATS="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --fill-seconds) FILL_SECONDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/lib/perf-common.sh
mkdir -p "$OUT"
PREFIX="perfflush$$"
PREFIXES+=("$PREFIX")
own_database "cq_perf_flush_$$"
export REDIS_URL REDIS_KEY_PREFIX="$PREFIX" MYSQL_URL="$PERF_MYSQL_URL" \
  TOKEN_SECRET="perf-flush-secret-$PREFIX" TOKEN_RATE_LIMIT_PER_SEC=0 \
  QUEUE_MAX_ACTIVE=1000000 QUEUE_ADMIT_PER_SEC=100000 RUST_LOG=warn \
  KAFKA_TOPIC="perf-flush-$$" FLUSH_METRICS_ADDR=off

cargo build --release --quiet --bin concert-queue
python3 - "$SEATS" > "$OUT/catalog.json" <<'PY'
import json, sys
seats = int(sys.argv[1])
schedules = max(1, seats // 50)
concerts = []
for s in range(schedules):
    c = s // 10
    if len(concerts) <= c:
        concerts.append({"id": c + 1, "title": f"perf {c + 1}", "artist": "-", "venue": "-", "schedules": []})
    concerts[c]["schedules"].append({"id": s + 1, "startsAt": "2027-01-01T00:00:00Z",
        "seats": [{"seatNo": n, "grade": "R", "price": 100000} for n in range(1, 51)]})
json.dump({"concerts": concerts}, sys.stdout)
PY

echo "== seeding $SEATS seats, selling them through the booking flow ($USERS users, at most $FILL_SECONDS s)"
"$BIN" seed --catalog "$OUT/catalog.json" > "$OUT/seed.log" 2>&1
PORT=$(free_port)
BIND_ADDR="127.0.0.1:$PORT" "$BIN" serve > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for "http://127.0.0.1:$PORT/health"
"$BIN" load --target "http://127.0.0.1:$PORT" --scenario flow --users "$USERS" \
  --seconds "$FILL_SECONDS" --catalog "$OUT/catalog.json" --title "perf-flush: filling the outbox" \
  --html "$OUT/fill.html" --json "$OUT/fill.json" > "$OUT/fill.txt" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
# Stop filling once every seat is sold (the flow would only charge wallets from then on):
# the sales ranking counts confirmed reservations per concert; Ctrl-C (SIGINT) ends the
# load tool's window early and it still writes its reports.
while kill -0 "$LOAD_PID" 2>/dev/null; do
  sold=$(rcli ZRANGE "$PREFIX:ranking:sales" 0 -1 WITHSCORES | awk 'NR % 2 == 0 {s += $1} END {print s + 0}')
  [ "$sold" -ge "$SEATS" ] && { kill -INT "$LOAD_PID" 2>/dev/null; break; }
  sleep 1
done
wait "$LOAD_PID" 2>/dev/null || true
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
ENTRIES=$(rcli XLEN "$PREFIX:outbox")
echo "   outbox entries: $ENTRIES"

echo "== flush --once"
START=$(date +%s.%N)
"$BIN" flush --once > "$OUT/flush.log" 2>&1
END=$(date +%s.%N)
RESERVATIONS=$(mysql -h 127.0.0.1 -uroot -N -e "SELECT COUNT(*) FROM \`$DATABASE\`.reservations")
awk -v s="$START" -v e="$END" -v r="$RESERVATIONS" -v n="$ENTRIES" 'BEGIN {
  t = e - s;
  printf "flush --once: %.2f s (start-up included) for %d outbox entries, %d confirmed reservations in MySQL\n", t, n, r;
  printf "%.0f reservations/s, %.0f outbox entries/s   (issue 5 target: >= 10000 reservations/s)\n", r / t, n / t }' \
  | tee "$OUT/flush.txt"
echo "machine: $(nproc) cores; load average now $(cut -d' ' -f1-3 /proc/loadavg); reports: $OUT"
