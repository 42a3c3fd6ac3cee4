"""Settings of the API servers the tests start (uvicorn, gunicorn)."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.api.server_urls"
