#!/usr/bin/env bash
# Two server binaries under the seed's mix, side by side in one run: the load tool
# (target/release/concert-queue-load, built here) runs the closed-model mix against A, then
# B, then A ..., --repeats times each, every run against a server started afresh on a prefix
# and catalog of its own (one MySQL database), so no run inherits the queue state of the one
# before (earlier, later runs found the previous run's buyers still in the queue). Prints
# every run, the medians and the ratio B / A.
#
#   cargo build --release --no-default-features --bin concert-queue
#   mkdir -p target/perf-bin && cp target/release/concert-queue target/perf-bin/concert-queue-glibc
#   cargo build --release --bin concert-queue
#   scripts/perf/server-ab.sh --a glibc=target/perf-bin/concert-queue-glibc \
#     --b mimalloc=target/release/concert-queue --users 730 --seconds 30 --repeats 3
#
# usage: scripts/perf/server-ab.sh --a NAME=BIN --b NAME=BIN [--users 730] [--seconds 30]
#                                  [--repeats 3] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

USERS=730 SECONDS_PER_RUN=30 REPEATS=3 A="" B=""
OUT="target/perf/server-ab-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --a) A="$2"; shift 2 ;;
    --b) B="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$A" ] && [ -n "$B" ] || { echo "--a NAME=BIN and --b NAME=BIN are required" >&2; exit 2; }
A_NAME=${A%%=*} A_BIN=${A#*=} B_NAME=${B%%=*} B_BIN=${B#*=}
for bin in "$A_BIN" "$B_BIN"; do [ -x "$bin" ] || { echo "no executable at $bin" >&2; exit 2; }; done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
own_database "cq_perf_ab_$$"
build_load

declare -A URL
SERVER_PID=""
start() { # name bin run
  local name="$1" bin="$2" prefix="perfab$$$1r$3" port
  PREFIXES+=("$prefix")
  port=$(free_port)
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" MYSQL_URL="$PERF_MYSQL_URL" \
    TOKEN_SECRET="server-ab-secret-$prefix" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 \
    QUEUE_MAX_ACTIVE=1000000 QUEUE_ADMIT_PER_SEC=100000 BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn \
    sh -c "'$bin' seed --catalog bench-data/catalog.json >'$OUT/seed-$name.log' 2>&1 && exec '$bin' serve >'$OUT/server-$name.log' 2>&1" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  URL[$name]="http://127.0.0.1:$port"
  wait_for "${URL[$name]}/health"
}
stop() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
declare -A BIN=([$A_NAME]="$A_BIN" [$B_NAME]="$B_BIN")

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); mix, $USERS users, $SECONDS_PER_RUN s per run"
for i in $(seq "$REPEATS"); do
  for name in "$A_NAME" "$B_NAME"; do
    start "$name" "${BIN[$name]}" "$i"
    "$LOAD_BIN" --target "${URL[$name]}" --scenario mix --users "$USERS" --seconds "$SECONDS_PER_RUN" \
      --title "$name (run $i)" --html "$OUT/$name-$i.html" --json "$OUT/$name-$i.json" > "$OUT/$name-$i.txt"
    printf '%-10s run %d: %s\n' "$name" "$i" "$(grep -E '^all ' "$OUT/$name-$i.txt")"
    stop
  done
done
median() { jq -s --arg f "$2" 'map(.total[$f]) | sort | .[(length - 1) / 2 | floor]' "$OUT/$1"-*.json; }
echo "== medians of $REPEATS ($(date -u +%FT%TZ); load average now $(cut -d' ' -f1-3 /proc/loadavg))"
for name in "$A_NAME" "$B_NAME"; do
  printf '%-10s %10.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %.2f%%\n' "$name" \
    "$(median "$name" throughput_rps)" "$(median "$name" p50_ms)" "$(median "$name" p99_ms)" "$(median "$name" error_rate_pct)"
done
awk -v a="$(median "$A_NAME" throughput_rps)" -v b="$(median "$B_NAME" throughput_rps)" \
  -v an="$A_NAME" -v bn="$B_NAME" 'BEGIN { printf "throughput %s / %s: %.3f\n", bn, an, b / a }'
echo "reports: $OUT/*.html"
