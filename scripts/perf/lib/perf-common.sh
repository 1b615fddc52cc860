# Shared by the perf scripts (sourced, not run, from the repository root): the two release
# binaries and how to build them, the loopback Redis from REDIS_URL, a redis-cli on it, the
# servers and key prefixes a script started (ended and deleted on exit, as is the MySQL
# database of `own_database`), a free port, and waiting for a URL to answer.

REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${REDIS_URL#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
REDIS_HOST="${hostport%%:*}"; REDIS_PORT="${hostport##*:}"
case "$REDIS_HOST" in 127.*|localhost) ;; *) echo "REDIS_URL must be on loopback" >&2; exit 2 ;; esac
SERVER_BIN=target/release/concert-queue    # serve, seed, flush
LOAD_BIN=target/release/concert-queue-load  # the load tool (benches/load)
PIDS=()
PREFIXES=()
DATABASE=""

# Builds what a script runs (release): the server, with the engine's examples given as
# arguments (e.g. --example load_script), and/or the load tool. Two cargo runs, not one, so
# each is built with exactly the dependency features it has on its own (cargo unifies the
# features of the packages built together), as `cargo build --release` builds the server.
build_server() { cargo build --release --quiet -p concert-queue --bin concert-queue "$@"; }
build_load() { cargo build --release --quiet -p concert-queue-load; }

rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$DATABASE" ]; then
    mysql -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$DATABASE\`" 2>/dev/null || true
  fi
  for prefix in "${PREFIXES[@]}"; do
    # (Silent when the script's own redis-server, stopped above, held them.)
    rcli --scan --pattern "$prefix:*" 2>/dev/null \
      | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# A MySQL database of the script's own, dropped on exit: sets DATABASE and
# PERF_MYSQL_URL (MYSQL_URL's server with this database).
own_database() {
  local base="${MYSQL_URL:-mysql://root@127.0.0.1:3306/concert_queue}"
  DATABASE="$1"
  PERF_MYSQL_URL="${base%/*}/$DATABASE"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A redis-server of the script's own on a free loopback port, nothing kept on disk (its
# log under DIR), stopped on exit with the script's other processes: points REDIS_URL,
# REDIS_HOST and REDIS_PORT (so rcli) at it and sets OWN_REDIS_PID.
own_redis() { # dir
  mkdir -p "$1"
  REDIS_PORT=$(free_port) REDIS_HOST=127.0.0.1
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$1" > "$1/redis.log" 2>&1 &
  OWN_REDIS_PID=$!
  PIDS+=("$OWN_REDIS_PID")
  for _ in $(seq 50); do rcli PING >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "the script's own redis-server did not answer on port $REDIS_PORT" >&2; exit 1
}

wait_for() {
  for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer at $1" >&2; exit 1
}

# A catalog of one concert with one schedule, so every request hits one queue's keys.
write_one_concert_catalog() {
  cat > "$1" <<'JSON'
{"concerts": [{"id": 1, "title": "perf", "artist": "-", "venue": "-",
  "schedules": [{"id": 1, "startsAt": "2027-01-01T00:00:00Z", "seats": []}]}]}
JSON
}

# Loads the issue_token script exactly as the server composes it (examples/load_script,
# built by the calling script) and prints its SHA1.
load_issue_token_script() {
  REDIS_URL="$REDIS_URL" target/release/examples/load_script issue_token
}
