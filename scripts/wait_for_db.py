"""Exit 0 when the configured database answers, else print one line and exit 1."""

import os
import sys
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.db.utils import OperationalError  # noqa: E402

from operations.health.connection import describe_connect_error  # noqa: E402

try:
    connection.ensure_connection()
except OperationalError as exc:
    timeout = connection.settings_dict.get("OPTIONS", {}).get("connect_timeout")
    reason = describe_connect_error(exc, connection.settings_dict, timeout or 0)
    sys.exit(f"error: cannot reach the database: {reason}")
