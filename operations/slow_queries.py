"""Log statements slower than settings.SLOW_QUERY_MS, without their parameters."""

from __future__ import annotations

import logging
import time
from weakref import WeakKeyDictionary

from django.conf import settings

logger = logging.getLogger("todoproject.slow_query")


def log_slow_queries(execute, sql, params, many, context):
    """Execute wrapper: time the statement and log it when it is slow.

    Only the SQL text with its placeholders is logged: parameter values can
    hold personal data (titles, emails).
    """
    threshold = settings.SLOW_QUERY_MS
    if not threshold:
        return execute(sql, params, many, context)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms >= threshold:
            logger.warning(
                "slow query on %s: %.0f ms%s: %s",
                context["connection"].alias,
                elapsed_ms,
                " (executemany)" if many else "",
                " ".join(sql.split()),
            )


# Connections of other backends (SQLite) that have the log: it stays
# entered for the life of each.
_installed: WeakKeyDictionary = WeakKeyDictionary()


def install_slow_query_log(sender, connection, **kwargs) -> None:
    """Attach the wrapper to each new connection (connection_created).

    The project's PostgreSQL backend installs it itself, outermost
    (settings.DATABASE_EXECUTE_WRAPPERS); other backends get it here, once
    per connection object.
    """
    if hasattr(connection, "scope_wrappers") or connection in _installed:
        return
    _installed[connection] = connection.execute_wrapper(log_slow_queries)
    _installed[connection].__enter__()
