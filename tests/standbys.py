"""A throwaway primary, migrated by an owner of its own, for standby tests.

``migrated_primary()`` starts a password-protected cluster (see
``embedded_pg.testing.throwaway``), creates an owner that migrates it and
the runtime role that the tests then use, and adds the users alice and bob;
``Cluster.standby()`` makes streaming standbys of it. ``settings_for()``
gives a Django database of either role on a cluster of it, directly or
through a PgBouncer in front of it (``tests/pgbouncer.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dj_database_url
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from accounts.models import User
from embedded_pg.testing import Cluster, throwaway
from tests.utils import default_database

OWNER, OWNER_PASSWORD, DATABASE = "standby_owner", "standby-owner-pw", "standby"
RUNTIME_PASSWORD = "standby-runtime-pw"


def settings_for(
    cluster: Cluster, *, owner: bool = False, port: int | None = None
) -> dict:
    """Return the settings of a database of `cluster` as the owner or runtime role.

    `port` reaches it through something in front of it (a PgBouncer) on
    that loopback port instead.
    """
    role, password = (
        (OWNER, OWNER_PASSWORD)
        if owner
        else (settings.DATABASE_RUNTIME_ROLE, RUNTIME_PASSWORD)
    )
    db = dj_database_url.parse(
        f"postgres://{role}:{password}@{cluster.host}:{port or cluster.port}/{DATABASE}"
    )
    db.update(CONN_MAX_AGE=0)
    db.setdefault("OPTIONS", {})["connect_timeout"] = 2
    return connections.configure_settings({"default": db})["default"]


def caught_up(primary: Cluster, standby: Cluster, *, seconds: float = 30) -> None:
    """Wait until `standby` has replayed everything `primary` wrote so far.

    The target is a record of our own, committed and flushed: the primary's
    insert position may count records that no commit has flushed yet (a
    page pruned by a read, a vacuum), which an idle primary never sends,
    and at a page boundary it points past the header that replay stops
    before. A transactional message takes an xid, so its commit is flushed
    with ``synchronous_commit`` on, and what it returns is the end of the
    message's own record, where replay stops too.
    """
    with psycopg.connect(primary.url(DATABASE)) as conn:
        conn.execute("SET LOCAL synchronous_commit = on")
        (target,) = conn.execute(
            "SELECT pg_logical_emit_message(true, 'todoproject', 'caught up')"
        ).fetchone()
    with psycopg.connect(standby.url(DATABASE), autocommit=True) as conn:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            (done,) = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s", [target]
            ).fetchone()
            if done:
                return
            time.sleep(0.05)
    raise AssertionError(f"the standby did not replay {target} within {seconds:g} s")


def runtime_url(cluster: Cluster) -> str:
    return (
        f"postgres://{settings.DATABASE_RUNTIME_ROLE}:{RUNTIME_PASSWORD}"
        f"@{cluster.host}:{cluster.port}/{DATABASE}"
    )


@contextmanager
def migrated_primary(django_db_blocker) -> Iterator[Cluster]:
    """Yield a migrated primary with the users alice and bob, and no task."""
    with throwaway() as cluster:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {OWNER} LOGIN PASSWORD '{OWNER_PASSWORD}'")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {OWNER}")
            conn.execute(
                f"CREATE ROLE {settings.DATABASE_RUNTIME_ROLE} LOGIN "
                f"PASSWORD '{RUNTIME_PASSWORD}'"
            )
        with (
            django_db_blocker.unblock(),
            default_database(settings_for(cluster, owner=True)),
        ):
            call_command("migrate", verbosity=0)
            for name in ("alice", "bob"):
                User.objects.create_user(name, f"{name}@example.com", "pw-123456")
        yield cluster
