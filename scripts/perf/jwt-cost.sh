#!/usr/bin/env bash
# What HS256 verification costs token issuance, in instructions rather than seconds, so the
# figure holds on a busy machine (callgrind counts the instructions the server executes,
# the same whatever else the cores are doing): the release server runs under
# `valgrind --tool=callgrind` once with AUTH_MODE=none and once with AUTH_MODE=jwt (HS256);
# after --warmup token requests the counters are zeroed, --requests token requests follow
# (each a new user, one keep-alive connection, the same JWT-carrying request in both modes
# so the client's side is the same), and the counters are dumped. Printed: the server's
# instructions per issued token in each mode, their ratio, and in jwt mode the share of
# the instructions spent inside `jsonwebtoken` (inclusive). Redis's side (the script) is
# the same in both modes and is not counted, so the ratio overstates HS256's share of a
# whole issuance.
#
# Everything runs on 127.0.0.1 under key prefixes of its own (deleted at the end); no MySQL
# (the route does not use it). Reports and callgrind files under --out.
#
# usage: scripts/perf/jwt-cost.sh [--requests 2000] [--warmup 200] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=2000 WARMUP=200
OUT="target/perf/jwt-cost-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "needs valgrind (Debian package valgrind)" >&2; exit 2; }

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
build_server
JWT_SECRET="jwt-cost-run-secret-of-32-bytes-at-least-$$"

# measure MODE: one server under callgrind; prints "MODE instructions-per-token jsonwebtoken-share".
measure() {
  local mode="$1" prefix="perfjwt$$$1" port pid out
  PREFIXES+=("$prefix")
  port=$(free_port)
  out="$OUT/callgrind.$mode"
  rcli SADD "$prefix:concerts" 1 >/dev/null
  rcli HSET "$prefix:{c:1}:meta" title perf >/dev/null
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" MYSQL_URL="mysql://root@127.0.0.1:1/unused" \
    TOKEN_SECRET="jwt-cost-secret-$prefix" BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn ACCESS_LOG=off \
    TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 \
    QUEUE_MAX_ACTIVE=0 TOKIO_RUNTIME=current_thread AUTH_MODE="$mode" AUTH_JWT_SECRET="$JWT_SECRET" \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$SERVER_BIN" serve \
    >"$OUT/server-$mode.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  # Up to a minute: the server starts many times slower under callgrind.
  for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && break
    sleep 0.1
  done
  python3 - "$port" "$mode" "$WARMUP" 1 "$JWT_SECRET" <<'PY'
import sys
sys.path.insert(0, "scripts/perf/lib")
from jwt_requests import send
send(*sys.argv[1:])
PY
  callgrind_control --zero "$pid" >/dev/null
  python3 - "$port" "$mode" "$REQUESTS" 1000000 "$JWT_SECRET" <<'PY'
import sys
sys.path.insert(0, "scripts/perf/lib")
from jwt_requests import send
send(*sys.argv[1:])
PY
  callgrind_control --dump="measured" "$pid" >/dev/null
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  local dump total share
  # The dump asked for above (callgrind names it $out.1; $out holds the rest of the run).
  dump=$(grep -l '^desc: Trigger: .*measured' "$out".* | head -1)
  total=$(grep '^totals:' "$dump" | awk '{print $2}')
  # jsonwebtoken::decoding::decode, inclusive: the whole verification of the user's JWT.
  share=$(callgrind_annotate --inclusive=yes "$dump" 2>/dev/null \
    | awk -v total="$total" '/jsonwebtoken::decoding::decode / {gsub(",", "", $1); if ($1 + 0 > best) best = $1 + 0}
        END {printf "%.2f", 100 * best / total}')
  echo "$mode $((total / REQUESTS)) $share"
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== $REQUESTS token requests after $WARMUP of warm-up, server under callgrind"
none=$(measure none)
jwt=$(measure jwt)
read -r _ none_per _ <<<"$none"
read -r _ jwt_per jwt_share <<<"$jwt"
{
  echo "instructions per issued token, AUTH_MODE=none: $none_per"
  echo "instructions per issued token, AUTH_MODE=jwt (HS256): $jwt_per"
  awk -v a="$none_per" -v b="$jwt_per" 'BEGIN {printf "jwt / none: %.3f (HS256 adds %.1f%% to the server side of issuance)\n", b / a, 100 * (b - a) / a}'
  echo "inside jsonwebtoken, inclusive, in the jwt run: $jwt_share% of the server's instructions"
} | tee "$OUT/summary.txt"
