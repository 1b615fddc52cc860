#!/usr/bin/env bash
# The waiting line's two layouts side by side, script against script, in one run:
#   before: q:wait + q:seen, two sorted sets (lua/ of commit 94af8cb, 8 queue keys)
#   after:  q:line, one sorted set packing order and presence (lua/ of the working tree)
# On a redis-server of its own (free loopback port, nothing kept on disk), for each layout
# in turn, alternating, --repeats times: redis-benchmark runs issue_token by EVALSHA for
# --requests new buyers (random user ids, admission paused so every entry waits), and
# INFO memory gives the bytes per waiting buyer. Prints every run and the medians.
#
# usage: scripts/perf-line-layout.sh [--requests 1000000] [--clients 50] [--repeats 3]
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=1000000 CLIENTS=50 REPEATS=3 BEFORE_REV=94af8cb
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is missing (scripts/services.sh installs it)" >&2; exit 1; }

source scripts/lib/perf-common.sh
OUT="target/perf/line-layout-$(date -u +%Y%m%dT%H%M%SZ)"
own_redis "$OUT/redis"

# The script text exactly as src/store/scripts.rs composes it: common, queue lib, script.
compose() { # rev-or-empty
  if [ -z "$1" ]; then cat lua/lib/common.lua lua/lib/queue.lua lua/issue_token.lua
  else git show "$1:lua/lib/common.lua" "$1:lua/lib/queue.lua" "$1:lua/issue_token.lua"; fi
}
compose "$BEFORE_REV" > "$OUT/before.lua"
compose "" > "$OUT/after.lua"
SHA_BEFORE=$(rcli SCRIPT LOAD "$(cat "$OUT/before.lua")")
SHA_AFTER=$(rcli SCRIPT LOAD "$(cat "$OUT/after.lua")")
T="{c:1}"
KEYS_BEFORE=(8 "$T:meta" "$T:q:wait" "$T:q:seen" "$T:q:active" "$T:q:active_seq" "$T:q:seq" "$T:q:bucket" "$T:q:stats")
KEYS_AFTER=(7 "$T:meta" "$T:q:line" "$T:q:active" "$T:q:active_seq" "$T:q:entries" "$T:q:bucket" "$T:q:stats")

used_memory() { rcli INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

run() { # layout sha keys...
  local layout="$1" sha="$2"; shift 2
  rcli FLUSHALL >/dev/null   # the private instance only
  rcli HSET "$T:meta" title "line layout" >/dev/null
  local before after waiting rps
  before=$(used_memory)
  # max_active 0 (admission paused), rate 100, ttl 300000, bucket 25: every entry waits.
  rps=$(redis-benchmark -p "$REDIS_PORT" -c "$CLIENTS" -n "$REQUESTS" -r 1000000000 --csv \
    EVALSHA "$sha" "$@" __rand_int__ 0 100 300000 25 | tail -n 1 | cut -d, -f2 | tr -d '"')
  after=$(used_memory)
  waiting=$(rcli ZCARD "$T:q:$([ "$layout" = before ] && echo wait || echo line)")
  awk -v l="$layout" -v r="$rps" -v b="$before" -v a="$after" -v w="$waiting" \
    'BEGIN { printf "%-7s %10.0f entries/s %9d waiting %7.1f B per waiting buyer\n", l, r, w, (a - b) / w }'
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f3)"
echo "before = lua/ of $BEFORE_REV, after = the working tree; $REQUESTS new buyers per run, $CLIENTS clients"
for i in $(seq "$REPEATS"); do
  run before "$SHA_BEFORE" "${KEYS_BEFORE[@]}"
  run after "$SHA_AFTER" "${KEYS_AFTER[@]}"
done | tee "$OUT/runs.txt"
for layout in before after; do
  grep "^$layout " "$OUT/runs.txt" | awk -v l="$layout" '{ r[NR] = $2; m[NR] = $6 } END {
    n = asort(r); asort(m); printf "median %-7s %10.0f entries/s %7.1f B per waiting buyer\n", l, r[int((n + 1) / 2)], m[int((n + 1) / 2)] }'
done
