"""Log statements slower than settings.SLOW_QUERY_MS, without their parameters."""

from __future__ import annotations

import logging
import time

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


def install_slow_query_log(sender, connection, **kwargs) -> None:
    """Attach the wrapper to each new connection (connection_created)."""
    if log_slow_queries not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, log_slow_queries)
