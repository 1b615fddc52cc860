#!/usr/bin/env bash
# Identity and fairness figures, side by side in one run (docs/performance.md, section 9):
#   1. fairness under attack: the load tool's fairness scenario (one client at 10x
#      TOKEN_RATE_LIMIT_PER_SEC, i.e. 1,000 token requests/s, each for a new user, while 200
#      honest clients join once each, spread over 10 s, at most 3 tries honouring
#      Retry-After) against the server as configured by default (per-client budgets on:
#      CLIENT_RATE_LIMIT_PER_SEC=2, burst 10) and, for contrast, with them off
#      (CLIENT_RATE_LIMIT_PER_SEC=0: main's one server-wide bucket); both behind one
#      "proxy" (TRUSTED_PROXY_HOPS=1, each client with an X-Forwarded-For address of its
#      own); then the same in AUTH_MODE=jwt (each client a JWT of its own);
#   2. token issuance per second, AUTH_MODE=none against AUTH_MODE=jwt (HS256), the load
#      tool's token scenario (closed model, each request a new user) against both servers in
#      turn, --repeats times; the load tool mints and sends a JWT in both, so the client's
#      work is the same and only the server's verification differs.
# Everything runs on 127.0.0.1 under key prefixes of its own, deleted at the end; reports
# are kept under --out.
#
# usage: scripts/perf/fairness.sh [--seconds 10] [--issuance-seconds 15] [--repeats 3]
#                                 [--users 64] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=10 ISSUANCE_SECONDS=15 REPEATS=3 USERS=64
OUT="target/perf/fairness-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --issuance-seconds) ISSUANCE_SECONDS="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
build_server
build_load
write_one_concert_catalog "$OUT/catalog.json"
JWT_SECRET="fairness-run-jwt-secret-of-32-bytes-$$"

# start_server NAME VAR=VALUE...: a server of its own prefix with concert 1 registered (no
# MySQL: the scenarios only join queues); sets URL_<NAME>.
start_server() {
  local name="$1" prefix="perffair$$$1" port; shift
  PREFIXES+=("$prefix")
  port=$(free_port)
  rcli SADD "$prefix:concerts" 1 >/dev/null
  rcli HSET "$prefix:{c:1}:meta" title perf >/dev/null
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" MYSQL_URL="mysql://root@127.0.0.1:1/unused" \
    TOKEN_SECRET="fairness-secret-$prefix" BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn "$@" \
    "$SERVER_BIN" serve >"$OUT/server-$name.log" 2>&1 &
  PIDS+=("$!")
  printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
  wait_for "http://127.0.0.1:$port/health"
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== 1. fairness under attack, $SECONDS_PER_RUN s"
start_server budgets TRUSTED_PROXY_HOPS=1
start_server nobudget TRUSTED_PROXY_HOPS=1 CLIENT_RATE_LIMIT_PER_SEC=0
start_server jwtbudgets AUTH_MODE=jwt AUTH_JWT_SECRET="$JWT_SECRET"
fair() { # name url load-args...
  local name="$1" url="$2"; shift 2
  "$LOAD_BIN" --target "$url" --scenario fairness --catalog "$OUT/catalog.json" \
    --attack-rate 1000 --honest 200 --tries 3 --seconds "$SECONDS_PER_RUN" \
    --json "$OUT/fairness-$name.json" "$@" | tee "$OUT/fairness-$name.txt" | sed "s/^/   [$name] /"
}
fair budgets "$URL_budgets"
fair nobudget "$URL_nobudget"
fair jwt-budgets "$URL_jwtbudgets" --jwt-secret "$JWT_SECRET"

echo "== 2. token issuance, AUTH_MODE none against jwt (HS256), $ISSUANCE_SECONDS s x $REPEATS each"
ISSUANCE_ENV=(TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0
  QUEUE_MAX_ACTIVE=1000000 QUEUE_ADMIT_PER_SEC=100000)
start_server none "${ISSUANCE_ENV[@]}" AUTH_MODE=none
start_server jwt "${ISSUANCE_ENV[@]}" AUTH_MODE=jwt AUTH_JWT_SECRET="$JWT_SECRET"
for i in $(seq "$REPEATS"); do
  for mode in none jwt; do
    url_var="URL_$mode"
    "$LOAD_BIN" --target "${!url_var}" --scenario token --users "$USERS" --seconds "$ISSUANCE_SECONDS" \
      --catalog "$OUT/catalog.json" --jwt-secret "$JWT_SECRET" --title "token issuance, AUTH_MODE=$mode (run $i)" \
      --html "$OUT/issuance-$mode-$i.html" --json "$OUT/issuance-$mode-$i.json" > "$OUT/issuance-$mode-$i.txt"
    printf '   %-5s run %d: %s\n' "$mode" "$i" "$(grep -E '^all ' "$OUT/issuance-$mode-$i.txt")"
  done
done
median() { jq -s 'map(.total.throughput_rps) | sort | .[(length - 1) / 2 | floor]' "$OUT"/issuance-"$1"-*.json; }
none_rps=$(median none) jwt_rps=$(median jwt)
printf '== median tokens/s: none %.0f, jwt %.0f (jwt/none %.3f)\n' "$none_rps" "$jwt_rps" \
  "$(echo "$jwt_rps / $none_rps" | bc -l)"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg); reports in $OUT"
