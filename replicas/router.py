"""Route a user's task reads to a hot standby that has replayed their writes.

With ``DATABASE_REPLICA_URLS`` set, each standby is a database alias
(``replica_1``, ...) and ``ReplicaRouter`` is installed. Only reads that
carry their owner (a bound queryset: what the services return) go to a
replica; everything else (writes, migrations, transactions, the admin,
sessions, users) goes to the primary, ``default``.

Read-your-writes by WAL position: after a write in a user's scope commits,
the primary's WAL position is remembered for that user in Django's cache
(shared between processes when the cache is). A read for that user goes to
a replica only once the replica's ``pg_last_wal_replay_lsn()`` has reached
it. Each replica's replayed position and lag are asked at most every
``REPLAY_CHECK_SECONDS`` per process, so a read costs no extra round trip
in the common case. A replica that fails to answer, or lags more than
``DATABASE_REPLICA_MAX_LAG`` seconds, is left out for ``RETRY_SECONDS``,
with one warning in the log; reads then go to another replica or to the
primary, with no error to the caller.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
)

logger = logging.getLogger(__name__)

REPLAY_CHECK_SECONDS = 0.5
RETRY_SECONDS = 30.0
# How long a user's last write position is kept: longer than any lag a
# usable replica may have.
WRITE_POSITION_TTL = 300

_pinned: ContextVar[str | None] = ContextVar("todoproject_read_alias", default=None)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", ()))


def lsn(text: str | None) -> int | None:
    """Return a pg_lsn's text ('16/B374D848') as an int."""
    if not text:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass
class _Replica:
    replayed: int | None = None
    lag_seconds: float = 0.0
    checked: float = float("-inf")
    down_until: float = float("-inf")


_state: dict[str, _Replica] = {}
_lock = threading.Lock()


def _replica(alias: str) -> _Replica:
    with _lock:
        return _state.setdefault(alias, _Replica())


# What a standby has replayed and how far behind it is, in one round trip:
# the router asks it before reading, the health check (replicas.health) to
# report. The lag is 0 when it has replayed everything it has received (an
# idle primary sends nothing, which is not lag).
REPLAY_QUERY = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE coalesce(extract(epoch FROM now() - "
    "pg_last_xact_replay_timestamp()), 0) END"
)


@dataclass(frozen=True)
class Replay:
    """Where a server stands in replay; `standby` is false on a primary."""

    standby: bool
    replayed: int | None
    lag_seconds: float


def read_replay(cursor) -> Replay:
    """Ask the server of `cursor` what it has replayed (REPLAY_QUERY)."""
    cursor.execute(REPLAY_QUERY)
    standby, replayed, lag = cursor.fetchone()
    return Replay(bool(standby), lsn(replayed), float(lag))


def replay_status(alias: str) -> tuple[int | None, float]:
    """Ask replica `alias` what it has replayed and how far behind it is."""
    with connections[alias].cursor() as cursor:
        replay = read_replay(cursor)
    return replay.replayed, replay.lag_seconds


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _leave_out(alias: str, reason: str) -> None:
    state = _replica(alias)
    now = time.monotonic()
    if state.down_until < now:
        logger.warning("replica %s left out for %ss: %s", alias, RETRY_SECONDS, reason)
    state.down_until = now + RETRY_SECONDS
    # A connection that failed is of no use to the next attempt.
    connections[alias].close()


def _usable(alias: str, needed: int | None) -> bool:
    state = _replica(alias)
    now = time.monotonic()
    if state.down_until > now:
        return False
    # Asked again only when the last answer is older than the check
    # interval: a writer whose position the replica has not reached yet
    # reads from the primary meanwhile, at no extra round trip.
    if now - state.checked >= REPLAY_CHECK_SECONDS:
        try:
            state.replayed, state.lag_seconds = replay_status(alias)
        except DatabaseError as exc:
            _leave_out(alias, _first_line(exc))
            return False
        state.checked = now
    if state.lag_seconds > settings.DATABASE_REPLICA_MAX_LAG:
        _leave_out(alias, f"{state.lag_seconds:.0f} s behind the primary")
        return False
    return needed is None or (state.replayed or 0) >= needed


def _position_key(user_id: int) -> str:
    return f"todoproject:replicas:written:{user_id}"


def read_alias(owner) -> str:
    """Return the alias to read `owner`'s tasks from now."""
    aliases = replica_aliases()
    if not aliases or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    needed = cache.get(_position_key(owner.pk))
    for alias in random.sample(aliases, len(aliases)):
        if _usable(alias, needed):
            return alias
    return DEFAULT_DB_ALIAS


def note_write(owner, using: str = DEFAULT_DB_ALIAS) -> None:
    """Remember the primary's WAL position after `owner`'s write commits."""
    if not replica_aliases() or owner is None:
        return
    connection = connections[using]

    def remember() -> None:
        with connection.cursor() as cursor:
            # The insert position: past the commit record even with
            # synchronous_commit off, when the write position may not be yet.
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            (position,) = cursor.fetchone()
        cache.set(_position_key(owner.pk), lsn(position), WRITE_POSITION_TTL)

    if connection.in_atomic_block:
        # Only a committed write counts; a rolled back one is forgotten.
        connection.on_commit(remember)
    else:
        remember()


@contextmanager
def reading_from(alias: str) -> Iterator[None]:
    """Send the reads made in this block to `alias` (ReplicaRouter)."""
    token = _pinned.set(alias)
    try:
        yield
    finally:
        _pinned.reset(token)


def read_or_fall_back(owner, read):
    """Run `read(alias)` on a replica for `owner`, else on the primary.

    A replica that fails while the read runs is left out and the read runs
    again on the primary: the caller sees no error.
    """
    alias = read_alias(owner)
    if alias == DEFAULT_DB_ALIAS:
        return read(alias)
    try:
        with reading_from(alias):
            return read(alias)
    except (OperationalError, InterfaceError) as exc:
        # The replica went away (or stopped answering) under the read.
        _leave_out(alias, _first_line(exc))
        return read(DEFAULT_DB_ALIAS)


class ReplicaRouter:
    """Database router: a bound read's chosen replica, else the primary."""

    def db_for_read(self, model, **hints):
        return _pinned.get()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
