#!/usr/bin/env bash
# Status polls against the HTTP ceiling, side by side in one run (issue 15, part C):
#   1. the HTTP ceiling: wrk against examples/hello_server (a fixed JSON answer, hyper
#      configured like the server), GET /api/queue/status with a bearer header;
#   2. concert-queue's status polls: wrk cycling through --tokens WAITING tokens behind
#      --ahead others (default 1,000: the positions the snapshot always asks Redis for, at
#      STATUS_EXACT_POSITIONS' default), admission off (QUEUE_MAX_ACTIVE=0, so they stay
#      WAITING), idle drop on as in production, every limit off (the per-client budgets, the
#      token limiter and poll pacing), with the Redis calls the server made per poll
#      answered: its script calls (EVALSHA and EVAL in INFO commandstats, before and after,
#      the ticker's included; the commands a script runs inside Redis are not round trips
#      and not counted; the server's other commands are a few a second), and the
#      microseconds Redis's thread spent in those calls per poll (commandstats' usec: the
#      Redis CPU a poll costs, signs of life included, for sizing shards);
#   and with STATUS_SNAPSHOT set in the environment of the script, run 2 once per value
#   listed there (e.g. STATUS_SNAPSHOT="on off"), for servers that have that setting.
# Redis is a redis-server of the script's own on a free loopback port (so its commandstats
# count this server's calls only), nothing kept on disk; everything stops at the end.
#
# With --profile, each concert-queue run is also sampled by `perf record -e cpu-clock
# --call-graph dwarf` at 299 Hz
# (software clock: works where the CPU's counters are not exposed) and the server's hottest
# functions, self and inclusive, are written to $OUT/profile-NAME.txt.
#
# usage: scripts/perf/status-polls.sh [--seconds 15] [--connections 64] [--threads 2]
#                                     [--tokens 10000] [--ahead 1000] [--repeats 1]
#                                     [--profile] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=15 CONNECTIONS=64 THREADS=2 TOKENS=10000 AHEAD=1000 REPEATS=1 PROFILE=0
OUT="target/perf/status-polls-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --tokens) TOKENS="$2"; shift 2 ;;
    --ahead) AHEAD="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is needed (Debian: apt-get install wrk)" >&2; exit 2; }
[ "$PROFILE" = 0 ] || command -v perf >/dev/null || { echo "--profile needs perf (Debian: linux-perf)" >&2; exit 2; }

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
echo "== building (release)"
build_server --example hello_server
own_redis "$OUT/redis"

HELLO_PORT=$(free_port)
target/release/examples/hello_server "127.0.0.1:$HELLO_PORT" 3600 2>"$OUT/hello.log" &
PIDS+=($!)
wait_for "http://127.0.0.1:$HELLO_PORT/"

# start_server NAME VAR=VALUE...: a server under a prefix of its own with concert 1 and
# --ahead + --tokens WAITING buyers; sets URL_<NAME> and writes $OUT/tokens-NAME.lua for wrk.
start_server() {
  local name="$1" prefix="perfpoll$$$1" port; shift
  PREFIXES+=("$prefix")
  port=$(free_port)
  rcli SADD "$prefix:concerts" 1 >/dev/null
  rcli HSET "$prefix:{c:1}:meta" id 1 title "status polls" >/dev/null
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" BIND_ADDR="127.0.0.1:$port" \
    MYSQL_URL="mysql://root@127.0.0.1:1/unused" TOKEN_SECRET="status-polls-secret-$prefix" \
    TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 \
    CHARGES_PER_USER_PER_MIN=0 QUEUE_MAX_ACTIVE=0 ACCESS_LOG=off RUST_LOG=warn "$@" \
    "$SERVER_BIN" serve >"$OUT/server-$name.log" 2>&1 &
  PIDS+=("$!")
  printf -v "PID_$name" '%s' "$!"
  printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
  wait_for "http://127.0.0.1:$port/health"
  python3 - "$port" "$AHEAD" "$TOKENS" "$OUT/tokens-$name.lua" <<'PY'
import http.client, json, sys
port, ahead, n, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port)
tokens = []
for user in range(1, ahead + n + 1):
    conn.request("POST", "/api/queue/token", json.dumps({"userId": user, "concertId": 1}),
                 {"Content-Type": "application/json"})
    body = json.loads(conn.getresponse().read())
    assert body["status"] == "WAITING", body
    if user > ahead:
        tokens.append(body["token"])
