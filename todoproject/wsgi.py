"""WSGI entry point: exposes ``application`` for WSGI servers."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")

application = get_wsgi_application()

# After setup: a server without DJANGO_SECRET_KEY stops here, naming it.
from operations.checks import require_secret_key  # noqa: E402

require_secret_key()
