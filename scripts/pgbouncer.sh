#!/usr/bin/env bash
# Start or stop a PgBouncer in transaction mode in front of a PostgreSQL
# server, configured from ops/pgbouncer/pgbouncer.ini.
#
#   scripts/pgbouncer.sh start SERVER_HOST SERVER_PORT LISTEN_PORT ROLE...
#   scripts/pgbouncer.sh stop
#
# Installs Debian's pgbouncer package when it is missing. Runtime files go to
# var/pgbouncer/ (git-ignored), or to PGBOUNCER_RUN_DIR, so that two test
# runs on one machine keep apart.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${PGBOUNCER_RUN_DIR:-$PWD/var/pgbouncer}"

stop() {
    if [ -f "$RUN_DIR/pgbouncer.pid" ]; then
        kill "$(cat "$RUN_DIR/pgbouncer.pid")" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -f "$RUN_DIR/pgbouncer.pid" ] || break
            sleep 0.1
        done
        rm -f "$RUN_DIR/pgbouncer.pid"
    fi
}

install() {
    command -v pgbouncer >/dev/null && return
    [ -x /usr/sbin/pgbouncer ] && return
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "error: pgbouncer is not installed; install it (Debian: apt-get install pgbouncer)" >&2
        exit 1
    fi
    echo "==> installing pgbouncer (Debian package)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
}

start() {
    local server_host="$1" server_port="$2" listen_port="$3"
    shift 3
    install
    stop
    mkdir -p "$RUN_DIR"
    local run_as=""
    if [ "$(id -u)" = 0 ]; then
        # PgBouncer refuses to run as root; drop to the postgres account.
        run_as="user = postgres"
        chown postgres "$RUN_DIR"
    fi
    sed -e "s|@SERVER_HOST@|$server_host|" -e "s|@SERVER_PORT@|$server_port|" \
        -e "s|@LISTEN_PORT@|$listen_port|" -e "s|@RUN_DIR@|$RUN_DIR|g" \
        -e "s|@RUN_AS_USER@|$run_as|" ops/pgbouncer/pgbouncer.ini >"$RUN_DIR/pgbouncer.ini"
    printf '"%s" ""\n' "$@" >"$RUN_DIR/userlist.txt"
    rm -f "$RUN_DIR/pgbouncer.log"
    PATH="/usr/sbin:$PATH" pgbouncer -d "$RUN_DIR/pgbouncer.ini"
    for _ in $(seq 50); do
        # A plain TCP check: pg_isready needs a PostgreSQL client package,
        # which a machine that uses the embedded PostgreSQL may not have.
        if (exec 3<>"/dev/tcp/127.0.0.1/$listen_port") 2>/dev/null; then
            return
        fi
        sleep 0.1
    done
    echo "error: pgbouncer did not start on 127.0.0.1:$listen_port; see $RUN_DIR/pgbouncer.log" >&2
    exit 1
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    *) echo "usage: $0 start SERVER_HOST SERVER_PORT LISTEN_PORT ROLE... | stop" >&2; exit 2 ;;
esac
