#!/usr/bin/env bash
# The whole test suite: lint, migrations in step with models, pytest on
# PostgreSQL as the plain runtime role (the replica routing tests both
# directly and through a PgBouncer of their own; then the isolation tests
# again through PgBouncer), pytest on SQLite. Any failure stops it with a
# non-zero exit.
#
# The PostgreSQL server is TEST_DATABASE_URL, else DATABASE_URL (a superuser
# URL), else a throwaway embedded PostgreSQL (embedded_pg/) in a
# temporary folder on a free port, stopped and deleted when this script ends,
# however it ends. Never the SQLite file, never a server that happens to run
# on the default port.
#
#   TEST_SKIP_SQLITE=1     leave out the SQLite run (.ci/run runs it once)
#   TEST_DATABASE_NAME=x   the runtime role's database name (default
#                          todoproject; the tests use test_x and
#                          test_x_pgbouncer), for a second run beside another
#                          on the same server
#   PGBOUNCER_RUN_DIR      PgBouncer's runtime folder (default var/pgbouncer)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

# Tests never read a developer's .env, nor see the server of a `make run`
# running beside them (manage.py names it when DATABASE_URL is unset), and
# need some secret key.
export DJANGO_ENV_FILE=""
export RUN_PG_DIR="${TMPDIR:-/tmp}/todoproject-test-no-run-pg-here"
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-insecure-test-only-secret-key-0123456789abcdef}"
db_name="${TEST_DATABASE_NAME:-todoproject}"

embedded_dir=""
bouncer_started=""
results="$(mktemp -d "${TMPDIR:-/tmp}/todoproject-test-results.XXXXXX")"
# What each leg did, printed last whatever happens: "passed", "FAILED",
# "not run" with the reason, and pytest's counts and skip reasons.
summary=()
leg=""
begin() {
    leg="$1"
    echo "==> $1"
}
passed() {
    summary+=("passed: $leg${1:+: $1}")
    leg=""
}
# Run pytest as the leg `leg`, its counts and skip reasons into the summary.
# Exit 5 (nothing selected, e.g. no isolation test among the paths given)
# is not a failure.
run_pytest() {
    local xml="$results/${#summary[@]}.xml" status=0 line
    pytest -p no:cacheprovider --junitxml="$xml" "$@" || status=$?
    if [ "$status" != 0 ] && [ "$status" != 5 ]; then
        return "$status"
    fi
    if [ "$status" = 5 ]; then
        summary+=("not run: $leg: no test selected among the paths given")
        leg=""
        return 0
    fi
    local counts=()
    while IFS= read -r line; do
        counts+=("$line")
    done < <(python scripts/pytest_counts.py "$xml")
    passed "${counts[0]}"
    for line in "${counts[@]:1}"; do
        summary+=("    $line")
    done
}
cleanup() {
    local status=$?
    local line
    trap - INT TERM
    if [ -n "$bouncer_started" ]; then
        bash scripts/pgbouncer.sh stop || true
    fi
    if [ -n "$embedded_dir" ]; then
        # Its watcher stops the server and deletes the folder; after a
        # start that failed there is no watcher, and the folder goes here.
        if python -m embedded_pg stop "$embedded_dir"; then
            rm -rf "$embedded_dir" 2>/dev/null || true
        else
            status=1
        fi
    fi
    rm -rf "$results"
    if [ -n "$leg" ]; then
        summary+=("FAILED: $leg (exit $status); the legs after it did not run")
    fi
    echo "==> summary"
    for line in ${summary[@]+"${summary[@]}"}; do
        echo "    $line"
    done
    if [ "$status" = 0 ]; then
        echo "==> make test passed (exit 0)"
    else
        echo "==> make test FAILED (exit $status)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A superuser URL: the suite creates the runtime role with it and uses it to
# look past row-level security; the tests themselves run as the role.
admin_url="${TEST_DATABASE_URL:-${DATABASE_URL:-}}"
if [ -z "$admin_url" ]; then
    echo "==> embedded PostgreSQL (no TEST_DATABASE_URL or DATABASE_URL set)"
    embedded_dir="$(mktemp -d "${TMPDIR:-/tmp}/todoproject-test-pg.XXXXXX")"
    admin_url="$(python -m embedded_pg start "$embedded_dir" --trust \
        --watch $$ --temporary)"
else
    case "$admin_url" in
        postgres://* | postgresql://*) ;;
        *)
            echo "error: make test needs a PostgreSQL superuser URL (postgres://...)" \
                "in TEST_DATABASE_URL or DATABASE_URL, not ${admin_url%%:*}://...;" \
                "unset both to use the embedded PostgreSQL" >&2
            exit 1
            ;;
    esac
