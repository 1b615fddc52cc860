#!/usr/bin/env bash
# What HS256 verification costs token issuance in CPU time on this machine's own CPU (with
# its SHA extensions, which callgrind hides: see jwt-cost.sh), and so in throughput where
# the CPU is the bound: a release server with AUTH_MODE=none and one with AUTH_MODE=jwt
# (HS256) share a redis-server of the script's own (so its CPU is the runs' alone); the load
# tool's token scenario (closed model, --users connections, each request a new user, an
# HS256 JWT sent in both modes, so the client's side is the same) runs against each in
# turn, --repeats times, interleaved. Around each run the script reads the CPU time the
# kernel charged to the server and to redis-server (utime + stime, /proc/PID/stat), so
# other processes on the machine do not enter the figures. Printed per run and as medians:
# tokens issued, tokens/s, and CPU microseconds per issued token of the server, of Redis
# and of both; then HS256's share: 1 - (none's CPU per token / jwt's), the throughput a
# CPU-bound machine loses to it.
#
# usage: scripts/perf/jwt-cpu.sh [--seconds 15] [--repeats 5] [--users 64] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=15 REPEATS=5 USERS=64
OUT="target/perf/jwt-cpu-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v jq >/dev/null || { echo "needs jq (Debian package jq)" >&2; exit 2; }

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
build_server
build_load
own_redis "$OUT/redis"
write_one_concert_catalog "$OUT/catalog.json"
JWT_SECRET="jwt-cpu-run-secret-of-32-bytes-at-least-$$"
TICKS=$(getconf CLK_TCK)

# start_server MODE: a server of its own prefix with concert 1 registered; sets PID_<MODE>
# and URL_<MODE>.
start_server() {
  local mode="$1" prefix="perfjwtcpu$$$1" port
  PREFIXES+=("$prefix")
  port=$(free_port)
  rcli SADD "$prefix:concerts" 1 >/dev/null
  rcli HSET "$prefix:{c:1}:meta" title perf >/dev/null
  env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" MYSQL_URL="mysql://root@127.0.0.1:1/unused" \
    TOKEN_SECRET="jwt-cpu-secret-$prefix" BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn ACCESS_LOG=off \
    TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 POLL_MIN_INTERVAL_FACTOR=0 \
    QUEUE_MAX_ACTIVE=0 AUTH_MODE="$mode" AUTH_JWT_SECRET="$JWT_SECRET" \
    "$SERVER_BIN" serve >"$OUT/server-$mode.log" 2>&1 &
  PIDS+=("$!")
  printf -v "PID_$mode" '%s' "$!"
  printf -v "URL_$mode" '%s' "http://127.0.0.1:$port"
  wait_for "http://127.0.0.1:$port/health/live"
}

# cpu_ticks PID: user + system clock ticks charged to the process (all its threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_server none
start_server jwt
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
echo "run mode tokens tokens_per_s server_us_per_token redis_us_per_token both_us_per_token" | tee "$OUT/runs.txt"
for i in $(seq "$REPEATS"); do
  for mode in none jwt; do
    pid_var="PID_$mode" url_var="URL_$mode"
    server_before=$(cpu_ticks "${!pid_var}") redis_before=$(cpu_ticks "$OWN_REDIS_PID")
    "$LOAD_BIN" --target "${!url_var}" --scenario token --users "$USERS" --seconds "$SECONDS_PER_RUN" \
      --catalog "$OUT/catalog.json" --jwt-secret "$JWT_SECRET" --title "token issuance, AUTH_MODE=$mode (run $i)" \
      --json "$OUT/issuance-$mode-$i.json" > "$OUT/issuance-$mode-$i.txt"
    server_after=$(cpu_ticks "${!pid_var}") redis_after=$(cpu_ticks "$OWN_REDIS_PID")
    tokens=$(jq '.total.ok' "$OUT/issuance-$mode-$i.json")
    rps=$(jq '.total.throughput_rps' "$OUT/issuance-$mode-$i.json")
    awk -v i="$i" -v m="$mode" -v n="$tokens" -v rps="$rps" -v hz="$TICKS" \
      -v s=$((server_after - server_before)) -v r=$((redis_after - redis_before)) 'BEGIN {
        us = 1e6 / hz / n
        printf "%d %s %d %.0f %.2f %.2f %.2f\n", i, m, n, rps, s * us, r * us, (s + r) * us }' \
      | tee -a "$OUT/runs.txt"
  done
done

median() { # MODE COLUMN
  awk -v m="$1" -v c="$2" '$2 == m { print $c }' "$OUT/runs.txt" | sort -g \
    | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "== medians over $REPEATS runs of $SECONDS_PER_RUN s each"
for mode in none jwt; do
  printf '   %-4s tokens/s %.0f, CPU per token: server %.2f us, redis %.2f us, both %.2f us\n' "$mode" \
    "$(median "$mode" 4)" "$(median "$mode" 5)" "$(median "$mode" 6)" "$(median "$mode" 7)"
done
awk -v n="$(median none 7)" -v j="$(median jwt 7)" -v ns="$(median none 5)" -v js="$(median jwt 5)" \
  -v nr="$(median none 4)" -v jr="$(median jwt 4)" 'BEGIN {
  printf "== HS256 share of a CPU-bound issuance: 1 - %.2f/%.2f = %.1f%% (server alone: %.1f%% more CPU per token)\n", n, j, 100 * (1 - n / j), 100 * (js / ns - 1)
  printf "== tokens/s jwt/none: %.3f\n", jr / nr }'
# The same share per run pair (none then jwt, back to back): the line grows with every run,
# and so does each token's cost, so pairs compare like with like.
awk '$2 == "none" { n[$1] = $7 } $2 == "jwt" { j[$1] = $7 }
  END { for (i in n) printf "%d %.4f\n", i, 1 - n[i] / j[i] }' "$OUT/runs.txt" | sort -n > "$OUT/pairs.txt"
printf '== per run pair: %s; median %.1f%%\n' \
  "$(awk '{ printf "%s%.1f%%", (NR > 1 ? ", " : ""), 100 * $2 }' "$OUT/pairs.txt")" \
  "$(sort -k2 -g "$OUT/pairs.txt" | awk '{ v[NR] = $2 } END { print 100 * ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg); runs in $OUT/runs.txt"
