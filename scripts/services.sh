#!/usr/bin/env bash
# Makes sure Redis, MySQL (MariaDB) and a Kafka-compatible broker answer at the URLs the
# project uses, starting (and if need be installing) whatever does not.
#
#   REDIS_URL      default redis://127.0.0.1:6379
#   MYSQL_URL      default mysql://root@127.0.0.1:3306/concert_queue
#   KAFKA_BROKERS  default 127.0.0.1:9092 (only the first broker of the list is checked)
#   KAFKA_TOPIC    default reservation-confirmed (created on the broker when missing)
#   CQ_CACHE_DIR   default $HOME/.cache/concert-queue
#   TANSU_ROOT     default $CQ_CACHE_DIR/tansu-0.6.0 (the cargo install root of the broker)
#   SERVICES_START_TIMEOUT  default 60 (seconds to wait for a started service to answer)
#
# A service that already answers is left alone. One that does not is started on the
# URL's host and port (loopback hosts only), as the current user, with its data, pid and
# log under $CQ_CACHE_DIR/<service>-<port>/:
#   redis   redis-server (Debian package redis-server), no persistence
#   mysql   mariadbd (Debian package mariadb-server), its own data directory, root
#           with an empty password (plus the URL's user and password, if any)
#   kafka   tansu 0.6.0 (built once by cargo install into $CQ_CACHE_DIR/tansu-0.6.0),
#           in-memory storage
# The binaries are installed even when the services answer, since the tests start private
# instances of them: redis-server, mariadbd and mariadb-install-db, and tansu (the tests
# look for it at ~/.cache/concert-queue/tansu-0.6.0/bin/tansu); so are Chromium and its
# driver (Debian packages chromium and chromium-driver: /usr/bin/chromium and
# /usr/bin/chromedriver), which the browser tests start, with a Korean font (fonts-nanum).
#
# Idempotent: run it as often as you like. `scripts/services.sh stop` stops the instances
# it started for the current URLs (found by their pid files), and nothing else.
#
# `scripts/services.sh cluster` starts (or finds running) a local Redis Cluster instead:
# six `redis-server --cluster-enabled yes` on six consecutive loopback ports (three masters,
# three replicas, `redis-cli --cluster create --cluster-replicas 1`), no persistence, each
# under $CQ_CACHE_DIR/redis-cluster/<port>/. It waits for `cluster_state:ok`, then prints
# `REDIS_CLUSTER_NODES=127.0.0.1:P1,...` on stdout (the seed list the server and the tests
# read) and writes the same list to $CQ_CACHE_DIR/redis-cluster/nodes. The first port is
# REDIS_CLUSTER_BASE_PORT (default 7000), or the next multiple of ten whose six ports are
# free. `scripts/services.sh cluster-stop` stops those six servers (by their pid files).
set -euo pipefail

REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
MYSQL_URL=${MYSQL_URL:-mysql://root@127.0.0.1:3306/concert_queue}
KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}
KAFKA_TOPIC=${KAFKA_TOPIC:-reservation-confirmed}
CACHE=${CQ_CACHE_DIR:-$HOME/.cache/concert-queue}
TANSU_VERSION=0.6.0
TANSU_ROOT=${TANSU_ROOT:-$CACHE/tansu-$TANSU_VERSION}
TANSU=$TANSU_ROOT/bin/tansu
START_TIMEOUT=${SERVICES_START_TIMEOUT:-60}

log() { printf 'services: %s\n' "$*" >&2; }
die() {
    printf 'services: ERROR: %s\n' "$*" >&2
    exit 1
}

# --- helpers ------------------------------------------------------------------------

