"""The project's settings plus the bench's two sides that carry no guarantee.

- ``plain``: the same database as ``default`` reached as the server's
  superuser (BENCH_PLAIN_DATABASE_URL), whom row-level security never
  applies to, through Django's own PostgreSQL backend: plain Django on a
  table without policies, with the same rows and indexes.
- ``peer``: the runtime role, as ``default``, through Django's own backend:
  the Django SET/RESET peer (bench/peers.py).

Neither carries the project's execute wrapper for the scope. Both read
``tasks_task`` through ``bench.models.PlainTask`` (the app ``bench``), not
the project's ``Task``. The project's per-connection tuning (the C
timestamp loader, the slow-query log: operations/apps.py, on every
connection) applies to every side alike: it is no guarantee, and a
developer could take it alone.
"""

import os

import dj_database_url

from todoproject.settings import *  # noqa: F403
from todoproject.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

STOCK_BACKEND = "django.db.backends.postgresql"
_plain = dj_database_url.parse(os.environ["BENCH_PLAIN_DATABASE_URL"])
DATABASES["plain"] = {
    **DATABASES["default"],
    **{key: _plain[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
    "ENGINE": STOCK_BACKEND,
}
DATABASES["peer"] = {**DATABASES["default"], "ENGINE": STOCK_BACKEND}
