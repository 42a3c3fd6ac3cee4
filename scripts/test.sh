#!/usr/bin/env bash
# The whole test suite: lint, migrations in step with models, pytest on
# PostgreSQL, pytest on SQLite. Any failure stops it with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

# Tests never read a developer's .env, and need some secret key.
export DJANGO_ENV_FILE=""
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-insecure-test-only-secret-key-0123456789abcdef}"

pg_url="${TEST_DATABASE_URL:-${DATABASE_URL:-}}"
if [ -z "$pg_url" ]; then
    pg_url="postgres://postgres@127.0.0.1:5432/postgres"
    bash scripts/local_postgres.sh
fi

echo "==> ruff"
ruff check .
ruff format --check .

echo "==> PostgreSQL reachable"
DATABASE_URL="$pg_url" python scripts/wait_for_db.py

echo "==> makemigrations --check"
DATABASE_URL="$pg_url" python manage.py makemigrations --check --dry-run

echo "==> pytest on PostgreSQL"
DATABASE_URL="$pg_url" pytest -p no:cacheprovider "$@"

echo "==> pytest on SQLite (no database-level guarantees; PostgreSQL-only tests deselected)"
env -u DATABASE_URL pytest -p no:cacheprovider -m "not postgresql" -q "$@"
