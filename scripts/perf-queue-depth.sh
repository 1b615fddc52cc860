#!/usr/bin/env bash
# Issue 5's queue-depth target: queue status p99 with DEEP waiting tokens (default
# 1,000,000) against the same at SHALLOW (default 1,000). For each depth: a fresh
# concert-queue on 127.0.0.1 (admission paused, idle drop off, limiter off) under its own
# key prefix; the queue is filled by redis-benchmark through the real issue_token script
# (EVALSHA of the server's exact source, loaded by examples/load_script; -r 1e9 random
# user ids, so a few repeat: the actual depth is printed); then the load tool's status
# scenario polls at the tail in the open model. Prints both p99s and their ratio; deletes
# its keys at the end.
#
# usage: scripts/perf-queue-depth.sh [--shallow 1000] [--deep 1000000] [--rate 2000]
#                                    [--users 64] [--seconds 20] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

SHALLOW=1000 DEEP=1000000 RATE=2000 USERS=64 SECONDS_PER_RUN=20
OUT="target/perf/queue-depth-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --shallow) SHALLOW="$2"; shift 2 ;;
    --deep) DEEP="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/lib/perf-common.sh
mkdir -p "$OUT"

cargo build --release --quiet --bin concert-queue --example load_script
write_one_concert_catalog "$OUT/one-concert.json"
SHA=$(load_issue_token_script)

measure() { # depth
  local depth="$1" prefix="perfdepth$$d$1" port
  PREFIXES+=("$prefix")
  local tag="$prefix:{c:1}"
  rcli HSET "$tag:meta" id 1 title "queue depth" >/dev/null
  echo "== filling $depth waiting tokens through issue_token (admission paused)"
  redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" -c 50 -n "$depth" -r 1000000000 -q \
    EVALSHA "$SHA" 7 "$tag:meta" "$tag:q:line" "$tag:q:active" "$tag:q:active_seq" \
    "$tag:q:entries" "$tag:q:bucket" "$tag:q:stats" __rand_int__ 0 100 300000 25 | tr "\r" "\n" | tail -n 1
  echo "   waiting now: $(rcli ZCARD "$tag:q:line")"
  port=$(free_port)
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" BIND_ADDR="127.0.0.1:$port" \
    TOKEN_SECRET="queue-depth-secret-$prefix" TOKEN_RATE_LIMIT_PER_SEC=0 QUEUE_MAX_ACTIVE=0 \
    WAIT_IDLE_TIMEOUT_SECS=0 RUST_LOG=warn "$BIN" serve >"$OUT/server-$depth.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$port/health"
  "$BIN" load --target "http://127.0.0.1:$port" --scenario status --model open --rate "$RATE" \
    --users "$USERS" --seconds "$SECONDS_PER_RUN" --catalog "$OUT/one-concert.json" \
    --html "$OUT/status-at-$depth.html" --json "$OUT/status-at-$depth.json" \
    --title "queue status with $depth waiting" > "$OUT/status-at-$depth.txt"
  grep -E '^(machine|endpoint|all |send lag)' "$OUT/status-at-$depth.txt"
  kill "${PIDS[-1]}"
}

measure "$SHALLOW"
measure "$DEEP"
p99() { jq -r '.total.p99_ms' "$OUT/status-at-$1.json"; }
awk -v s="$(p99 "$SHALLOW")" -v d="$(p99 "$DEEP")" -v sd="$SHALLOW" -v dd="$DEEP" 'BEGIN {
  printf "status p99 at %d waiting: %.2f ms; at %d waiting: %.2f ms; ratio %.2f (issue 5 target: <= 1.5)\n", sd, s, dd, d, d / s }'
echo "reports: $OUT/*.html"
