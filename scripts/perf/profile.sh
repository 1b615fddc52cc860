#!/usr/bin/env bash
# Where the time goes under the seed mix: CPU per process, perf flamegraphs, Redis INFO
# commandstats and usec per call per script. Starts a redis-server of its own (a free port,
# no persistence; --shared-redis uses REDIS_URL's instead, with deltas only), seeds
# bench-data/catalog.json under its own prefix and MySQL database, starts the server, then:
#
#   run 1 (clean): the mix for --seconds; between two snapshots inside the window it
#     records each process's CPU (/proc/<pid>/stat: redis-server, the server, the load
#     generator, mariadbd; /proc/stat for the machine), the time their threads (and Redis's
#     main thread alone) ran, waited for a CPU or slept (schedstat), Redis INFO cpu and INFO
#     commandstats (calls, usec, usec_per_call per command, evalsha included);
#   run 2 (profiled, unless --no-perf): the same mix under `perf record --call-graph dwarf`
#     of the server (and of the redis-server it started), folded and drawn as flamegraphs by
#     inferno (installed with cargo into ~/.cache/concert-queue/inferno when missing), and
#     a SLOWLOG sample of every command on its own Redis for --slowlog-seconds, mapped to
#     script names through the scripts' SHA1s (examples/load_script --list): usec per call
#     per script.
#
# Everything lands in target/perf/profile-<UTC>/ (or --out): run-1.txt/json/html,
# run-1-summary.json, profile.txt (the tables), server-flamegraph.svg,
# redis-flamegraph.svg, *.folded, scripts.sha, slowlog.json.
#
# usage: scripts/perf/profile.sh [--seconds 60] [--users 730] [--perf-freq 99]
#                                [--slowlog-seconds 2] [--no-perf] [--shared-redis]
#                                [--fanout pipeline] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

ARGS="$*"
SECONDS_PER_RUN=60 USERS=730 PERF_FREQ=99 SLOWLOG_SECONDS=2 PERF=1 SHARED_REDIS=0 FANOUT=""
OUT="target/perf/profile-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --perf-freq) PERF_FREQ="$2"; shift 2 ;;
    --slowlog-seconds) SLOWLOG_SECONDS="$2"; shift 2 ;;
    --no-perf) PERF=0; shift ;;
    --shared-redis) SHARED_REDIS=1; shift ;;
    --fanout) FANOUT="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$SECONDS_PER_RUN" -ge 12 ] || { echo "--seconds must be at least 12" >&2; exit 2; }

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
own_database "cq_prof_$$"
INFERNO_ROOT="$HOME/.cache/concert-queue/inferno"

STARTED=$(date -u +%FT%TZ)
echo "== building (release)"
build_server --example load_script
build_load
target/release/examples/load_script --list > "$OUT/scripts.sha"

if [ "$PERF" = 1 ] && ! [ -x "$INFERNO_ROOT/bin/inferno-flamegraph" ]; then
  echo "== installing inferno into $INFERNO_ROOT"
  cargo install inferno --locked --quiet --root "$INFERNO_ROOT"
fi

if [ "$SHARED_REDIS" = 0 ]; then
  own_redis "$OUT/redis"
  REDIS_PID=$OWN_REDIS_PID
else
  REDIS_PID=$(rcli INFO server | tr -d '\r' | awk -F: '/^process_id:/{print $2}')
fi
echo "== redis-server pid $REDIS_PID at $REDIS_URL ($([ "$SHARED_REDIS" = 0 ] && echo own || echo shared))"

PREFIX="perfprof$$"
[ "$SHARED_REDIS" = 1 ] && PREFIXES+=("$PREFIX") # an own Redis goes with all its keys
PORT=$(free_port)
export REDIS_URL REDIS_KEY_PREFIX="$PREFIX" MYSQL_URL="$PERF_MYSQL_URL" \
  TOKEN_SECRET="perf-profile-secret-$PREFIX" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 \
  QUEUE_MAX_ACTIVE=1000000 QUEUE_ADMIT_PER_SEC=100000 BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn
[ -n "$FANOUT" ] && export SCRIPT_FANOUT="$FANOUT"
"$SERVER_BIN" seed --catalog bench-data/catalog.json > "$OUT/seed.log" 2>&1
"$SERVER_BIN" serve > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
# The server goes first in PIDS, so it stops before a Redis this script started.
PIDS=("$SERVER_PID" "${PIDS[@]}")
SERVER_URL="http://127.0.0.1:$PORT"
wait_for "$SERVER_URL/health"
MARIADB_PID=$(pgrep -xo mariadbd || pgrep -xo mysqld || true)

