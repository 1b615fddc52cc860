#!/usr/bin/env bash
# Runs every test: makes sure Redis, MySQL and the Kafka broker answer (scripts/services.sh),
# then every test of the workspace, the engine's and the load tool's (benches/load; extra
# arguments go to `cargo test --workspace`), then checks the server against
# docs/openapi.yaml with schemathesis (scripts/schemathesis.sh; skipped when arguments pick
# tests), then compiles the engine's testcontainers path (`--features containers`), which
# needs a Docker engine to run.
#
#   scripts/test.sh                      # everything
#   scripts/test.sh --test queue_tokens  # one test target
#   scripts/test.sh -- --nocapture       # arguments for the test binaries
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "services"
bash scripts/services.sh

step "cargo test --workspace $*"
cargo test --workspace "$@"

if [ $# -eq 0 ]; then
    step "schemathesis against docs/openapi.yaml"
    bash scripts/schemathesis.sh
fi

step "cargo check -p concert-queue --tests --features containers"
cargo check -p concert-queue --tests --features containers

step "all tests passed"
