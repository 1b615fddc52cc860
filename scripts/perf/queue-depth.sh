#!/usr/bin/env bash
# Whether a deep queue slows status polls (target: p99 at DEEP <= 1.5 x p99 at SHALLOW):
# queue status p99 with DEEP waiting tokens (default 1,000,000) against the same at SHALLOW
# (default 1,000). For each depth: a fresh concert-queue on 127.0.0.1 (admission paused,
# idle drop off, limiter off) under its own key prefix; the queue is filled by
# redis-benchmark through the real issue_token script (EVALSHA of the server's exact
# source, loaded by examples/load_script; -r 1e9 random user ids, so a few repeat: the
# actual depth is printed); then the load tool's status scenario polls at the tail in the
# open model, against the shallow and the deep server in turn, --repeats times (both
# servers stay up, so the runs alternate on one machine state). Prints every run, the
# median p99 at each depth and their ratio; deletes its keys at the end.
#
# usage: scripts/perf/queue-depth.sh [--shallow 1000] [--deep 1000000] [--rate 2000]
#                                    [--users 64] [--seconds 20] [--repeats 1] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

SHALLOW=1000 DEEP=1000000 RATE=2000 USERS=64 SECONDS_PER_RUN=20 REPEATS=1
OUT="target/perf/queue-depth-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --shallow) SHALLOW="$2"; shift 2 ;;
    --deep) DEEP="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"

build_server --example load_script
build_load
write_one_concert_catalog "$OUT/one-concert.json"
SHA=$(load_issue_token_script)

declare -A URL
fill_and_start() { # depth
  local depth="$1" prefix="perfdepth$$d$1" port
  PREFIXES+=("$prefix")
  local tag="$prefix:{c:1}"
  rcli HSET "$tag:meta" id 1 title "queue depth" >/dev/null
  echo "== filling $depth waiting tokens through issue_token (admission paused)"
  redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" -c 50 -n "$depth" -r 1000000000 -q \
    EVALSHA "$SHA" 7 "$tag:meta" "$tag:q:line" "$tag:q:active" "$tag:q:active_seq" \
    "$tag:q:entries" "$tag:q:bucket" "$tag:q:stats" __rand_int__ 0 100 300000 25 0 | tr "\r" "\n" | tail -n 1
  echo "   waiting now: $(rcli ZCARD "$tag:q:line")"
  port=$(free_port)
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" BIND_ADDR="127.0.0.1:$port" \
    TOKEN_SECRET="queue-depth-secret-$prefix" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 QUEUE_MAX_ACTIVE=0 \
    WAIT_IDLE_TIMEOUT_SECS=0 RUST_LOG=warn "$SERVER_BIN" serve >"$OUT/server-$depth.log" 2>&1 &
  PIDS+=($!)
  URL[$depth]="http://127.0.0.1:$port"
  wait_for "${URL[$depth]}/health"
}

poll() { # depth run
  local depth="$1" run="$2" name="status-at-$1-$2"
  echo "== status polls at $depth waiting, run $run of $REPEATS"
  "$LOAD_BIN" --target "${URL[$depth]}" --scenario status --model open --rate "$RATE" \
    --users "$USERS" --seconds "$SECONDS_PER_RUN" --catalog "$OUT/one-concert.json" \
    --html "$OUT/$name.html" --json "$OUT/$name.json" \
    --title "queue status with $depth waiting (run $run)" > "$OUT/$name.txt"
  grep -E '^(machine|endpoint|all |send lag)' "$OUT/$name.txt"
}

fill_and_start "$SHALLOW"
fill_and_start "$DEEP"
for run in $(seq "$REPEATS"); do
  poll "$SHALLOW" "$run"
  poll "$DEEP" "$run"
done
p99s() { jq -s -r 'map(.total.p99_ms) | map(tostring) | join(" / ")' "$OUT/status-at-$1"-*.json; }
p99() { jq -s 'map(.total.p99_ms) | sort | .[(length - 1) / 2 | floor]' "$OUT/status-at-$1"-*.json; }
echo "p99 at $SHALLOW waiting (ms, per run): $(p99s "$SHALLOW")"
echo "p99 at $DEEP waiting (ms, per run): $(p99s "$DEEP")"
awk -v s="$(p99 "$SHALLOW")" -v d="$(p99 "$DEEP")" -v sd="$SHALLOW" -v dd="$DEEP" -v n="$REPEATS" 'BEGIN {
  printf "status p99, median of %d: at %d waiting %.2f ms; at %d waiting %.2f ms; ratio %.2f (target: <= 1.5)\n", n, sd, s, dd, d, d / s }'
echo "reports: $OUT/*.html"
