#!/usr/bin/env bash
# The flash crowd (issue 15): the load tool's flash scenario against a server of its own.
# --buyers buyers join one concert over --join-seconds, each then polling as `pollAfterMs`
# advises until admitted (an admitted buyer leaves: its session lapses); the tool keeps every
# buyer's timeline and fails (non-zero exit) on a 5xx, an admission out of join order or a
# position that went up, and reports p99 per route and the estimated wait's error. The
# server runs on 127.0.0.1 against REDIS_URL (default 127.0.0.1:6379) under a key prefix of
# its own (deleted at the end), with the per-client budgets, the token limiter and poll
# pacing off (the load tool's one address is every buyer: those limits would be what fails
# it), QUEUE_MAX_ACTIVE high so the admission rate --admit-per-sec alone paces the line, and
# no MySQL or seats (nobody buys: the scenario measures the waiting room).
#
# usage: scripts/perf/flash-crowd.sh [--buyers 20000] [--join-seconds 10] [--admit-per-sec 500]
#                                    [--connections 256] [--no-build] [--out DIR]
#                                    [-- load-tool-args...]
# (--no-build runs the release binaries as they are.)
set -euo pipefail
cd "$(dirname "$0")/../.."

BUYERS=20000 JOIN_SECONDS=10 ADMIT_PER_SEC=500 CONNECTIONS=256
OUT="target/perf/flash-crowd-$(date -u +%Y%m%dT%H%M%SZ)"
EXTRA=() BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --buyers) BUYERS="$2"; shift 2 ;;
    --join-seconds) JOIN_SECONDS="$2"; shift 2 ;;
    --admit-per-sec) ADMIT_PER_SEC="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
if [ "$BUILD" = 1 ]; then
  echo "== building (release)"
  build_server
  build_load
fi
write_one_concert_catalog "$OUT/catalog.json"

PREFIX="perfflash$$"
PREFIXES+=("$PREFIX")
rcli SADD "$PREFIX:concerts" 1 >/dev/null
rcli HSET "$PREFIX:{c:1}:meta" id 1 title "flash crowd" >/dev/null
PORT=$(free_port)
env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$PREFIX" BIND_ADDR="127.0.0.1:$PORT" \
  MYSQL_URL="mysql://root@127.0.0.1:1/unused" TOKEN_SECRET="flash-crowd-secret-$PREFIX" \
  TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 \
  CHARGES_PER_USER_PER_MIN=0 QUEUE_MAX_ACTIVE=10000000 QUEUE_ADMIT_PER_SEC="$ADMIT_PER_SEC" \
  ACCESS_LOG=off RUST_LOG=warn "$SERVER_BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for "http://127.0.0.1:$PORT/health"

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== flash crowd: $BUYERS buyers over $JOIN_SECONDS s, admission $ADMIT_PER_SEC/s, $CONNECTIONS connections"
status=0
"$LOAD_BIN" --target "http://127.0.0.1:$PORT" --scenario flash --catalog "$OUT/catalog.json" \
  --buyers "$BUYERS" --join-seconds "$JOIN_SECONDS" --users "$CONNECTIONS" \
  --html "$OUT/flash.html" --json "$OUT/flash.json" "${EXTRA[@]}" | tee "$OUT/flash.txt" || status=$?
grep -E '^VmHWM' "/proc/$SERVER_PID/status" | sed "s/^/== server peak RSS /" || true
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg); reports in $OUT"
exit "$status"
