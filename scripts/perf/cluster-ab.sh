#!/usr/bin/env bash
# One Redis against a three-master Redis Cluster, side by side (issue 14): the seed mix with
# 350 virtual users, then the booking flow with 350 users (holds and payments: one script on
# one Redis, three steps on the cluster), each on a fresh prefix and catalog, the two
# topologies interleaved (their order alternating) so that a busy machine weighs on both
# alike. The cluster is `scripts/services.sh cluster`'s (started when absent). On a 2-core
# machine the figure shows what the cluster costs, not how it scales. Prints medians and
# the cluster's ratio to one Redis; every report is kept under --out.
#
# usage: scripts/perf/cluster-ab.sh [--seconds 30] [--repeats 3] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_RUN=30 REPEATS=3
OUT="target/perf/cluster-ab-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
own_database "cq_perf_ab_$$"
NODES=$(bash scripts/services.sh cluster | sed -n 's/^REDIS_CLUSTER_NODES=//p')
[ -n "$NODES" ] || { echo "scripts/services.sh cluster printed no REDIS_CLUSTER_NODES" >&2; exit 1; }
CLUSTER_PREFIXES=()

# The cluster's keys of this script's prefixes, deleted one by one on the master that
# holds them (a command per key: keys of several slots cannot share one).
cleanup_cluster() {
  local port prefix
  for port in $(echo "$NODES" | tr ',' '\n' | sed 's/.*://'); do
    for prefix in "${CLUSTER_PREFIXES[@]}"; do
      redis-cli -p "$port" --scan --pattern "$prefix:*" 2>/dev/null \
        | sed 's/^/UNLINK /' | redis-cli -p "$port" >/dev/null 2>&1 || true
    done
  done
}
trap 'cleanup; cleanup_cluster' EXIT

build_server
build_load

SERVER_PID="" SERVER_URL=""
start_server() { # topology prefix
  local topology="$1" prefix="$2" port
  port=$(free_port)
  export REDIS_URL REDIS_KEY_PREFIX="$prefix" MYSQL_URL="$PERF_MYSQL_URL" \
    TOKEN_SECRET="cluster-ab-secret-$prefix" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 \
    POLL_MIN_INTERVAL_FACTOR=0 CHARGES_PER_USER_PER_MIN=0 QUEUE_MAX_ACTIVE=1000000 \
    QUEUE_ADMIT_PER_SEC=100000 BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn
  if [ "$topology" = cluster ]; then
    export REDIS_CLUSTER_NODES="$NODES"
    CLUSTER_PREFIXES+=("$prefix")
  else
    unset REDIS_CLUSTER_NODES
    PREFIXES+=("$prefix")
  fi
  "$SERVER_BIN" seed --catalog bench-data/catalog.json >"$OUT/seed-$prefix.log" 2>&1
  "$SERVER_BIN" serve >"$OUT/server-$prefix.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  SERVER_URL="http://127.0.0.1:$port"
  wait_for "$SERVER_URL/health"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }

for i in $(seq "$REPEATS"); do
  order="node cluster"
  [ $((i % 2)) -eq 0 ] && order="cluster node"
  for topology in $order; do
    for scenario in mix flow; do
      echo "== $topology, $scenario, run $i of $REPEATS"
      start_server "$topology" "perfab$$${topology}${scenario}$i"
      "$LOAD_BIN" --target "$SERVER_URL" --scenario "$scenario" --users 350 \
        --seconds "$SECONDS_PER_RUN" --title "cluster A/B: $topology $scenario (run $i)" \
        --html "$OUT/$topology-$scenario-$i.html" --json "$OUT/$topology-$scenario-$i.json" \
        > "$OUT/$topology-$scenario-$i.txt"
      grep -E '^(all |booking flows)' "$OUT/$topology-$scenario-$i.txt"
      stop_server
    done
  done
done

median() { # name field
  jq -s --arg f "$2" 'map(.total[$f]) | sort | .[(length - 1) / 2 | floor]' "$OUT/$1"-*.json
}
echo
echo "== medians of $REPEATS runs ($(date -u +%FT%TZ); $(nproc) cores; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-16s %10s %9s %9s %9s %9s\n' run "req/s" "mean ms" "p50 ms" "p99 ms" errors
for scenario in mix flow; do
  for topology in node cluster; do
    name="$topology-$scenario"
    printf '%-16s %10.0f %9.2f %9.2f %9.2f %8.2f%%\n' "$name" "$(median "$name" throughput_rps)" \
      "$(median "$name" mean_ms)" "$(median "$name" p50_ms)" "$(median "$name" p99_ms)" \
      "$(median "$name" error_rate_pct)"
  done
  printf '%-16s %10.2f %9.2f %9.2f %9.2f\n' "$scenario cluster/node" \
    "$(echo "$(median "cluster-$scenario" throughput_rps) / $(median "node-$scenario" throughput_rps)" | bc -l)" \
    "$(echo "$(median "cluster-$scenario" mean_ms) / $(median "node-$scenario" mean_ms)" | bc -l)" \
    "$(echo "$(median "cluster-$scenario" p50_ms) / $(median "node-$scenario" p50_ms)" | bc -l)" \
    "$(echo "$(median "cluster-$scenario" p99_ms) / $(median "node-$scenario" p99_ms)" | bc -l)"
done
echo "reports: $OUT/*.html"
