#!/usr/bin/env bash
# Runs concert-queue with the demo catalog: makes sure Redis, MySQL and the Kafka broker
# answer (scripts/services.sh), loads bench-data/catalog.json into MySQL and Redis
# (`seed`, idempotent), prints the address of the pages to open in a browser
# (http://127.0.0.1:8080/ unless BIND_ADDR says otherwise), then serves the API and the
# pages in the foreground (Ctrl-C stops it).
# Every setting comes from the environment (see .env.example), e.g.
#
#   QUEUE_MAX_ACTIVE=1 QUEUE_ADMIT_PER_SEC=1 scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The binary reads ./.env itself (cp .env.example .env). services.sh needs the service
# URLs from it too: bash sources it, and the variables the environment already had are
# put back, so the environment wins as it does for the binary.
if [[ -f .env ]]; then
    environment=$(export -p)
    set -a && source ./.env && set +a
    eval "$environment"
fi

bash scripts/services.sh
cargo run --release -- seed

# The address to open in a browser: BIND_ADDR's, with a wildcard host as loopback.
bind=${BIND_ADDR:-127.0.0.1:8080}
port=${bind##*:}
host=${bind%:*}
case $host in
0.0.0.0 | "") host=127.0.0.1 ;;
"[::]") host="[::1]" ;;
esac
printf '\n  concert-queue: open http://%s:%s/ in a browser (Ctrl-C stops the server)\n\n' "$host" "$port"
exec cargo run --release -- serve
