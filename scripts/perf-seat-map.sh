#!/usr/bin/env bash
# The seat_map script of a git revision (default 3fb1b73: one HEXISTS, HGET and ZSCORE per
# seat) against the working tree's (four reads for the whole map), in one run, on a
# redis-server of its own (free loopback port, nothing kept on disk). One 50-seat schedule:
# 10 seats held by live holds, 10 sold, 30 available; an ACTIVE viewer. Checks that both
# answer the same map, then runs redis-benchmark on each in turn, --repeats times, and
# prints requests/s and Redis's own usec_per_call (INFO commandstats, reset before each).
#
# usage: scripts/perf-seat-map.sh [--rev 3fb1b73] [--requests 100000] [--clients 20] [--repeats 2]
set -euo pipefail
cd "$(dirname "$0")/.."

REV=3fb1b73 REQUESTS=100000 CLIENTS=20 REPEATS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rev) REV="$2"; shift 2 ;;
    --requests) REQUESTS="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/lib/perf-common.sh
own_redis "target/perf/seat-map-$(date -u +%Y%m%dT%H%M%SZ)/redis"

T="{c:1}"
FAR=99999999999999
rcli ZADD "$T:q:active" "$FAR" viewer >/dev/null
rcli HSET "$T:q:active_seq" viewer 5 >/dev/null
for seat in $(seq 1 50); do rcli HSET "$T:s:1:seats" "$seat" 100000 >/dev/null; done
for seat in $(seq 1 10); do
  rcli HSET "$T:s:1:held" "$seat" "R1-$seat" >/dev/null
  rcli ZADD "$T:s:1:holds" "$FAR" "R1-$seat" >/dev/null
done
for seat in $(seq 11 20); do rcli HSET "$T:s:1:sold" "$seat" "R1-s$seat" >/dev/null; done

BEFORE=$(rcli SCRIPT LOAD "$(git show "$REV:lua/lib/common.lua" "$REV:lua/lib/booking.lua" "$REV:lua/seat_map.lua")")
AFTER=$(rcli SCRIPT LOAD "$(cat lua/lib/common.lua lua/lib/booking.lua lua/seat_map.lua)")
ARGS=(6 "$T:q:active" "$T:q:active_seq" "$T:s:1:seats" "$T:s:1:held" "$T:s:1:holds" "$T:s:1:sold" viewer 5)
if ! diff <(rcli EVALSHA "$BEFORE" "${ARGS[@]}") <(rcli EVALSHA "$AFTER" "${ARGS[@]}") >/dev/null; then
  echo "the two versions answer different maps" >&2; exit 1
fi

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f3)"
echo "before = lua/ of $REV, after = the working tree; both answer the same map"
for _ in $(seq "$REPEATS"); do
  for version in before after; do
    sha=$BEFORE; [ "$version" = after ] && sha=$AFTER
    rcli CONFIG RESETSTAT >/dev/null   # the private instance only
    rps=$(redis-benchmark -p "$REDIS_PORT" -c "$CLIENTS" -n "$REQUESTS" --csv EVALSHA "$sha" "${ARGS[@]}" \
      | tail -n 1 | cut -d, -f2 | tr -d '"')
    usec=$(rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p')
    printf '%-6s %9.0f maps/s %8s us per call in Redis\n' "$version" "$rps" "$usec"
  done
done
