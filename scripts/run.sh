#!/usr/bin/env bash
# The main job: install, migrate, then serve the admin on
# ${RUN_HOST:-127.0.0.1}:${RUN_PORT:-8000}.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

# A laptop without a .env gets a development setup rather than an error.
if [ ! -f .env ] && [ -z "${DJANGO_SECRET_KEY:-}" ]; then
    export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
fi

echo "==> migrate"
python manage.py migrate --noinput
echo "==> serving the admin at http://${RUN_HOST:-127.0.0.1}:${RUN_PORT:-8000}/admin/"
echo "    (create a login with: .venv/bin/python manage.py createsuperuser)"
exec python manage.py runserver "${RUN_HOST:-127.0.0.1}:${RUN_PORT:-8000}"
