#!/usr/bin/env bash
# Start or stop a PgBouncer in transaction mode in front of a PostgreSQL
# server, configured from ops/pgbouncer/pgbouncer.ini.
#
#   scripts/pgbouncer.sh check
#   scripts/pgbouncer.sh start SERVER_HOST SERVER_PORT LISTEN_PORT ROLE[=PASSWORD]...
#   scripts/pgbouncer.sh stop
#
# Each ROLE goes into PgBouncer's userlist; PASSWORD is the one PgBouncer
# logs in to the server with, needed when the server asks for one (the
# tests' password-protected throwaway cluster); without it, none.
# PGBOUNCER is the program (default: pgbouncer on PATH, else
# /usr/sbin/pgbouncer). When it is missing, root on Debian installs Debian's
# package (no registry ships a PgBouncer build). `check` exits 0 when it is
# there; when it is still missing, in CI (CI=true) it says "error: ..." on
# stderr and exits 1, elsewhere it prints one line on stdout saying how to
# install it and exits 3, so that make test leaves the PgBouncer run out and
# says so. `start` fails when it is missing. Runtime files go to
# var/pgbouncer/ (git-ignored), or to PGBOUNCER_RUN_DIR, so that two test
# runs on one machine keep apart: a folder of mode 0700, the log 0600 (it
# names roles and clients). As root PgBouncer runs as postgres, which may
# not reach the checkout (/root/project, mode 700): its files then live in
# a private temporary folder of postgres's (mktemp, 0700) that
# RUN_DIR/files points at, removed by `stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR="${PGBOUNCER_RUN_DIR:-$PWD/var/pgbouncer}"

# Print the folder that holds PgBouncer's files.
files_dir() {
    if [ -L "$RUN_DIR/files" ]; then
        readlink "$RUN_DIR/files"
    else
        echo "$RUN_DIR"
    fi
}

stop() {
    local files
    files="$(files_dir)"
    if [ -f "$files/pgbouncer.pid" ]; then
        kill "$(cat "$files/pgbouncer.pid")" 2>/dev/null || true
        for _ in $(seq 50); do
            [ -f "$files/pgbouncer.pid" ] || break
            sleep 0.1
        done
        rm -f "$files/pgbouncer.pid"
    fi
    if [ -L "$RUN_DIR/files" ]; then
        case "$files" in
            */todoproject-pgbouncer.*) rm -rf -- "$files" ;;
        esac
        rm -f "$RUN_DIR/files"
    fi
}

PGBOUNCER="${PGBOUNCER:-$(command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer)}"
INSTALL="install it with: sudo apt-get install pgbouncer (Debian, Ubuntu; macOS: brew install pgbouncer)"

# Return 0 when PgBouncer is there, installing Debian's package as root.
install() {
    [ -x "$PGBOUNCER" ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "==> installing pgbouncer (Debian package)" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
    fi
    [ -x "$PGBOUNCER" ]
}

check() {
    install && return
    if [ "${CI:-}" = true ]; then
        echo "error: pgbouncer is missing ($PGBOUNCER); $INSTALL" >&2
        exit 1
    fi
    echo "not run: the tests through PgBouncer (isolation, replica routing): pgbouncer is missing; $INSTALL"
    exit 3
}

start() {
    local server_host="$1" server_port="$2" listen_port="$3"
    shift 3
    if ! install; then
        echo "error: pgbouncer is missing ($PGBOUNCER); $INSTALL" >&2
        exit 1
    fi
    stop
    mkdir -p "$RUN_DIR"
    chmod 700 "$RUN_DIR"
    local run_as="" files="$RUN_DIR"
    if [ "$(id -u)" = 0 ]; then
        # PgBouncer refuses to run as root; drop to the postgres account,
        # in a folder of its own that it can reach wherever RUN_DIR is.
        run_as="user = postgres"
        files="$(mktemp -d "${TMPDIR:-/tmp}/todoproject-pgbouncer.XXXXXXXX")"
        chown postgres "$files"
        ln -s "$files" "$RUN_DIR/files"
    fi
    sed -e "s|@SERVER_HOST@|$server_host|" -e "s|@SERVER_PORT@|$server_port|" \
        -e "s|@LISTEN_PORT@|$listen_port|" -e "s|@RUN_DIR@|$files|g" \
        -e "s|@RUN_AS_USER@|$run_as|" ops/pgbouncer/pgbouncer.ini >"$files/pgbouncer.ini"
    local role password
    # Passwords of throwaway test clusters only, yet kept from other users;
    # the log too, created private before PgBouncer appends to it.
    rm -f "$files/userlist.txt" "$files/pgbouncer.log"
    (umask 077 && : >"$files/userlist.txt" && : >"$files/pgbouncer.log")
    [ -z "$run_as" ] || chown postgres "$files/userlist.txt" "$files/pgbouncer.log"
    for role in "$@"; do
        password=""
        case "$role" in
            *=*)
                password="${role#*=}"
                role="${role%%=*}"
                ;;
        esac
        # The userlist's quoting: a double quote is written twice.
        printf '"%s" "%s"\n' "${role//\"/\"\"}" "${password//\"/\"\"}"
    done >>"$files/userlist.txt"
    "$PGBOUNCER" -d "$files/pgbouncer.ini"
    for _ in $(seq 50); do
        # A plain TCP check: pg_isready needs a PostgreSQL client package,
        # which a machine that uses the embedded PostgreSQL may not have.
        if (exec 3<>"/dev/tcp/127.0.0.1/$listen_port") 2>/dev/null; then
            return
        fi
        sleep 0.1
    done
    echo "error: pgbouncer did not start on 127.0.0.1:$listen_port; see $files/pgbouncer.log" >&2
    exit 1
}

case "${1:-}" in
    check) check ;;
    start) shift; start "$@" ;;
    stop) stop ;;
    *) echo "usage: $0 check | start SERVER_HOST SERVER_PORT LISTEN_PORT ROLE[=PASSWORD]... | stop" >&2; exit 2 ;;
esac