fi

begin "ruff"
ruff check .
ruff format --check .
passed

begin "PostgreSQL reachable"
DATABASE_URL="$admin_url" python scripts/wait_for_db.py
leg=""

begin "roles: an owner that migrates, a runtime role that owns nothing"
# Roles of the suite's own, not the application's: the script sets their
# passwords on every run, which must never lock a real deployment on the
# same server out. The suite creates and migrates its database as the owner
# and runs every test as the runtime role (tests/conftest.py).
owner=todoproject_test_owner
role=todoproject_test
owner_url="$(python scripts/pg_role.py "$admin_url" --owner --role "$owner" --database "$db_name" \
    --reassign-from "$role")"
app_url="$(python scripts/pg_role.py "$admin_url" --role "$role" --database "$db_name" \
    --grant-to "$owner")"
leg=""

begin "makemigrations --check"
DATABASE_URL="$admin_url" python manage.py makemigrations --check --dry-run
passed

begin "squawk on the SQL of every migration"
# Findings accepted on purpose are listed, with reasons, in
# ops/squawk/acknowledged.toml.
DATABASE_URL="$admin_url" python scripts/squawk_migrations.py
passed

# The admin's end-to-end test drives a headless Chromium; without one (and
# outside CI) it is deselected.
deselect=()
status=0
missing="$(bash scripts/browser.sh)" || status=$?
if [ "$status" = 3 ]; then
    summary+=("$missing")
    deselect=(-m "not browser")
elif [ "$status" != 0 ]; then
    exit "$status"
fi

# PgBouncer, checked (and installed as root on Debian) before the first
# pytest run: the replica routing tests also run through one of their own
# (tests/pgbouncer.py), and are skipped without it, as its leg below is.
bouncer_status=0
bouncer_missing="$(bash scripts/pgbouncer.sh check)" || bouncer_status=$?
if [ "$bouncer_status" = 3 ]; then
    summary+=("$bouncer_missing")
elif [ "$bouncer_status" != 0 ]; then
    exit "$bouncer_status"
fi

begin "pytest on PostgreSQL as the runtime role"
DATABASE_URL="$owner_url" TEST_RUNTIME_DATABASE_URL="$app_url" DATABASE_RUNTIME_ROLE="$role" \
    TEST_SUPERUSER_DATABASE_URL="$admin_url" run_pytest ${deselect[@]+"${deselect[@]}"} "$@"

if [ "$bouncer_status" = 0 ]; then
    begin "isolation tests again, through PgBouncer in transaction mode"
    # Straight to the server: the listen port is the first free one from 6432.
    server="$(python -m embedded_pg host-port "$admin_url")"
    pgbouncer_port="$(python -m embedded_pg free-port --from 6432)"
    bouncer_started=1
    # shellcheck disable=SC2086
    bash scripts/pgbouncer.sh start $server "$pgbouncer_port" "$owner" "$role"
    # The test database is created through PgBouncer and dropped directly (with
    # FORCE: PgBouncer keeps its server connection open), before and after.
    bouncer_owner_url="$(python scripts/pg_role.py "$admin_url" --owner --role "$owner" \
        --database "${db_name}_pgbouncer" --host 127.0.0.1 --port "$pgbouncer_port" \
        --drop-database "test_${db_name}_pgbouncer")"
    bouncer_url="$(python scripts/pg_role.py "$admin_url" --role "$role" --database "${db_name}_pgbouncer" \
        --host 127.0.0.1 --port "$pgbouncer_port")"
    DATABASE_URL="$bouncer_owner_url" TEST_RUNTIME_DATABASE_URL="$bouncer_url" \
        DATABASE_RUNTIME_ROLE="$role" DATABASE_DISABLE_SERVER_SIDE_CURSORS=true \
        TEST_THROUGH_PGBOUNCER=1 TEST_SUPERUSER_DATABASE_URL="$admin_url" \
        run_pytest -m isolation --reuse-db -q "$@"
    leg="dropping the PgBouncer test database"
    python scripts/pg_role.py "$admin_url" --role "$role" --drop-database "test_${db_name}_pgbouncer" >/dev/null
    leg=""
fi

if [ "${TEST_SKIP_SQLITE:-}" = 1 ]; then
    echo "==> pytest on SQLite: left out (TEST_SKIP_SQLITE=1)"
    summary+=("not run: pytest on SQLite (TEST_SKIP_SQLITE=1)")
else
    begin "pytest on SQLite (no database-level guarantees; PostgreSQL-only tests deselected)"
    # The last leg: nothing after it needs DATABASE_URL.
    unset DATABASE_URL
    run_pytest -m "not postgresql" -q "$@"
fi