with open(out, "w") as f:
    f.write("tokens = {" + ",".join('"%s"' % t for t in tokens) + "}\n")
    f.write("""
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/queue/status", {["Authorization"] = "Bearer " .. tokens[i]})
end
""")
PY
}

# Script calls Redis has answered so far, and the microseconds its thread spent in them
# (EVALSHA and EVAL in INFO commandstats): "calls usec".
redis_calls() {
  rcli INFO commandstats | awk -F'[=,:]' '$1 == "cmdstat_evalsha" || $1 == "cmdstat_eval" { n += $3; us += $5 }
    END { print n + 0, us + 0 }'
}

# poll NAME URL SCRIPT [PID]: one wrk run (sampled by perf when --profile and a server PID
# are given); prints "requests/s p50 p99 non-2xx redis-calls-per-poll redis-us-per-poll".
poll() {
  local name="$1" url="$2" script="$3" pid="${4:-}" before after perf_pid=""
  before=$(redis_calls)
  if [ "$PROFILE" = 1 ] && [ -n "$pid" ]; then
    perf record -q -e cpu-clock -F 299 --call-graph dwarf,16384 -p "$pid" -o "$OUT/perf-$name.data" \
      -- sleep "$SECONDS_PER_RUN" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "${SECONDS_PER_RUN}s" --latency -s "$script" \
    "$url/api/queue/status" > "$OUT/$name.txt"
  after=$(redis_calls)
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    { echo "== self"; perf report -i "$OUT/perf-$name.data" --stdio --no-children --sort symbol 2>/dev/null \
        | grep -E '^ +[0-9]' | head -40
      echo "== inclusive"; perf report -i "$OUT/perf-$name.data" --stdio --children --sort symbol 2>/dev/null \
        | grep -E '^ +[0-9]' | head -60; } > "$OUT/profile-$name.txt"
  fi
  awk -v calls=$(( ${after% *} - ${before% *} )) -v usec=$(( ${after#* } - ${before#* } )) '
    /Requests\/sec:/ { rps = $2 }
    /requests in/ { total = $1 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %s %s %d %.4f %.3f\n", rps, p50, p99, bad, calls / total, usec / total }' "$OUT/$name.txt"
}

VARIANTS=(${STATUS_SNAPSHOT:-default})
for variant in "${VARIANTS[@]}"; do
  if [ "$variant" = default ]; then start_server "$variant"; else start_server "$variant" STATUS_SNAPSHOT="$variant"; fi
done
cat > "$OUT/hello.lua" <<'LUA'
request = function()
  return wrk.format("GET", "/api/queue/status", {["Authorization"] = "Bearer x"})
end
LUA

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== wrk -t $THREADS -c $CONNECTIONS -d ${SECONDS_PER_RUN}s, $TOKENS WAITING tokens behind $AHEAD, $REPEATS run(s) each, alternating"
printf '%-24s %10s %9s %9s %8s %12s %12s\n' run "polls/s" "p50" "p99" non-2xx "redis/poll" "redis-us/poll"
for run in $(seq "$REPEATS"); do
  printf '%-24s %10s %9s %9s %8s %12s %12s\n' "http ceiling ($run)" $(poll "hello-$run" "http://127.0.0.1:$HELLO_PORT" "$OUT/hello.lua" | cut -d' ' -f1-4) - -
  for variant in "${VARIANTS[@]}"; do
    url_var="URL_$variant" pid_var="PID_$variant"
    printf '%-24s %10s %9s %9s %8s %12s %12s\n' "concert-queue $variant ($run)" \
      $(poll "status-$variant-$run" "${!url_var}" "$OUT/tokens-$variant.lua" "${!pid_var}")
  done
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg); wrk outputs in $OUT"
