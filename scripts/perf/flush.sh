#!/usr/bin/env bash
# The flush worker's throughput (target: >= 10,000 confirmed reservations/s into MySQL
# and Kafka): real payments fill the outbox, then `concert-queue flush --once` drains it.
#   1. a catalog of SEATS seats (generated; 50 per schedule, 10 schedules per concert);
#   2. a concert-queue on 127.0.0.1 (own Redis prefix and MySQL database) and the load
#      tool's booking flow until the seats are sold (or --fill-seconds pass);
#   3. the server stops and the filled outbox streams (each concert's and each wallet
#      bucket's), with the set of concerts the worker lists them by, are copied (Redis
#      COPY) to template keys <template>:<key's name after the prefix>;
#   4. each drain gets a fresh copy of the templates under a prefix of its own, an empty
#      MySQL database and the topic perf-flush-<pid>-<n> (the worker creates both), and
#      `flush --once` drains it; its wall time, start-up included, gives reservations/s
#      and outbox entries/s. With several --drain-with binaries and --repeats, the drains
#      alternate (A B A B ...) on copies of the same outbox: an A/B comparison in one run.
# --keep-outbox NAME keeps the templates as perfflush-saved:NAME:* (not deleted at exit);
# --from-outbox NAME skips the fill and drains copies of that saved outbox instead.
# Redis keys and the MySQL databases are deleted at the end; the Kafka topics are left (a
# few MB each; delete them with your broker's tools if you mind).
#
# usage: scripts/perf/flush.sh [--seats 100000] [--users 350] [--fill-seconds 180] [--out DIR]
#          [--keep-outbox NAME | --from-outbox NAME] [--drain-with LABEL=BINARY]... [--repeats 1]
#          [--flush-env VAR=VALUE]...
set -euo pipefail
cd "$(dirname "$0")/../.."

SEATS=100000 USERS=350 FILL_SECONDS=180 KEEP="" FROM="" REPEATS=1
DRAINERS=() FLUSH_ENV=()
OUT="target/perf/flush-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seats) SEATS="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --fill-seconds) FILL_SECONDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --keep-outbox) KEEP="$2"; shift 2 ;;
    --from-outbox) FROM="$2"; shift 2 ;;
    --drain-with) DRAINERS+=("$2"); shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --flush-env) FLUSH_ENV+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
PREFIX="perfflush$$"
PREFIXES+=("$PREFIX")
MYSQL_BASE="${MYSQL_URL:-mysql://root@127.0.0.1:3306/concert_queue}"
export REDIS_URL TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 QUEUE_MAX_ACTIVE=1000000 \
  QUEUE_ADMIT_PER_SEC=100000 FLUSH_METRICS_ADDR=off