# Splits a URL into U_USER, U_PASS, U_HOST, U_PORT (percent-decoded user and password)
# and U_ADDR.
parse_url() {
    local url=$1 default_port=$2 rest auth="" hostport
    rest=${url#*://}
    hostport=${rest%%/*}
    hostport=${hostport%%\?*}
    if [[ $hostport == *@* ]]; then
        auth=${hostport%@*}
        hostport=${hostport##*@}
    fi
    U_USER=$(urldecode "${auth%%:*}")
    U_PASS=""
    [[ $auth == *:* ]] && U_PASS=$(urldecode "${auth#*:}")
    if [[ $hostport == \[* ]]; then # [v6]:port
        U_HOST=${hostport#[}
        U_HOST=${U_HOST%%]*}
        U_PORT=${hostport##*]}
        U_PORT=${U_PORT#:}
    else
        U_HOST=${hostport%%:*}
        U_PORT=""
        [[ $hostport == *:* ]] && U_PORT=${hostport##*:}
    fi
    [[ -n $U_HOST ]] || U_HOST=127.0.0.1
    [[ -n $U_PORT ]] || U_PORT=$default_port
    [[ $U_PORT =~ ^[0-9]+$ ]] || die "bad port in $url"
    # The address to check: localhost as 127.0.0.1, so no check depends on resolving it.
    U_ADDR=$U_HOST
    [[ $U_HOST == localhost ]] && U_ADDR=127.0.0.1
    return 0
}

urldecode() {
    local s=${1//+/ }
    printf '%b' "${s//%/\\x}"
}

# Hides the password of a URL for printing.
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

is_loopback() {
    case $1 in
    localhost | ::1 | 127.*) return 0 ;;
    *) return 1 ;;
    esac
}

# True when something accepts TCP connections on host:port (bash's /dev/tcp).
# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash
port_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# Waits until "$@" succeeds, up to $START_TIMEOUT seconds.
wait_for() {
    local what=$1 logfile=$2
    shift 2
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            log "last lines of $logfile:"
            tail -n 20 "$logfile" >&2 2>/dev/null || true
            die "$what did not answer within ${START_TIMEOUT}s (log: $logfile)"
        fi
        sleep 0.2
    done
}

as_root() {
    if [[ $(id -u) == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=""
# Installs Debian packages without letting their maintainer scripts start the default
# service instances (a policy-rc.d that forbids it is put in place only for the install).
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* yourself"
    log "installing Debian packages: $*"
    local policy=/usr/sbin/policy-rc.d created=""
    if [[ ! -e $policy ]]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        created=1
        # Removed even if the install is interrupted.
        trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    local rc=0
    if [[ -z $APT_UPDATED ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
        APT_UPDATED=1
    fi
    if ((rc == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null || rc=$?
    fi
    if [[ -n $created ]]; then
        as_root rm -f "$policy"
        trap - EXIT
    fi
    ((rc == 0)) || die "apt-get install $* failed"
}

# Starts a command detached from this shell (it outlives the script), logging to $1.
spawn() {
    local logfile=$1
    shift
    # fd 9 holds the services lock: the daemon must not inherit it.
    setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
    echo $!
}

# --- binaries -----------------------------------------------------------------------

# Installs, in one go, the Debian packages whose binaries are missing.
ensure_packages() {
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
        missing+=(mariadb-server)
    fi
    command -v mariadb >/dev/null || missing+=(mariadb-client)
    # curl and jq: the README's examples and docs/booking-demo.sh use them.
    command -v curl >/dev/null || missing+=(curl)
    command -v jq >/dev/null || missing+=(jq)
    # The browser tests (tests/browser) drive headless Chromium through chromedriver.
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    # A Korean font, so that the pages' Korean reads in the browser tests' screenshots.
    { fc-list :lang=ko family 2>/dev/null | grep -q . || [[ -d /usr/share/fonts/truetype/nanum ]]; } ||
        missing+=(fonts-nanum)
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# --- Redis --------------------------------------------------------------------------

redis_ping() {
    if command -v redis-cli >/dev/null; then
        local auth=()
        [[ -n $R_USER ]] && auth+=(--user "$R_USER")
        [[ -n $R_PASS ]] && auth+=(--pass "$R_PASS")
        [[ $(timeout 3 redis-cli -h "$R_ADDR" -p "$R_PORT" "${auth[@]}" --no-auth-warning ping 2>/dev/null) == PONG ]]
    else
        port_open "$R_ADDR" "$R_PORT"
    fi
}

ensure_redis() {
    parse_url "$REDIS_URL" 6379
    R_HOST=$U_HOST R_ADDR=$U_ADDR R_PORT=$U_PORT R_USER=$U_USER R_PASS=$U_PASS
    if redis_ping; then
        log "redis: answering at $R_HOST:$R_PORT, left alone"
        return
    fi
    if port_open "$R_ADDR" "$R_PORT"; then
        die "something listens on $R_HOST:$R_PORT but does not answer PING as Redis for $REDIS_URL"
    fi
    is_loopback "$R_HOST" || die "redis at $R_HOST:$R_PORT does not answer (not a loopback host: not starting one)"
    local dir=$CACHE/redis-$R_PORT
    mkdir -p "$dir"
    local bind=("$R_HOST")
    [[ $R_HOST == localhost ]] && bind=(127.0.0.1 -::1)
    local args=(--bind "${bind[@]}" --port "$R_PORT" --save "" --appendonly no
        --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" --daemonize yes)
    [[ -n $R_PASS ]] && args+=(--requirepass "$R_PASS")
    log "redis: starting redis-server on $R_HOST:$R_PORT (dir $dir)"
    redis-server "${args[@]}" 9>&- || die "redis-server failed to start (log: $dir/redis.log)"
    wait_for "redis at $R_HOST:$R_PORT" "$dir/redis.log" redis_ping
    log "redis: up"
}

# --- MySQL (MariaDB) ----------------------------------------------------------------

mysql_cli() {
    local client
    client=$(command -v mariadb || command -v mysql) || return 1
    MYSQL_PWD=$M_PASS timeout 5 "$client" --protocol=TCP -h "$M_ADDR" -P "$M_PORT" -u "$M_USER" \
        --connect-timeout=3 -N -e "$@"
}

mysql_ping() {
    if command -v mariadb >/dev/null || command -v mysql >/dev/null; then
        mysql_cli 'SELECT 1' >/dev/null 2>&1
    else
        port_open "$M_ADDR" "$M_PORT"
    fi
}

mysql_socket_ping() {
    timeout 5 mariadb --no-defaults -S "$M_SOCKET" -u root -e 'SELECT 1' >/dev/null 2>&1
}

sql_quote() { printf "'%s'" "${1//\'/\'\'}"; }

ensure_mysql() {
    parse_url "$MYSQL_URL" 3306
    M_HOST=$U_HOST M_ADDR=$U_ADDR M_PORT=$U_PORT M_USER=${U_USER:-root} M_PASS=$U_PASS
    if mysql_ping; then
        log "mysql: answering at $M_HOST:$M_PORT, left alone"
        return
    fi
    if port_open "$M_ADDR" "$M_PORT"; then
        die "something listens on $M_HOST:$M_PORT but user '$M_USER' cannot log in to it (MYSQL_URL=$MYSQL_URL)"
    fi
    is_loopback "$M_HOST" || die "mysql at $M_HOST:$M_PORT does not answer (not a loopback host: not starting one)"
    local mariadbd install_db
    mariadbd=$(command -v mariadbd)
    install_db=$(command -v mariadb-install-db || command -v mysql_install_db) ||
        die "mariadb-install-db not found"
    local dir=$CACHE/mariadb-$M_PORT user
    user=$(id -un)
    mkdir -p "$dir"
    if [[ ! -d $dir/data/mysql ]]; then
        log "mysql: initialising a data directory in $dir/data"
        rm -rf "$dir/data"
        "$install_db" --no-defaults --datadir="$dir/data" --user="$user" \
            --auth-root-authentication-method=normal --skip-test-db --force \
            >"$dir/install.log" 2>&1 || {
            tail -n 20 "$dir/install.log" >&2
            die "mariadb-install-db failed (log: $dir/install.log)"
        }
    fi
    local bind_addr=$M_ADDR
    log "mysql: starting mariadbd on $bind_addr:$M_PORT (dir $dir)"
    spawn "$dir/mariadbd.out" "$mariadbd" --no-defaults --datadir="$dir/data" \
        --bind-address="$bind_addr" --port="$M_PORT" --socket="$dir/mariadbd.sock" \
        --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.err" --user="$user" \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --innodb-buffer-pool-size=128M --max-connections=500 >/dev/null
    # Wait for the server as its own root first (over its socket), then give the URL's
    # user access if it is not plain root without a password.
    M_SOCKET=$dir/mariadbd.sock
    wait_for "mariadbd on $bind_addr:$M_PORT" "$dir/mariadbd.err" mysql_socket_ping
    # root@localhost exists; root over TCP must not depend on 127.0.0.1 resolving to it.
    mariadb --no-defaults -S "$dir/mariadbd.sock" -u root -e "
        CREATE USER IF NOT EXISTS root@'127.0.0.1'; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
        CREATE USER IF NOT EXISTS root@'::1'; GRANT ALL ON *.* TO root@'::1' WITH GRANT OPTION;" ||
        die "could not set up root in the new MariaDB"
    if [[ $M_USER != root || -n $M_PASS ]]; then
        local u p host sql=""
        u=$(sql_quote "$M_USER")
        p=$(sql_quote "$M_PASS")
        for host in "'%'" "'localhost'" "'127.0.0.1'" "'::1'"; do
            sql+="CREATE USER IF NOT EXISTS $u@$host IDENTIFIED BY $p;"
            sql+="ALTER USER $u@$host IDENTIFIED BY $p;"
            sql+="GRANT ALL PRIVILEGES ON *.* TO $u@$host WITH GRANT OPTION;"
        done
        mariadb --no-defaults -S "$dir/mariadbd.sock" -u root -e "$sql" ||
            die "could not create user '$M_USER' in the new MariaDB"
    fi
    wait_for "mysql at $M_HOST:$M_PORT as '$M_USER'" "$dir/mariadbd.err" mysql_ping
    log "mysql: up"
}

# --- Kafka (tansu) ------------------------------------------------------------------

ensure_tansu_binary() {
    [[ -x $TANSU ]] && return
    command -v cargo >/dev/null || die "cargo not found: it is needed to build the tansu broker"
    log "kafka: building tansu $TANSU_VERSION into $TANSU_ROOT (once; takes 10-20 minutes)"
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore \
        --root "$TANSU_ROOT" >"$CACHE/tansu-install.log" 2>&1 || {
        tail -n 30 "$CACHE/tansu-install.log" >&2
        die "building tansu failed (log: $CACHE/tansu-install.log)"
    }
}

ensure_kafka() {
    local first=${KAFKA_BROKERS%%,*}
    first=${first#*://}
    parse_url "kafka://$first" 9092
    K_HOST=$U_HOST K_ADDR=$U_ADDR K_PORT=$U_PORT
    if port_open "$K_ADDR" "$K_PORT"; then
        log "kafka: answering at $K_HOST:$K_PORT, left alone"
    else
        is_loopback "$K_HOST" || die "kafka at $K_HOST:$K_PORT does not answer (not a loopback host: not starting one)"
        local dir=$CACHE/tansu-$K_PORT addr=$K_ADDR
        [[ $addr == *:* ]] && addr="[$addr]"
        mkdir -p "$dir"
        log "kafka: starting tansu on $addr:$K_PORT, in-memory storage (log $dir/tansu.log)"
        (cd "$dir" && spawn "$dir/tansu.log" "$TANSU" broker \
            --listener-url "tcp://$addr:$K_PORT" \
            --advertised-listener-url "tcp://$addr:$K_PORT" \
            --storage-engine memory://tansu/) >"$dir/tansu.pid"
        wait_for "tansu on $addr:$K_PORT" "$dir/tansu.log" port_open "$K_ADDR" "$K_PORT"
        log "kafka: up"
    fi
    ensure_topic
}

# Creates $KAFKA_TOPIC when the broker lacks it (tansu does not auto-create topics).
ensure_topic() {
    [[ -n $KAFKA_TOPIC && -x $TANSU ]] || return 0
    local addr=$K_ADDR out
    [[ $addr == *:* ]] && addr="[$addr]"
    if out=$(timeout 10 "$TANSU" topic list --broker "tcp://$addr:$K_PORT" 2>&1); then
        [[ $out == *"\"name\":\"$KAFKA_TOPIC\""* ]] && return 0
    fi
    if out=$(timeout 10 "$TANSU" topic create --broker "tcp://$addr:$K_PORT" \
        --partitions "${KAFKA_TOPIC_PARTITIONS:-3}" "$KAFKA_TOPIC" 2>&1); then
        log "kafka: created topic $KAFKA_TOPIC"
    elif [[ $out == *"already exists"* ]]; then
        :
    else
        log "kafka: could not create topic $KAFKA_TOPIC: $out"
    fi
}

# --- stop ---------------------------------------------------------------------------

# Stops the instances this script started (by the pid files under $CACHE), for the
# ports of the current URLs only. Services it did not start are never touched.
# Stops the process a pid file names (if it still runs), waits up to 10 s for it to go,
# and removes the file; the optional second argument prefixes the log line.
stop_pidfile() {
    local pidfile=$1 pid
    pid=$(<"$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        log "${2:-}stopping pid $pid ($pidfile)"
        kill "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
}

stop_started() {
    local pidfile
    parse_url "$REDIS_URL" 6379
    local r=$CACHE/redis-$U_PORT/redis.pid
    parse_url "$MYSQL_URL" 3306
    local m=$CACHE/mariadb-$U_PORT/mariadbd.pid
    local first=${KAFKA_BROKERS%%,*}
    parse_url "kafka://${first#*://}" 9092
    local k=$CACHE/tansu-$U_PORT/tansu.pid
    for pidfile in "$r" "$m" "$k"; do
        [[ -s $pidfile ]] || continue
        stop_pidfile "$pidfile"
    done
}

# --- Redis Cluster (`cluster`, `cluster-stop`) ------------------------------------------

CLUSTER_DIR=$CACHE/redis-cluster
CLUSTER_NODES_FILE=$CLUSTER_DIR/nodes

cluster_cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }
cluster_node_ping() { [[ $(cluster_cli "$1" ping) == PONG ]]; }

# True when the six ports given answer as one healthy cluster: six nodes, three masters
# serving every slot, each with a replica in sync (one that never synced cannot take over).
cluster_healthy() {
    local port info synced=0
    for port in "$@"; do
        cluster_node_ping "$port" || return 1
        [[ $(cluster_cli "$port" info replication) == *master_link_status:up* ]] && synced=$((synced + 1))
    done
    info=$(cluster_cli "$1" cluster info) || return 1
    [[ $info == *cluster_state:ok* && $info == *cluster_known_nodes:6* && $info == *cluster_size:3* ]] &&
        ((synced == 3))
}

# The six ports the nodes file lists (127.0.0.1:P,...), if any.
cluster_recorded_ports() {
    [[ -s $CLUSTER_NODES_FILE ]] || return 1
    local list
    list=$(<"$CLUSTER_NODES_FILE")
    list=${list//127.0.0.1:/}
    tr ',' ' ' <<<"$list"
}

# Stops the nodes this script started (pid files under $CLUSTER_DIR/<port>/).
cluster_stop() {
    local pidfile
    for pidfile in "$CLUSTER_DIR"/*/redis.pid; do
        [[ -s $pidfile ]] || continue
        stop_pidfile "$pidfile" "cluster: "
    done
    rm -f "$CLUSTER_NODES_FILE"
}

ensure_cluster() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        apt_install redis-server redis-tools
    local ports=() port
    if read -r -a ports < <(cluster_recorded_ports) && ((${#ports[@]} == 6)) &&
        cluster_healthy "${ports[@]}"; then
        log "cluster: answering at ports ${ports[*]}, left alone"
        echo "REDIS_CLUSTER_NODES=$(<"$CLUSTER_NODES_FILE")"
        return
    fi
    # A half-started or broken cluster of ours: start afresh (nothing in it persists).
    cluster_stop
    local base=${REDIS_CLUSTER_BASE_PORT:-7000} busy
    while :; do
        busy=""
        for port in $(seq "$base" $((base + 5))); do
            port_open 127.0.0.1 "$port" && busy=1 && break
        done
        [[ -z $busy ]] && break
        base=$(((base / 10 + 1) * 10))
        ((base < 65000)) || die "cluster: no six free consecutive ports found"
    done
    ports=()
    for port in $(seq "$base" $((base + 5))); do
        local dir=$CLUSTER_DIR/$port
        rm -rf "$dir"
        mkdir -p "$dir"
        redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
            --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
            --cluster-node-timeout 2000 --repl-diskless-sync-delay 0 \
            --dir "$dir" --logfile "$dir/redis.log" \
            --pidfile "$dir/redis.pid" --daemonize yes 9>&- ||
            die "redis-server failed to start on port $port (log: $dir/redis.log)"
        ports+=("$port")
    done
    for port in "${ports[@]}"; do
        wait_for "redis cluster node on 127.0.0.1:$port" "$CLUSTER_DIR/$port/redis.log" \
            cluster_node_ping "$port"
    done
    local addrs=()
    for port in "${ports[@]}"; do addrs+=("127.0.0.1:$port"); done
    log "cluster: creating a cluster of ${addrs[*]} (three masters, one replica each)"
    timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
        >"$CLUSTER_DIR/create.log" 2>&1 || {
        tail -n 20 "$CLUSTER_DIR/create.log" >&2
        die "redis-cli --cluster create failed (log: $CLUSTER_DIR/create.log)"
    }
    wait_for "cluster_state:ok on ${ports[*]}" "$CLUSTER_DIR/create.log" cluster_healthy "${ports[@]}"
    local list
    list=$(
        IFS=,
        echo "${addrs[*]}"
    )
    echo "$list" >"$CLUSTER_NODES_FILE"
    log "cluster: up"
    echo "REDIS_CLUSTER_NODES=$list"
}

# --- main ---------------------------------------------------------------------------

mkdir -p "$CACHE"
# One run at a time (two test runs starting together must not race for the same port).
# The cluster has its ports and lock of its own: it does not wait for a run building tansu.
lock=$CACHE/services.lock
[[ ${1:-} == cluster* ]] && mkdir -p "$CLUSTER_DIR" && lock=$CLUSTER_DIR/lock
exec 9>"$lock"
flock -w 1800 9 || die "another services.sh run holds $lock"

case ${1:-start} in
start)
    # Debian installs mariadbd in /usr/sbin, which a non-root PATH may lack.
    [[ :$PATH: == *:/usr/sbin:* ]] || PATH=$PATH:/usr/sbin
    ensure_packages
    ensure_tansu_binary
    ensure_redis
    ensure_mysql
    ensure_kafka
    log "ready: REDIS_URL=$(redact "$REDIS_URL") MYSQL_URL=$(redact "$MYSQL_URL") KAFKA_BROKERS=$KAFKA_BROKERS"
    ;;
stop) stop_started ;;
cluster) ensure_cluster ;;
cluster-stop) cluster_stop ;;
*) die "usage: $0 [start|stop|cluster|cluster-stop]" ;;
esac
