#!/usr/bin/env bash
# The seed report's load test, repeated against concert-queue on this machine: the API mix
# with 350 and then 730 virtual users (closed model, like JMeter), the server's peak RSS
# after the 730-user run, the mix in the open model at 5,000 requests/s, and the booking
# flow with 350 users on a freshly seeded catalog. Each run REPEATS times; the table shows
# medians. The server runs on 127.0.0.1 under its own Redis prefix and MySQL database,
# both deleted at the end; every report is kept under --out.
#
# usage: scripts/perf/seed-scenario.sh [--seconds 180] [--open-seconds 60] [--repeats 5]
#                                      [--rate 5000] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=180 OPEN_SECONDS=60 REPEATS=5 RATE=5000
OUT="target/perf/seed-scenario-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --open-seconds) OPEN_SECONDS="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
own_database "cq_perf_$$"

build_server
build_load

SERVER_PID="" SERVER_URL=""
start_server() { # prefix
  local prefix="$1" port
  PREFIXES+=("$prefix")
  port=$(free_port)
  export REDIS_URL REDIS_KEY_PREFIX="$prefix" MYSQL_URL="$PERF_MYSQL_URL" \
    TOKEN_SECRET="seed-scenario-secret-$prefix" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 \
    QUEUE_MAX_ACTIVE=1000000 QUEUE_ADMIT_PER_SEC=100000 BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn
  "$SERVER_BIN" seed --catalog bench-data/catalog.json >"$OUT/seed-$prefix.log" 2>&1
  "$SERVER_BIN" serve >"$OUT/server-$prefix.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_URL="http://127.0.0.1:$port"
  wait_for "$SERVER_URL/health"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }

run() { # name load-args...
  local name="$1"; shift
  for i in $(seq "$REPEATS"); do
    echo "== $name, run $i of $REPEATS"
    "$LOAD_BIN" --target "$SERVER_URL" --title "seed scenario: $name (run $i)" \
      --html "$OUT/$name-$i.html" --json "$OUT/$name-$i.json" "$@" > "$OUT/$name-$i.txt"
    grep -E '^all ' "$OUT/$name-$i.txt"
  done
}

start_server "perfseed$$"
run mix-350 --scenario mix --users 350 --seconds "$SECONDS_PER_RUN"
run mix-730 --scenario mix --users 730 --seconds "$SECONDS_PER_RUN"
grep -E '^Vm(HWM|RSS)' "/proc/$SERVER_PID/status" | tee "$OUT/server-rss-after-730.txt"
run "mix-open-$RATE" --scenario mix --model open --rate "$RATE" --users 512 --seconds "$OPEN_SECONDS"
stop_server
for i in $(seq "$REPEATS"); do # every flow run needs seats to sell: a fresh catalog each
  start_server "perfseedflow$$r$i"
  "$LOAD_BIN" --target "$SERVER_URL" --scenario flow --users 350 --seconds "$OPEN_SECONDS" \
    --title "seed scenario: flow-350 (run $i)" --html "$OUT/flow-350-$i.html" \
    --json "$OUT/flow-350-$i.json" > "$OUT/flow-350-$i.txt"
  grep -E '^(all |booking flows)' "$OUT/flow-350-$i.txt"
  stop_server
done

median() { # name field
  jq -s --arg f "$2" 'map(.total[$f]) | sort | .[(length - 1) / 2 | floor]' "$OUT/$1"-*.json
}
echo
echo "== medians of $REPEATS runs ($(date -u +%FT%TZ); $(nproc) cores; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-18s %10s %9s %9s %9s %9s\n' run "req/s" "mean ms" "p50 ms" "p99 ms" errors
for name in mix-350 mix-730 "mix-open-$RATE" flow-350; do
  printf '%-18s %10.0f %9.2f %9.2f %9.2f %8.2f%%\n' "$name" "$(median "$name" throughput_rps)" \
    "$(median "$name" mean_ms)" "$(median "$name" p50_ms)" "$(median "$name" p99_ms)" \
    "$(median "$name" error_rate_pct)"
done
echo "seed (JMeter): 350 users 4,523 TPS 17 ms mean 0.00% errors; 730 users 4,479 TPS 17 ms 3.30% errors"
echo "server memory after the 730-user runs: $(tr '\n' ' ' < "$OUT/server-rss-after-730.txt")"
echo "reports: $OUT/*.html"
