#!/usr/bin/env bash
# Opening a pre-queue of N buyers (default 1,000,000; goals: at most 10 s in all, at most
# 10 ms in any one script call): on a redis-server of its own (free loopback port, nothing on
# disk), examples/prequeue_open fills one concert's pre-queue through the real issue_token
# script, opens it and runs the opening's steps back to back as the ticker does, and prints
# the engine's timing (total, longest step with its round trip) next to Redis's SLOWLOG
# (every script call of the opening with its time inside Redis) and LATENCY LATEST, the
# pre-queue's memory, and the load average before and after (the machine may be shared);
# every script call's time inside Redis (µs, sorted) goes to DIR/steps-us.txt.
#
# usage: scripts/perf/prequeue-open.sh [--buyers 1000000] [--chunk 1000] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

BUYERS=1000000 CHUNK=1000
OUT="target/perf/prequeue-open-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --buyers) BUYERS="$2"; shift 2 ;;
    --chunk) CHUNK="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
build_server --example prequeue_open
own_redis "$OUT/redis"
echo "redis-server $(rcli INFO server | sed -n 's/^redis_version://p' | tr -d '\r') on port $REDIS_PORT; $(nproc) cores"
date -u +"started %Y-%m-%d %H:%M UTC"
REDIS_URL="$REDIS_URL" STEPS_FILE="$OUT/steps-us.txt" \
  target/release/examples/prequeue_open "$BUYERS" "$CHUNK" | tee "$OUT/report.txt"
