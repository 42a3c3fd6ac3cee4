#!/usr/bin/env bash
# The whole test suite: lint, migrations in step with models, pytest on
# PostgreSQL as the plain runtime role, pytest on SQLite. Any failure stops
# it with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

# Tests never read a developer's .env, and need some secret key.
export DJANGO_ENV_FILE=""
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-insecure-test-only-secret-key-0123456789abcdef}"

# A superuser URL: the suite creates the runtime role with it and uses it to
# look past row-level security; the tests themselves run as the role.
admin_url="${TEST_DATABASE_URL:-${DATABASE_URL:-}}"
if [ -z "$admin_url" ]; then
    admin_url="postgres://postgres@127.0.0.1:5432/postgres"
    bash scripts/local_postgres.sh
fi

echo "==> ruff"
ruff check .
ruff format --check .

echo "==> PostgreSQL reachable"
DATABASE_URL="$admin_url" python scripts/wait_for_db.py

echo "==> runtime role (LOGIN CREATEDB, no SUPERUSER, no BYPASSRLS)"
app_url="$(python scripts/pg_role.py "$admin_url" --database todoproject)"

echo "==> makemigrations --check"
DATABASE_URL="$admin_url" python manage.py makemigrations --check --dry-run

# The admin's end-to-end test drives Debian's headless Chromium.
bash scripts/browser.sh

echo "==> pytest on PostgreSQL as the runtime role"
DATABASE_URL="$app_url" TEST_SUPERUSER_DATABASE_URL="$admin_url" \
    pytest -p no:cacheprovider "$@"

echo "==> isolation tests again, through PgBouncer in transaction mode"
# Straight to the server: the listen port is the first free one from 6432.
server="$(python -c 'import sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1]); print(u.hostname or "127.0.0.1", u.port or 5432)' "$admin_url")"
pgbouncer_port="$(python -c '
import socket
for port in range(6432, 6532):
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) != 0:
            print(port)
            break
')"
# shellcheck disable=SC2086
bash scripts/pgbouncer.sh start $server "$pgbouncer_port" todoproject_app
trap 'bash scripts/pgbouncer.sh stop' EXIT
# The test database is created through PgBouncer and dropped directly (with
# FORCE: PgBouncer keeps its server connection open), before and after.
bouncer_url="$(python scripts/pg_role.py "$admin_url" --database todoproject_pgbouncer \
    --host 127.0.0.1 --port "$pgbouncer_port" --drop-database test_todoproject_pgbouncer)"
DATABASE_URL="$bouncer_url" DATABASE_DISABLE_SERVER_SIDE_CURSORS=true \
    TEST_THROUGH_PGBOUNCER=1 TEST_SUPERUSER_DATABASE_URL="$admin_url" \
    pytest -p no:cacheprovider -m isolation --reuse-db -q "$@"
python scripts/pg_role.py "$admin_url" --drop-database test_todoproject_pgbouncer >/dev/null

echo "==> pytest on SQLite (no database-level guarantees; PostgreSQL-only tests deselected)"
env -u DATABASE_URL pytest -p no:cacheprovider -m "not postgresql" -q "$@"
