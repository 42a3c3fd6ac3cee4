"""The project's settings plus ``plain``: the bench's Django without guarantees.

``plain`` is the same database as ``default`` reached as the server's
superuser (BENCH_PLAIN_DATABASE_URL), whom row-level security never
applies to: plain Django on a table without policies, with the same rows,
indexes and connection set-up (the project's timestamp loader and slow-query
log included) as the services get.
"""

import os

import dj_database_url

from todoproject.settings import *  # noqa: F403
from todoproject.settings import DATABASES

_plain = dj_database_url.parse(os.environ["BENCH_PLAIN_DATABASE_URL"])
DATABASES["plain"] = {
    **DATABASES["default"],
    **{key: _plain[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
}

# The plain side reads and writes with no scope on purpose: its role
# bypasses row-level security, so no warning and no refusal.
UNSCOPED_QUERIES = "ignore"
