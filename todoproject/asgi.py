"""ASGI entry point: exposes ``application`` for ASGI servers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")
# Connection defaults for ASGI: a bounded pool, no connection kept per request
# (todoproject/settings.py, SERVING_ASGI).
os.environ["TODOPROJECT_ASGI"] = "1"

application = get_asgi_application()

# After setup: a server without DJANGO_SECRET_KEY stops here, naming it.
from operations.checks import require_secret_key  # noqa: E402

require_secret_key()
