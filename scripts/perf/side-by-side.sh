#!/usr/bin/env bash
# Token issuance against its ceilings, on this machine, in one go:
#   1. the Redis ceiling: redis-benchmark running the issue_token script by EVALSHA (the
#      exact source the server loads, put there by examples/load_script), with the same
#      keys and arguments the server passes;
#   2. the HTTP ceiling: examples/hello_server under the load tool's token scenario;
#   3. concert-queue under the same token scenario (TOKEN_RATE_LIMIT_PER_SEC=0), and with
#      --variants also one multiplexed connection vs a bb8 pool, the limiter on with a
#      quota never hit, and the current_thread runtime;
# then prints the figures and the ratios. Everything targets 127.0.0.1, uses its own key
# prefix (deleted at the end) and stops by itself.
#
# usage: scripts/perf/side-by-side.sh [--seconds 20] [--users 350] [--redis-requests 200000]
#                                     [--redis-clients 50] [--variants] [--out DIR]
#                                     [--load-args "--model open --rate 5000"]
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=20
USERS=350
REDIS_REQUESTS=200000
REDIS_CLIENTS=50
VARIANTS=0
LOAD_ARGS=""
OUT="target/perf/side-by-side-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --redis-requests) REDIS_REQUESTS="$2"; shift 2 ;;
    --redis-clients) REDIS_CLIENTS="$2"; shift 2 ;;
    --variants) VARIANTS=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --load-args) LOAD_ARGS="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh

# The server's defaults, which the benchmark passes to the script as the server would.
MAX_ACTIVE=500 ADMIT_PER_SEC=100 TTL_MS=300000 BUCKET_CAPACITY=25 IDLE_MS=120000
PREFIX="perfsbs$$"
TAG="$PREFIX:{c:1}"
QUEUE_KEYS=("$TAG:meta" "$TAG:q:line" "$TAG:q:active" "$TAG:q:active_seq" "$TAG:q:entries" "$TAG:q:bucket" "$TAG:q:stats")
PREFIXES+=("$PREFIX")
mkdir -p "$OUT"
reset_queue() { rcli DEL "${QUEUE_KEYS[@]:1}" >/dev/null; }

echo "== building (release)"
build_server --example hello_server --example load_script
build_load

# One concert, one schedule: the load tool and redis-benchmark hit the same queue keys.
write_one_concert_catalog "$OUT/one-concert.json"
rcli SADD "$PREFIX:concerts" 1 >/dev/null
rcli HSET "$TAG:meta" id 1 title "side by side" >/dev/null

load() { # name target extra-args...
  local name="$1" target="$2"; shift 2
  "$LOAD_BIN" --target "$target" --scenario token --users "$USERS" --seconds "$SECONDS_PER_RUN" \
    --catalog "$OUT/one-concert.json" --html "$OUT/$name.html" --json "$OUT/$name.json" \
    --title "side by side: $name" $LOAD_ARGS "$@" > "$OUT/$name.txt"
  grep -E '^(machine|endpoint|all |send lag)' "$OUT/$name.txt"
}

echo "== 1. Redis ceiling: redis-benchmark, EVALSHA issue_token, $REDIS_CLIENTS clients, $REDIS_REQUESTS requests"
SHA=$(load_issue_token_script)
reset_queue
redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" -c "$REDIS_CLIENTS" -n "$REDIS_REQUESTS" -r 100000000 --csv \
  EVALSHA "$SHA" 7 "${QUEUE_KEYS[@]}" __rand_int__ "$MAX_ACTIVE" "$ADMIT_PER_SEC" "$TTL_MS" "$BUCKET_CAPACITY" "$IDLE_MS" \
  | tee "$OUT/redis-benchmark.csv"
redis_column() { tail -n 1 "$OUT/redis-benchmark.csv" | awk -F'","' -v c="$1" '{gsub(/"/, "", $c); print $c}'; }
REDIS_RPS=$(redis_column 2)
ISSUED=$(( $(rcli ZCARD "$TAG:q:line") + $(rcli ZCARD "$TAG:q:active") ))
[ "$ISSUED" -gt 0 ] || { echo "redis-benchmark issued no token: the script failed (see above)" >&2; exit 1; }
echo "   tokens in the queue after the benchmark: $ISSUED"
reset_queue

echo "== 2. HTTP ceiling: hello_server, token scenario, $USERS users, $SECONDS_PER_RUN s"
HELLO_PORT=$(free_port)
target/release/examples/hello_server "127.0.0.1:$HELLO_PORT" $((SECONDS_PER_RUN + 120)) 2>"$OUT/hello.log" &
PIDS+=($!)
wait_for "http://127.0.0.1:$HELLO_PORT/"
load http-ceiling "http://127.0.0.1:$HELLO_PORT"
kill "${PIDS[-1]}"

run_server() { # name env-assignments...
  local name="$1"; shift
  local port; port=$(free_port)
  reset_queue
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$PREFIX" BIND_ADDR="127.0.0.1:$port" \
    TOKEN_SECRET="side-by-side-secret-$PREFIX" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 RUST_LOG=warn "$@" \
    "$SERVER_BIN" serve >"$OUT/$name.server.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_for "http://127.0.0.1:$port/health"
  echo "== 3. concert-queue [$name] ($*), token scenario, $USERS users, $SECONDS_PER_RUN s"
  load "$name" "http://127.0.0.1:$port"
  grep -E '^VmHWM' "/proc/$pid/status" | sed "s/^/   server peak RSS /" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_server concert-queue REDIS_POOL_SIZE=0
if [ "$VARIANTS" = 1 ]; then
  run_server pool-8 REDIS_POOL_SIZE=8
  run_server limiter-on-unreachable TOKEN_RATE_LIMIT_PER_SEC=4000000000
  run_server current-thread TOKIO_RUNTIME=current_thread
fi

echo
echo "== side by side ($(date -u +%FT%TZ), $(nproc) cores; machine shared with everything else running)"
rps() { jq -r '.total.throughput_rps' "$OUT/$1.json"; }
HTTP_RPS=$(rps http-ceiling)
printf '%-26s %12s %9s %9s %9s\n' run "req/s" "p50 ms" "p99 ms" errors
printf '%-26s %12.0f %9.2f %9.2f %9s\n' "redis ceiling (EVALSHA)" "$REDIS_RPS" "$(redis_column 5)" "$(redis_column 7)" -
for name in http-ceiling concert-queue pool-8 limiter-on-unreachable current-thread; do
  [ -f "$OUT/$name.json" ] || continue
  jq -r --arg n "$name" '[$n, .total.throughput_rps, .total.p50_ms, .total.p99_ms, .total.error_rate_pct] | @tsv' "$OUT/$name.json" \
    | awk -F'\t' '{printf "%-26s %12.0f %9.2f %9.2f %8.2f%%\n", $1, $2, $3, $4, $5}'
done
CQ_RPS=$(rps concert-queue)
case "$LOAD_ARGS" in *open*) echo "(open model: every run was paced at the same rate, so compare latencies; the ratios below only mean something in the closed model)" ;; esac
awk -v cq="$CQ_RPS" -v r="$REDIS_RPS" -v h="$HTTP_RPS" 'BEGIN {
  printf "concert-queue / redis ceiling: %.2f   (target: >= 0.50)\n", cq / r;
  printf "concert-queue / http ceiling:  %.2f\n", cq / h;
  printf "token issuance: %.0f tokens/s   (target: >= 10000 tokens/s)\n", cq }'
echo "reports: $OUT/*.html, figures: $OUT/*.json"
