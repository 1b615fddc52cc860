# syntax=docker/dockerfile:1
# concert-queue: one image for the API server (`serve`), the catalog loader (`seed`)
# and the outbox worker (`flush`).
#
#   docker build -t concert-queue .
#   docker run --rm -p 8080:8080 -e REDIS_URL=... -e MYSQL_URL=... concert-queue serve

# The toolchain the project is developed with, and the Debian release of both stages (the
# runtime must have the builder's glibc).
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# --- build ----------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# librdkafka is built from source by rdkafka-sys (configure + make, C and C++).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole context: the workspace's members (the engine, and the load tool in benches/load,
# which the image does not build) must all be there for cargo to resolve the workspace.
COPY . .
# Cache mounts keep the registry and the target directory between builds; the binary is
# copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p concert-queue --bin concert-queue \
 && install -m 0755 target/release/concert-queue /usr/local/bin/concert-queue

# --- run ------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# curl serves the container healthcheck (GET /health).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin concert
WORKDIR /app
COPY --from=builder /usr/local/bin/concert-queue /usr/local/bin/concert-queue
# `seed` reads bench-data/catalog.json relative to the working directory.
COPY bench-data/catalog.json /app/bench-data/catalog.json
USER concert
# Not a loopback address: `serve` starts only once AUTH_MODE is set (jwt, or none on
# purpose; docker-compose.yml sets it), as docs/operations.md explains.
ENV BIND_ADDR=0.0.0.0:8080 \
    RUST_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health >/dev/null || exit 1
ENTRYPOINT ["concert-queue"]
CMD ["serve"]