snapshot() { # name load-pid
  local name="$1" load_pid="$2"
  date +%s.%N > "$OUT/$name.time"
  head -1 /proc/stat > "$OUT/$name.machine"
  cat /proc/loadavg > "$OUT/$name.loadavg"
  cat "/proc/$REDIS_PID/stat" > "$OUT/$name.redis" 2>/dev/null || : > "$OUT/$name.redis"
  cat "/proc/$SERVER_PID/stat" > "$OUT/$name.server"
  cat "/proc/$load_pid/stat" > "$OUT/$name.load"
  if [ -n "$MARIADB_PID" ]; then cat "/proc/$MARIADB_PID/stat" > "$OUT/$name.mariadb"; else : > "$OUT/$name.mariadb"; fi
  # Time on a CPU and time runnable but waiting for one (ns), summed over each one's threads;
  # Redis's main thread apart, since it is the one that runs the commands.
  for who in redis server load; do
    local pid; case "$who" in redis) pid=$REDIS_PID ;; server) pid=$SERVER_PID ;; load) pid=$load_pid ;; esac
    cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{r+=$1; w+=$2} END {print r+0, w+0}' > "$OUT/$name.$who.sched"
  done
  cat "/proc/$REDIS_PID/task/$REDIS_PID/schedstat" > "$OUT/$name.redis-main.sched" 2>/dev/null || : > "$OUT/$name.redis-main.sched"
  rcli INFO cpu | tr -d '\r' > "$OUT/$name.cpu"
  rcli INFO commandstats | tr -d '\r' > "$OUT/$name.commandstats"
}

start_load() { # name
  "$LOAD_BIN" --target "$SERVER_URL" --scenario mix --users "$USERS" --seconds "$SECONDS_PER_RUN" \
    --title "profile: $1" --html "$OUT/$1.html" --json "$OUT/$1.json" > "$OUT/$1.txt" 2>&1 &
  LOAD_PID=$!
}

# Snapshots 4 s into the window (set-up done) and 2 s before its end.
WARM=4
SPAN=$((SECONDS_PER_RUN - WARM - 2))
echo "== run 1 (clean): mix, $USERS users, $SECONDS_PER_RUN s; snapshots over $SPAN s ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
start_load run-1
sleep "$WARM"
snapshot run-1-a "$LOAD_PID"
sleep "$SPAN"
snapshot run-1-b "$LOAD_PID"
wait "$LOAD_PID"
grep -E '^all ' "$OUT/run-1.txt"

if [ "$PERF" = 1 ]; then
  echo "== run 2 (profiled): perf record -F $PERF_FREQ --call-graph dwarf over $SPAN s"
  start_load run-2
  sleep "$WARM"
  perf record -F "$PERF_FREQ" --call-graph dwarf,16384 -p "$SERVER_PID" -o "$OUT/server.perf.data" \
    -- sleep "$SPAN" > "$OUT/perf-server.log" 2>&1 &
  PERF_SERVER=$!
  PERF_REDIS=""
  if [ "$SHARED_REDIS" = 0 ]; then
    perf record -F "$PERF_FREQ" --call-graph dwarf,16384 -p "$REDIS_PID" -o "$OUT/redis.perf.data" \
      -- sleep "$SPAN" > "$OUT/perf-redis.log" 2>&1 &
    PERF_REDIS=$!
    # Every command's own time, for a few seconds: SLOWLOG with no threshold (own Redis only).
    sleep 2
    rcli CONFIG SET slowlog-max-len 1000000 >/dev/null
    rcli SLOWLOG RESET >/dev/null
    rcli CONFIG SET slowlog-log-slower-than 0 >/dev/null
    sleep "$SLOWLOG_SECONDS"
    rcli CONFIG SET slowlog-log-slower-than -1 >/dev/null
    rcli --json SLOWLOG GET -1 > "$OUT/slowlog.json"
    rcli SLOWLOG RESET >/dev/null
    rcli CONFIG SET slowlog-max-len 128 >/dev/null
  fi
  wait "$PERF_SERVER" || echo "perf record of the server failed: see $OUT/perf-server.log"
  [ -n "$PERF_REDIS" ] && { wait "$PERF_REDIS" || echo "perf record of redis failed: see $OUT/perf-redis.log"; }
  wait "$LOAD_PID"
  grep -E '^all ' "$OUT/run-2.txt" | sed 's/^/(under perf) /'
  for who in server redis; do
    [ -s "$OUT/$who.perf.data" ] || continue
    perf script -i "$OUT/$who.perf.data" 2>/dev/null \
      | "$INFERNO_ROOT/bin/inferno-collapse-perf" --all > "$OUT/$who.folded"
    "$INFERNO_ROOT/bin/inferno-flamegraph" --title "$who under the seed mix, $USERS users ($(date -u +%FT%TZ))" \
      < "$OUT/$who.folded" > "$OUT/$who-flamegraph.svg"
    rm -f "$OUT/$who.perf.data" # large; the folded stacks keep what the flamegraph shows
  done
fi

{
  echo "command: scripts/perf/profile.sh $ARGS"
  echo "started: $STARTED; report: $(date -u +%FT%TZ)"
  echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB; $(uname -srm); $(redis-server --version | cut -d' ' -f3)"
  grep -E '^all ' "$OUT/run-1.txt" | sed 's/^/run 1: /'
  python3 scripts/perf/lib/profile_report.py "$OUT" run-1
  for who in server redis; do
    [ -s "$OUT/$who.folded" ] || continue
    echo
    echo "== $who: top functions by own samples (perf, run 2)"
    awk '{n=$NF; $NF=""; sub(/ $/,""); k=split($0,f,";"); self[f[k]]+=n; total+=n}
         END {for (s in self) printf "%6.2f%%  %s\n", 100*self[s]/total, s}' "$OUT/$who.folded" \
      | sort -rn | sed -n 1,25p
  done
} | tee "$OUT/profile.txt"
[ -f "$OUT/slowlog.json" ] && gzip -f "$OUT/slowlog.json"
echo "reports: $OUT"
