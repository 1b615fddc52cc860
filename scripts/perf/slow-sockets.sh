#!/usr/bin/env bash
# Token issuance p99 with hostile sockets open against none, side by side in one run: one
# release server (default MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP, REQUEST_READ_TIMEOUT_SECS
# and RESPONSE_WRITE_TIMEOUT_SECS), the load tool's token scenario run alone, then while a
# Python holder keeps --sockets connections open from 127.0.0.2-127.0.0.5 (half of them a
# request's headers with Content-Length: 100 and one byte of body, then nothing; half of
# them pipelined page requests on a 4 KiB receive buffer, never read), reopening each one
# the server closes, then alone again. Prints each run's p99 and the ratio (goal: at most 2).
#
#   scripts/perf/slow-sockets.sh --sockets 2000 --users 64 --seconds 20
#
# usage: scripts/perf/slow-sockets.sh [--sockets 2000] [--users 64] [--seconds 20] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

SOCKETS=2000 USERS=64 SECONDS_PER_RUN=20
OUT="target/perf/slow-sockets-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --sockets) SOCKETS="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

source scripts/perf/lib/perf-common.sh
mkdir -p "$OUT"
own_database "cq_perf_slow_$$"
build_server
build_load
[ "$(ulimit -n)" -ge $((SOCKETS + 1024)) ] || ulimit -n $((SOCKETS + 1024))

prefix="perfslow$$"
PREFIXES+=("$prefix")
port=$(free_port)
URL="http://127.0.0.1:$port"
env REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="$prefix" MYSQL_URL="$PERF_MYSQL_URL" \
  TOKEN_SECRET="slow-sockets-secret-$prefix" TOKEN_RATE_LIMIT_PER_SEC=0 CLIENT_RATE_LIMIT_PER_SEC=0 \
  POLL_MIN_INTERVAL_FACTOR=0 QUEUE_MAX_ACTIVE=1000000 QUEUE_ADMIT_PER_SEC=100000 \
  BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn \
  sh -c "'$SERVER_BIN' seed --catalog bench-data/catalog.json >'$OUT/seed.log' 2>&1 && exec '$SERVER_BIN' serve >'$OUT/server.log' 2>&1" &
PIDS+=($!)
wait_for "$URL/health/ready"

run() { # name
  "$LOAD_BIN" --target "$URL" --scenario token --users "$USERS" --seconds "$SECONDS_PER_RUN" \
    --title "$1" --json "$OUT/$1.json" > "$OUT/$1.txt"
  printf '%-6s %s\n' "$1" "$(grep -E '^all ' "$OUT/$1.txt")"
}

# The holder: SOCKETS hostile connections, reopened as the server closes them; it writes
# how many are open to $OUT/holder.log every second.
python3 - "$port" "$SOCKETS" "$OUT/holder.log" <<'PY' &
import selectors, socket, sys, time
port, total, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sources = ["127.0.0.%d" % i for i in range(2, 6)]
slow = b"POST /api/queue/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
unread_request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
sel = selectors.DefaultSelector()  # the slow bodies: read for the 408 and the close
unread = {}                         # the unread answers: checked once a second for a reset
def open_one(i):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((sources[i % len(sources)], 0))
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    try:
        s.send(slow if i % 2 == 0 else unread_request)
    except BlockingIOError:
        pass
    if i % 2 == 0:
        sel.register(s, selectors.EVENT_READ, i)
    else:
        unread[i] = s
for i in range(total):
    open_one(i)
last = 0
while True:
    for key, _ in sel.select(timeout=0.5):
        s, i = key.fileobj, key.data
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data or data.startswith(b"HTTP/1.1 408"):
            sel.unregister(s)
            s.close()
            open_one(i)
    if time.time() - last >= 1:
        last = time.time()
        for i, s in list(unread.items()):
            try:
                s.recv(1, socket.MSG_PEEK)  # data waiting: still open; a reset: closed
            except BlockingIOError:
                continue
            except OSError:
                s.close()
                open_one(i)
        with open(log, "a") as f:
            f.write("%d open\n" % (len(sel.get_map()) + len(unread)))
PY
HOLDER=$!
PIDS+=("$HOLDER")
kill -STOP "$HOLDER"

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg); token scenario, $USERS users, $SECONDS_PER_RUN s per run, $SOCKETS hostile sockets"
run none-1
kill -CONT "$HOLDER"
sleep 5
run slow
echo "holder: $(tail -n 1 "$OUT/holder.log" 2>/dev/null || echo '?')"
kill -STOP "$HOLDER"
sleep 12  # the server closes them within its read and write timeouts
run none-2
p99() { jq '.total.p99_ms' "$OUT/$1.json"; }
awk -v a="$(p99 none-1)" -v s="$(p99 slow)" -v b="$(p99 none-2)" \
  'BEGIN { printf "p99: none %.2f ms, %.2f ms; slow sockets %.2f ms; ratio %.2f\n", a, b, s, s / ((a + b) / 2) }'
echo "($(date -u +%FT%TZ))"
