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

echo "==> pytest on PostgreSQL as the runtime role"
DATABASE_URL="$app_url" TEST_SUPERUSER_DATABASE_URL="$admin_url" \
    pytest -p no:cacheprovider "$@"

echo "==> pytest on SQLite (no database-level guarantees; PostgreSQL-only tests deselected)"
env -u DATABASE_URL pytest -p no:cacheprovider -m "not postgresql" -q "$@"
