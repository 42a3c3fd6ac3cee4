#!/usr/bin/env bash
# The main job: install, migrate, seed, check health, then serve the admin on
# ${RUN_HOST:-127.0.0.1}:${RUN_PORT:-8000}, on PostgreSQL.
#
# DATABASE_URL set (in the environment or the env file): that database,
# nothing embedded. Unset: the project's embedded PostgreSQL
# (embedded_pg/), its data in ${RUN_PG_DIR:-var/postgres}
# (git-ignored, kept across runs and reboots; only `make db-delete` deletes
# it), on 127.0.0.1:${RUN_PG_PORT:-55432} or a free port when that is taken.
# The application connects as the plain runtime role todoproject_app, never
# as the server's superuser. Ctrl-C or SIGTERM stops the development server
# and then the embedded PostgreSQL, quietly; so does the end of this script
# or of its parent, however they end (scripts/leash.py and the embedded
# server's watcher). This script exits 0 on Ctrl-C; `make run` itself ends
# as any program a Ctrl-C interrupts, status 130 in the shell.
# RUN_REPLICAS=1 also starts a streaming hot standby of the embedded
# PostgreSQL (in ${RUN_PG_REPLICA_DIR:-var/postgres-replica}, on
# ${RUN_PG_REPLICA_PORT:-55433}) and reads users' tasks from it
# (DATABASE_REPLICA_URLS, docs/scaling.md).
set -euo pipefail
cd "$(dirname "$0")/.."

run_host="${RUN_HOST:-127.0.0.1}"
run_port="${RUN_PORT:-8000}"
# A taken port is refused before anything else runs: binding as runserver
# does (SO_REUSEADDR, so a TIME-WAIT is no obstacle).
if ! "${PYTHON:-python3}" scripts/port_free.py "$run_host" "$run_port"; then
    exit 1
fi

source scripts/venv.sh

# A laptop without a .env gets a development setup rather than an error.
if [ ! -f .env ] && [ -z "${DJANGO_SECRET_KEY:-}" ]; then
    export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
fi

# DATABASE_URL as the settings will see it: the environment first, then the
# env file.
configured_url="$(python scripts/database_url.py)"

pg_dir="${RUN_PG_DIR:-var/postgres}"
embedded=""
server_pid=""
replica=""
replica_dir="${RUN_PG_REPLICA_DIR:-$pg_dir-replica}"
cleanup() {
    local status=$?
    trap - INT TERM
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$replica" ]; then
        python -m embedded_pg stop "$replica_dir" || status=1
    fi
    if [ -n "$embedded" ]; then
        python -m embedded_pg stop "$pg_dir" || status=1
    fi
    exit "$status"
}
trap cleanup EXIT
# Ctrl-C is how a developer stops it: a clean stop, exit 0 (and so no
# "make: *** Error 130").
trap 'exit 0' INT
trap 'exit 143' TERM

if [ -z "$configured_url" ]; then
    echo "==> embedded PostgreSQL in $pg_dir (DATABASE_URL is not set)"
    admin_url="$(python -m embedded_pg start "$pg_dir" \
        --port "${RUN_PG_PORT:-55432}" --watch $$)"
    embedded=1
    echo "==> roles: todoproject_owner migrates and owns the schema; todoproject_app serves and owns nothing"
    owner_url="$(python scripts/pg_role.py "$admin_url" --owner --role todoproject_owner \
        --database todoproject --password-file "$pg_dir/owner.password" \
        --reassign-from todoproject_app)"
    runtime_url="$(python scripts/pg_role.py "$admin_url" --database todoproject \
        --password-file "$pg_dir/app.password" --grant-to todoproject_owner)"
    python -m embedded_pg create-database "$owner_url"
    export DATABASE_URL="$owner_url"
    export DATABASE_RUNTIME_ROLE=todoproject_app
    export TODOPROJECT_EMBEDDED_DB=true
else
    export TODOPROJECT_EMBEDDED_DB=false
    runtime_url="$(python scripts/database_url.py DATABASE_RUNTIME_URL)"
    # One line, in the health check's words, rather than migrate's traceback;
    # "reachable" is said only once it is.
    python scripts/wait_for_db.py
    echo "==> database reachable (DATABASE_URL)"
fi

echo "==> migrate"
python manage.py migrate --noinput

echo "==> seed_sample_data"
# Only adds what is missing: tasks added or edited by anyone stay. Exit 3:
# DEBUG is off, and a production-like setup is not seeded by the main job.
status=0
python manage.py seed_sample_data || status=$?
if [ "$status" = 3 ]; then
    echo "    (not seeded: DJANGO_DEBUG is off)"
elif [ "$status" != 0 ]; then
    exit "$status"
else
    # A sample user cannot log in to the admin, which is for staff: they
    # are there to act as, from code.
    shell=".venv/bin/python manage.py shell"
    if [ -n "$embedded" ]; then
        shell="DATABASE_URL=\$(make -s db-url) $shell"
    fi
    echo "    (the sample users own the sample tasks: act as one through tasks.services"
    echo "    in $shell, or an API you build"
    echo "    on it; the admin at /admin/ is for staff)"
fi

if [ "${RUN_REPLICAS:-}" = 1 ]; then
    if [ -z "$embedded" ]; then
        echo "    (RUN_REPLICAS=1 starts a standby of the embedded PostgreSQL only; set DATABASE_REPLICA_URLS for yours)"
    else
        echo "==> hot standby of the embedded PostgreSQL in $replica_dir (RUN_REPLICAS=1)"
        python -m embedded_pg start "$replica_dir" --standby-of "$admin_url" \
            --port "${RUN_PG_REPLICA_PORT:-55433}" --watch $$ >/dev/null
        replica=1
        DATABASE_REPLICA_URLS="$(python -m embedded_pg url "$replica_dir" \
            --role todoproject_app --password-file "$pg_dir/app.password" --database todoproject)"
        export DATABASE_REPLICA_URLS
    fi
fi

echo "==> healthcheck"
privileged=()
if [ -n "$runtime_url" ]; then
    # From here on, the web process's role: the runtime role.
    export DATABASE_URL="$runtime_url"
else
    echo "    (serving as DATABASE_URL's role: set DATABASE_RUNTIME_URL to serve as the runtime role)"
    privileged=(--allow-privileged-role)
fi
status=0
python manage.py healthcheck "${privileged[@]}" || status=$?
if [ "$status" != 0 ]; then
    echo "error: the health check failed (exit $status, see above); not serving" >&2
    exit 1
fi

address="$run_host:$run_port"
echo "==> starting the development server on $address"
# In the background, so that a SIGTERM to this script is handled at once
# rather than after the server exits. Leashed to this script and to its
# parent (make): when either ends, even by kill -9, the server and its
# autoreloader end too, so that nothing keeps the port.
python scripts/leash.py "$$,$PPID" -- python manage.py runserver "$address" &
server_pid=$!
# "serving" once the port accepts connections: runserver's system checks
# and autoreloader take a second or more before it binds.
if python scripts/wait_for_port.py "$run_host" "$run_port" "$server_pid"; then
    echo "==> serving http://$address/ (the admin: http://$address/admin/; Ctrl-C stops it)"
fi
wait "$server_pid"
