#!/usr/bin/env bash
# Make sure the machine's PostgreSQL cluster (Debian's pg_ctlcluster) runs on
# 127.0.0.1:5432. .ci/run uses it for its second leg (TEST_DATABASE_URL).
set -euo pipefail

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    exit 0
fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    echo "==> starting PostgreSQL $version cluster 'main'"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    exit 0
fi
echo "error: no PostgreSQL on 127.0.0.1:5432 and none to start; set TEST_DATABASE_URL" >&2
exit 1
