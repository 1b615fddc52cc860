#!/usr/bin/env bash
# A soak: the seed report's API mix played by 350 buyers who live on (the load tool's
# `--scenario soak`: a buyer whose token is no longer ACTIVE joins again and polls until
# admitted; bookings at --bookings-per-sec hold a seat and pay from a wallet charged at
# set-up, a quarter of them cancel the hold instead) for --minutes (30 by default) against
# a release server, with the flush worker (`concert-queue flush`) draining the outbox
# (payments, charges and queue events) into MySQL and the broker all along. Bookings are
# paced so that the catalog never sells out: by default 60% of its seats are sold by the
# end. Everything runs on 127.0.0.1: a redis-server of the soak's own on a free port (so
# its memory is the soak's alone), a MySQL database and two broker topics of its own
# (perf-soak-<pid>, perf-soak-events-<pid>).
#
# Every --every seconds (10) it samples the server's and the worker's resident memory
# (VmRSS in /proc/PID/status), Redis's `used_memory` (INFO memory) and the load average;
# every second, the outbox lag: the age of the oldest outbox entry the `flush` group has
# not acknowledged, on the Redis clock, as the server's GET /health reports it
# (`outbox.lagSeconds`, the definition of docs/operations.md, "Reading the lag"). It writes
# samples.csv and lag.csv, renders soak.png (the three over time; matplotlib, installed
# from PyPI into a virtual environment under target/perf/ on first use) and prints a
# summary: resident memory in the first five minutes against the last five (goal: within
# 10%), the lag's maximum and 99th percentile (goal: under 1 s), the 4xx answers by kind,
# the 5xx count, and the sales the load tool saw against the rows the worker wrote to
# MySQL. Not run in CI. At exit (trap) the processes it started are stopped and its
# database dropped; the topics are left, as flush.sh leaves its.
#
# The worker runs as deployed (docker-compose.yml): with MIMALLOC_ALLOW_THP=0, so that
# transparent huge pages do not inflate its resident memory (docs/performance.md, section
# 14). FLUSH_ENV="K=V ..." replaces that environment (FLUSH_ENV= for none), and
# SERVER_ENV="K=V ..." is the server's (none by default; SERVER_ENV=MIMALLOC_ALLOW_THP=0
# runs the server as the worker runs),
# --flush-wrapper CMD runs the worker under CMD (e.g. "heaptrack -o DIR/flush"; the worker
# process itself is then sampled), --flush-bin PATH runs another build of the worker
# (e.g. one built with --no-default-features, on glibc malloc).
#
# usage: scripts/perf/soak.sh [--minutes 30] [--every 10] [--users 350] [--out DIR]
#          [--bookings-per-sec R] [--flush-wrapper CMD] [--flush-bin PATH] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."

MINUTES=30 EVERY=10 USERS=350 BUILD=1 BOOKINGS="" FLUSH_WRAPPER="" FLUSH_BIN=""
CANCEL_SHARE=0.25 SOLD_SHARE=0.6 FLUSH_ENV="${FLUSH_ENV-MIMALLOC_ALLOW_THP=0}"
SERVER_ENV="${SERVER_ENV-}"
OUT="target/perf/soak-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --every) EVERY="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --bookings-per-sec) BOOKINGS="$2"; shift 2 ;;
    --flush-wrapper) FLUSH_WRAPPER="$2"; shift 2 ;;
    --flush-bin) FLUSH_BIN="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
MATPLOTLIB_VERSION=3.11.2
VENV=target/perf/venv-matplotlib-$MATPLOTLIB_VERSION
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
  echo "== installing matplotlib $MATPLOTLIB_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "matplotlib==$MATPLOTLIB_VERSION"
fi
BROKER="${KAFKA_BROKERS:-127.0.0.1:9092}"; BROKER="${BROKER%%,*}"
case "$BROKER" in 127.*|localhost:*) ;; *) echo "KAFKA_BROKERS must be on loopback" >&2; exit 2 ;; esac
(exec 3<>"/dev/tcp/${BROKER%:*}/${BROKER##*:}") 2>/dev/null \
  || { echo "no broker answers at $BROKER: run scripts/services.sh first" >&2; exit 2; }
if [ "$BUILD" = 1 ]; then
  build_server
  build_load
fi

