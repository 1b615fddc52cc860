#!/usr/bin/env bash
# Runs concert-queue with the demo catalog: makes sure Redis, MySQL and the Kafka broker
# answer (scripts/services.sh), loads bench-data/catalog.json into MySQL and Redis
# (`seed`, idempotent), then serves the API in the foreground (Ctrl-C stops it).
# Every setting comes from the environment (see .env.example), e.g.
#
#   QUEUE_MAX_ACTIVE=1 QUEUE_ADMIT_PER_SEC=1 scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Settings from ./.env, if there is one (cp .env.example .env); the environment wins.
if [[ -f .env ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*([A-Z_][A-Z0-9_]*)=(.*)$ ]] || continue
        name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        [[ -n ${!name+set} ]] || export "$name=$value"
    done <.env
fi

bash scripts/services.sh
cargo run --release -- seed
exec cargo run --release -- serve
