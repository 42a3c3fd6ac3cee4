#!/usr/bin/env bash
# The benchmark (bench/benchmark.py): make bench (the services against plain
# Django, the Django SET/RESET peer and raw psycopg, at 0 and 1 ms, ending with
# the verdict; docs/performance.md), or make bench ARGS=--quick (judges nothing).
#
# The server is BENCH_DATABASE_URL, TEST_DATABASE_URL or DATABASE_URL (a
# superuser URL), else a throwaway embedded PostgreSQL in a temporary folder
# (like make test's: no fsync, so absolute write times flatter both sides
# alike; the ratios are what the benchmark reports), deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

bench_dir=""
cleanup() {
    local status=$?
    if [ -n "$bench_dir" ]; then
        # Its watcher stops the server and deletes the folder.
        python -m embedded_pg stop "$bench_dir" || status=1
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url="${BENCH_DATABASE_URL:-${TEST_DATABASE_URL:-${DATABASE_URL:-}}}"
if [ -z "$url" ]; then
    bench_dir="$(mktemp -d "${TMPDIR:-/tmp}/todoproject-bench-pg.XXXXXX")"
    echo "==> embedded PostgreSQL (no database URL set)"
    url="$(python -m embedded_pg start "$bench_dir" --trust --port 0 \
        --watch $$ --temporary)"
fi
BENCH_DATABASE_URL="$url" DJANGO_ENV_FILE="" python -m bench.benchmark "$@"
