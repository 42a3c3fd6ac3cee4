#!/usr/bin/env bash
# The benchmark (bench/benchmark.py): make bench, or make bench ARGS=--quick.
#
# The server is BENCH_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL (a
# superuser URL), else an embedded PostgreSQL in var/bench-postgres with
# durable writes (fsync on, unlike the test server), deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

bench_dir=""
cleanup() {
    local status=$?
    if [ -n "$bench_dir" ]; then
        python scripts/embedded_pg.py delete "$bench_dir" --inside "$PWD" >/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url="${BENCH_DATABASE_URL:-${TEST_DATABASE_URL:-${DATABASE_URL:-}}}"
if [ -z "$url" ]; then
    bench_dir="var/bench-postgres"
    echo "==> embedded PostgreSQL in $bench_dir (no database URL set)"
    url="$(python scripts/embedded_pg.py start "$bench_dir" --trust --port 0 --watch $$)"
fi
BENCH_DATABASE_URL="$url" DJANGO_ENV_FILE="" python -m bench.benchmark "$@"
