"""Notice, without a query, that an idle connection's server has gone."""

from __future__ import annotations

import logging
import select

import psycopg
from django.db import connections
from psycopg.pq import TransactionStatus

logger = logging.getLogger(__name__)


def drop_if_dead(connection) -> None:
    """Close an idle connection whose server side has gone, without a query.

    A terminated backend or a restarted server leaves the idle socket
    readable (an error message, then EOF); Django's own health check runs
    only between requests and costs a round trip. One non-blocking poll()
    here lets the next statement reconnect instead of failing, in scripts
    and shells as in requests.
    """
    raw = connection.connection
    if raw is None or connection.in_atomic_block or connection.vendor != "postgresql":
        return
    try:
        # poll(), not select(): select() cannot watch descriptors past
        # FD_SETSIZE (1024), which a busy process reaches.
        poller = select.poll()
        poller.register(raw.pgconn.socket, select.POLLIN)
        readable = bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        readable = True
    if readable or raw.closed or raw.broken:
        # Nothing is due to an idle connection that LISTENs to nothing: what
        # arrived is the server's goodbye (or EOF). Reconnect.
        connection.close()


def close_transactions_left_open() -> None:
    """Close each connection that a request left inside a transaction.

    Django opens and ends its transactions through ``atomic()``; a
    transaction open outside one was begun behind its back (an injected
    ``BEGIN``, a raw cursor's), and on a kept connection it would carry
    into the next request, another user's: their writes would wait for
    someone else's ``COMMIT`` or ``ROLLBACK``. Closing rolls it back.
    """
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if (
            raw is None
            or connection.vendor != "postgresql"
            or connection.in_atomic_block
            or raw.info.transaction_status == TransactionStatus.IDLE
        ):
            continue
        logger.warning(
            "a request left a transaction open on %s outside atomic(): "
            "closing the connection, which rolls it back",
            connection.alias,
        )
        connection.close()
