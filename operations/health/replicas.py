"""The replicas' part of a health report: reachable, replaying, how far behind.

Each replica of ``settings.DATABASE_REPLICAS`` is asked on a connection of
its own (never the one requests use), with the primary's current WAL
position for the lag in bytes. A replica that cannot be reached, is not a
standby, or lags more than ``DATABASE_REPLICA_MAX_LAG`` seconds fails; for
the service that is a warning, since reads fall back (replicas/router.py).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.utils import load_backend

from .checks import first_line
from .report import ReplicaStatus, Status


def _private(alias: str, timeout: float):
    settings_dict = {
        **connections[alias].settings_dict,
        "OPTIONS": {**connections[alias].settings_dict.get("OPTIONS", {})},
    }
    settings_dict["OPTIONS"]["connect_timeout"] = max(1, math.ceil(timeout))
    settings_dict["OPTIONS"].pop("pool", None)
    backend = load_backend(settings_dict["ENGINE"])
    return backend.DatabaseWrapper(settings_dict, alias)


def primary_position(alias: str, timeout: float) -> int | None:
    """Return the primary's current WAL position, or None when unknown."""
    connection = _private(alias, timeout)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            return int(cursor.fetchone()[0])
    except DatabaseError:
        return None
    finally:
        connection.close()


def replica_status(alias: str, primary: int | None, timeout: float) -> ReplicaStatus:
    connection = _private(alias, timeout)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), "
                "pg_last_wal_replay_lsn() - '0/0'::pg_lsn, "
                "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
                "THEN 0 ELSE coalesce(extract(epoch FROM now() - "
                "pg_last_xact_replay_timestamp()), 0) END"
            )
            replaying, replayed, lag = cursor.fetchone()
    except DatabaseError as exc:
        return ReplicaStatus(
            alias, Status.FAIL, f"unreachable: {first_line(exc, {})}", False
        )
    finally:
        connection.close()
    if not replaying:
        return ReplicaStatus(alias, Status.FAIL, "not a standby", True, False)
    lag_bytes = None
    if primary is not None and replayed is not None:
        lag_bytes = max(0, primary - int(replayed))
    lag_seconds = float(lag)
    limit = settings.DATABASE_REPLICA_MAX_LAG
    if lag_seconds > limit:
        status, detail = Status.FAIL, f"{lag_seconds:.0f} s behind (limit {limit} s)"
    else:
        status, detail = Status.OK, f"replaying, {lag_seconds:.1f} s behind"
    return ReplicaStatus(alias, status, detail, True, True, lag_bytes, lag_seconds)


def replica_statuses(primary_alias: str, timeout: float) -> list[ReplicaStatus]:
    """Return the status of every configured replica of `primary_alias`."""
    aliases = list(getattr(settings, "DATABASE_REPLICAS", ()))
    if not aliases:
        return []
    primary = primary_position(primary_alias, timeout)
    return [replica_status(alias, primary, timeout) for alias in aliases]