own_redis "$OUT/redis"
own_database "cq_perf_soak_$$"
PREFIX="perfsoak$$" # on the soak's own Redis, which goes with its keys at exit
SERVER_PORT=$(free_port) FLUSH_METRICS_PORT=$(free_port)
SERVER_URL="http://127.0.0.1:$SERVER_PORT"
export REDIS_URL REDIS_KEY_PREFIX="$PREFIX" MYSQL_URL="$PERF_MYSQL_URL" \
  KAFKA_TOPIC="perf-soak-$$" KAFKA_QUEUE_EVENTS_TOPIC="perf-soak-events-$$" \
  TOKEN_SECRET="soak-secret-$PREFIX" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 \
  POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 QUEUE_MAX_ACTIVE=1000000 \
  QUEUE_ADMIT_PER_SEC=100000 BIND_ADDR="127.0.0.1:$SERVER_PORT" \
  FLUSH_METRICS_ADDR="127.0.0.1:$FLUSH_METRICS_PORT" RUST_LOG=warn

"$SERVER_BIN" seed --catalog bench-data/catalog.json > "$OUT/seed.log" 2>&1
# shellcheck disable=SC2086 # SERVER_ENV is a word list by design
env $SERVER_ENV "$SERVER_BIN" serve > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
# shellcheck disable=SC2086 # the wrapper and FLUSH_ENV are word lists by design
env $FLUSH_ENV $FLUSH_WRAPPER "${FLUSH_BIN:-$SERVER_BIN}" flush > "$OUT/flush.log" 2>&1 &
FLUSH_PID=$!
PIDS+=("$FLUSH_PID")
if [ -n "$FLUSH_WRAPPER" ]; then
  # The worker runs below the wrapper (heaptrack waits for it): sample that process, the
  # descendant whose executable is the worker's binary (the wrapper's subshells share its
  # command line, not its executable).
  descendant_running() { # pid exe
    local child found
    for child in $(pgrep -P "$1" || true); do
      if [ "$(readlink "/proc/$child/exe" 2>/dev/null)" = "$2" ]; then echo "$child"; return; fi
      found=$(descendant_running "$child" "$2")
      [ -n "$found" ] && { echo "$found"; return; }
    done
  }
  worker=""
  for _ in $(seq 100); do
    worker=$(descendant_running "$FLUSH_PID" "$(realpath "${FLUSH_BIN:-$SERVER_BIN}")")
    [ -n "$worker" ] && break
    sleep 0.1
  done
  [ -n "$worker" ] || { echo "no worker process under the wrapper $FLUSH_PID" >&2; exit 1; }
  WRAPPER_PID=$FLUSH_PID FLUSH_PID=$worker
  PIDS+=("$FLUSH_PID")
fi
wait_for "$SERVER_URL/health"
# The worker serves its metrics at once, then sets up MySQL, the topics and its group
# (retrying while one is down): a lag that only grows means it never got there.
wait_for "http://127.0.0.1:$FLUSH_METRICS_PORT/metrics"

SEATS=$(jq '[.concerts[].schedules[].seats | length] | add' bench-data/catalog.json)
# Bookings paced so that SOLD_SHARE of the seats are sold by the end (a quarter of the
# bookings cancel their hold): the catalog never sells out and payments go on to the end.
[ -n "$BOOKINGS" ] || BOOKINGS=$(awk -v s="$SEATS" -v m="$MINUTES" -v c="$CANCEL_SHARE" \
  -v f="$SOLD_SHARE" 'BEGIN {printf "%.3f", s * f / (m * 60) / (1 - c)}')
COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src lua benches || echo "+changes")
STARTED=$(date -u +%FT%TZ)
{
  echo "started $STARTED; commit $COMMIT; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "soak buyers: the seed mix at $USERS users for $MINUTES min, $BOOKINGS bookings/s ($CANCEL_SHARE of them cancelled) on $SEATS seats; samples every $EVERY s, the lag every second"
  echo "server pid $SERVER_PID${SERVER_ENV:+ (env $SERVER_ENV)}, flush worker pid $FLUSH_PID${WRAPPER_PID:+ (under: $FLUSH_WRAPPER, pid $WRAPPER_PID)}${FLUSH_BIN:+, binary $FLUSH_BIN}${FLUSH_ENV:+, env $FLUSH_ENV}, redis-server pid $OWN_REDIS_PID (port $REDIS_PORT)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/run.txt"

"$LOAD_BIN" --target "$SERVER_URL" --scenario soak --users "$USERS" --seconds "$((MINUTES * 60))" \
  --bookings-per-sec "$BOOKINGS" --cancel-share "$CANCEL_SHARE" \
  --title "soak: the mix played by $USERS buyers for $MINUTES min" --html "$OUT/load.html" \
  --json "$OUT/load.json" > "$OUT/load.txt" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
alive() { # the processes the numbers are of must outlive the run
  for pid in "$SERVER_PID" "$FLUSH_PID" "$OWN_REDIS_PID"; do # (the worker itself, if wrapped)
    kill -0 "$pid" 2>/dev/null || { echo "process $pid died during the soak: see $OUT/*.log" >&2; exit 1; }
  done
}

echo "elapsed_s,utc,server_rss_kb,flush_rss_kb,redis_used_memory_bytes,lag_s,lag_entries,load1" > "$OUT/samples.csv"
echo "elapsed_s,lag_s,lag_entries" > "$OUT/lag.csv"
T0=$(date +%s.%N)
NEXT_SAMPLE=0 TICK=0
echo "== sampling until the load tool ends (about $MINUTES min from now, $(date -u -d "+$MINUTES min" +%H:%M) UTC)"
while kill -0 "$LOAD_PID" 2>/dev/null; do
  alive
  elapsed=$(echo "$(date +%s.%N) $T0" | awk '{printf "%.3f", $1 - $2}')
  # `null` when Redis does not answer: written as an empty field, counted apart.
  lag=$(curl -s --max-time 2 "$SERVER_URL/health" | jq -r '.outbox // {} | "\(.lagSeconds // ""),\(.lagEntries // "")"' || true)
  [ -n "$lag" ] || lag=","
  echo "$elapsed,$lag" >> "$OUT/lag.csv"
  if [ "$TICK" -ge "$NEXT_SAMPLE" ]; then
    used=$(rcli INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
    echo "$elapsed,$(date -u +%FT%TZ),$(rss_kb "$SERVER_PID"),$(rss_kb "$FLUSH_PID"),$used,$lag,$(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/samples.csv"
    NEXT_SAMPLE=$((NEXT_SAMPLE + EVERY))
  fi
  TICK=$((TICK + 1))
  # One tick a second on the soak's clock, whatever the sampling itself took.
  sleep "$(echo "$TICK $(date +%s.%N) $T0" | awk '{d = $1 - ($2 - $3); printf "%.3f", (d > 0) ? d : 0}')"
done
wait "$LOAD_PID" || { echo "the load tool failed: $OUT/load.txt" >&2; tail -5 "$OUT/load.txt" >&2; exit 1; }
alive
ENDED=$(date -u +%FT%TZ)
{
  echo "ended $ENDED"
  echo "server: $(grep -E '^Vm(HWM|RSS)' "/proc/$SERVER_PID/status" | tr -s ' \t\n' ' ')"
  echo "flush worker: $(grep -E '^Vm(HWM|RSS)' "/proc/$FLUSH_PID/status" | tr -s ' \t\n' ' ')"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$OUT/run.txt"
# What the worker wrote: give it a few seconds for the last entries, then count the rows.
for _ in $(seq 30); do
  [ "$(curl -s --max-time 2 "$SERVER_URL/health" | jq -r '.outbox.lagEntries // 1')" = 0 ] && break
  sleep 1
done
mysql_count() { mysql -h 127.0.0.1 -uroot -N -e "SELECT COUNT(*) FROM \`$DATABASE\`.$1" 2>/dev/null || echo "?"; }
{
  echo "MySQL rows: reservations $(mysql_count reservations), payments $(mysql_count payments), wallet_ledger $(mysql_count wallet_ledger)"
} | tee -a "$OUT/run.txt"
if [ -n "${WRAPPER_PID:-}" ]; then
  # The wrapper (heaptrack) writes its profile when the worker exits: stop the worker
  # first and let the wrapper finish.
  kill -TERM "$FLUSH_PID" 2>/dev/null || true
  for _ in $(seq 120); do kill -0 "$WRAPPER_PID" 2>/dev/null || break; sleep 1; done
fi

"$VENV/bin/python" scripts/perf/lib/soak_report.py "$OUT" | tee "$OUT/summary.txt"
grep -E '^(all |soak buyers)' "$OUT/load.txt" | tee -a "$OUT/summary.txt"
grep -E '^MySQL rows' "$OUT/run.txt" | tee -a "$OUT/summary.txt"
echo "chart: $OUT/soak.png; data: $OUT/samples.csv, $OUT/lag.csv; load report: $OUT/load.html"