[ ${#DRAINERS[@]} -eq 0 ] && DRAINERS=("current=$SERVER_BIN")
[ -n "$KEEP" ] && [ -n "$FROM" ] && { echo "--keep-outbox and --from-outbox exclude each other" >&2; exit 2; }

build_server
[ -n "$FROM" ] || build_load

if [ -n "$FROM" ]; then
  TEMPLATE="perfflush-saved:$FROM"
  [ -n "$(rcli --scan --pattern "$TEMPLATE:*" | head -1)" ] || { echo "no saved outbox $TEMPLATE" >&2; exit 2; }
else
  if [ -n "$KEEP" ]; then TEMPLATE="perfflush-saved:$KEEP"; else TEMPLATE="$PREFIX:template"; fi
  own_database "cq_perf_flush_$$"
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
  export REDIS_KEY_PREFIX="$PREFIX" MYSQL_URL="$PERF_MYSQL_URL" \
    TOKEN_SECRET="perf-flush-secret-$PREFIX" RUST_LOG=warn
  "$SERVER_BIN" seed --catalog "$OUT/catalog.json" > "$OUT/seed.log" 2>&1
  PORT=$(free_port)
  BIND_ADDR="127.0.0.1:$PORT" "$SERVER_BIN" serve > "$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for "http://127.0.0.1:$PORT/health"
  "$LOAD_BIN" --target "http://127.0.0.1:$PORT" --scenario flow --users "$USERS" \
    --seconds "$FILL_SECONDS" --catalog "$OUT/catalog.json" --title "flush: filling the outbox" \
    --html "$OUT/fill.html" --json "$OUT/fill.json" > "$OUT/fill.txt" &
  LOAD_PID=$!
  PIDS+=("$LOAD_PID")
  # Stop filling once every seat is sold (the flow would only charge wallets from then on):
  # each schedule's sold hash has a field per confirmed seat; Ctrl-C (SIGINT) ends the load
  # tool's window early and it still writes its reports.
  while kill -0 "$LOAD_PID" 2>/dev/null; do
    sold=$(rcli --scan --pattern "$PREFIX:{c:*}:s:*:sold" | while read -r key; do rcli HLEN "$key"; done \
      | awk '{s += $1} END {print s + 0}')
    [ "$sold" -ge "$SEATS" ] && { kill -INT "$LOAD_PID" 2>/dev/null; break; }
    sleep 1
  done
  wait "$LOAD_PID" 2>/dev/null || true
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  # Every outbox stream (each concert's, each wallet bucket's, the legacy global one) is
  # copied to $TEMPLATE:<its name after the prefix>, with the set of concerts, by which the
  # worker finds the concerts' streams.
  rcli --scan --pattern "$TEMPLATE:*" | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL > /dev/null
  { rcli --scan --pattern "$PREFIX:*outbox"; echo "$PREFIX:concerts"; } | while read -r key; do
    rcli COPY "$key" "$TEMPLATE:${key#"$PREFIX:"}" > /dev/null
  done
  rcli --scan --pattern "$PREFIX:*" | awk -v t="$TEMPLATE:" 'index($0, t) != 1' \
    | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL > /dev/null
  mysql -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$DATABASE\`"
  DATABASE=""
  [ -n "$KEEP" ] && echo "   the filled outbox is kept as $TEMPLATE (drain it again with --from-outbox $KEEP)"
fi
ENTRIES=$(rcli --scan --pattern "$TEMPLATE:*outbox" | while read -r stream; do rcli XLEN "$stream"; done \
  | awk '{s += $1} END {print s + 0}')
echo "   outbox entries: $ENTRIES (in $(rcli --scan --pattern "$TEMPLATE:*outbox" | wc -l) streams)"

# One drain: a copy of the template under prefix $1, database $2, topic $3, binary $4.
drain() {
  local prefix="$1" database="$2" topic="$3" bin="$4" log="$5" start end
  rcli --scan --pattern "$TEMPLATE:*" | while read -r key; do
    rcli COPY "$key" "$prefix:${key#"$TEMPLATE:"}" > /dev/null
  done
  start=$(date +%s.%N)
  env REDIS_KEY_PREFIX="$prefix" MYSQL_URL="${MYSQL_BASE%/*}/$database" KAFKA_TOPIC="$topic" \
    TOKEN_SECRET="perf-flush-secret-$prefix" RUST_LOG="${FLUSH_RUST_LOG:-warn,concert_queue=info}" \
    "${FLUSH_ENV[@]}" "$bin" flush --once > "$log" 2>&1 || echo "flush --once failed: $log" >&2
  end=$(date +%s.%N)
  echo "$start $end"
}

printf '%-12s %-3s %9s %12s %14s %11s  %s\n' binary run seconds reservations/s "outbox entries/s" reservations "load average (before)" \
  | tee "$OUT/flush.txt"
for run in $(seq "$REPEATS"); do
  for drainer in "${DRAINERS[@]}"; do
    label="${drainer%%=*}" bin="${drainer#*=}"
    n="$run-$label"
    prefix="$PREFIX-$n" database="cq_perf_flush_$$_${run}_${label//[^A-Za-z0-9]/_}"
    PREFIXES+=("$prefix")
    DATABASE="$database"   # dropped on exit should the drain fail
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    read -r START END < <(drain "$prefix" "$database" "perf-flush-$$-$n" "$bin" "$OUT/flush-$n.log")
    RESERVATIONS=$(mysql -h 127.0.0.1 -uroot -N -e "SELECT COUNT(*) FROM \`$database\`.reservations")
    mysql -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$database\`"
    rcli --scan --pattern "$prefix:*" | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL > /dev/null
    awk -v s="$START" -v e="$END" -v r="$RESERVATIONS" -v n="$ENTRIES" -v l="$label" -v run="$run" -v la="$load" 'BEGIN {
      t = e - s;
      printf "%-12s %-3s %9.2f %12.0f %14.0f %11d  %s\n", l, run, t, r / t, n / t, r, la }' \
      | tee -a "$OUT/flush.txt"
    sed 's/\x1b\[[0-9;]*m//g' "$OUT/flush-$n.log" | grep -o 'stages=.*' | tail -1 | sed 's/^/    /' || true
  done
done
echo "(start-up included; target: >= 10000 reservations/s)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%FT%TZ); reports: $OUT"
