"""What the services are measured against, each side a callable per call.

- ``plain``: the Django a developer would write with no guarantee at all
  (``PlainTask.objects.filter(owner_id=...)``, ``get(pk=..., owner_id=...)``,
  ``get()`` then ``save(update_fields=...)`` or ``delete()``, ``create()``):
  a plain model with the default manager (bench/models.py), on the
  ``plain`` alias, the server's superuser, whom row-level security skips,
  through Django's own backend (bench/settings.py).
- ``django_peer``: that plain call as the runtime role (the ``peer``
  alias, Django's own backend), wrapped in a session-level ``set_config``
  and a ``RESET`` through Django's cursor, as django-rls-tenants does by
  default: three round trips.
- raw psycopg with the services' guarantee (the acting user set in the
  same implicit transaction): ``raw`` (prepared, in a pipeline block: two
  round trips, since leaving the block waits for a second Sync),
  ``one_rt_prepared`` (the pipeline left open: one Sync per call) and
  ``one_rt_glued`` (set_config glued in front of the statement in one
  simple-protocol query, as the services send it); the faster of the last
  two is the physical limit. ``peer_session`` and ``peer_transaction``:
  the raw peers, SET/statement/RESET and BEGIN/set_config/statement/COMMIT.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import Callable

import psycopg
from psycopg import ClientCursor, pq

from .setup import SESSION_OFF, SESSION_ON, SET_USER, set_user_params

OURS, PLAIN, DJANGO_PEER = "ours", "plain", "django_peer"
RAW, PREPARED, GLUED = "raw", "one_rt_prepared", "one_rt_glued"
PEER_SESSION, PEER_TRANSACTION = "peer_session", "peer_transaction"
RAW_SIDES = (RAW, PREPARED, GLUED, PEER_SESSION, PEER_TRANSACTION)
# The sides that are one round trip with the same guarantee as the services.
ONE_ROUND_TRIP = (PREPARED, GLUED)
LABELS = {
    OURS: "ours (the services)",
    PLAIN: "plain Django, no guarantee",
    DJANGO_PEER: "Django SET/RESET peer",
    RAW: "raw, pipeline block",
    PREPARED: "raw one-trip, prepared",
    GLUED: "raw one-trip, glued",
    PEER_SESSION: "raw SET, statement, RESET",
    PEER_TRANSACTION: "raw BEGIN, set_config, statement, COMMIT",
}

TASK_COLUMNS = "id, title, description, completed, created_at, updated_at, owner_id"


class RawSides:
    """The raw psycopg sides, each on a connection of its own.

    Every side runs `query` with `params` as `user_id`.
    """

    def __init__(self, url: str) -> None:
        def connect(**kwargs) -> psycopg.Connection:
            return psycopg.connect(url, autocommit=True, **kwargs)

        self.conns = {
            RAW: connect(prepare_threshold=0),
            PREPARED: connect(prepare_threshold=0),
            GLUED: connect(cursor_factory=ClientCursor),
            PEER_SESSION: connect(prepare_threshold=0),
            PEER_TRANSACTION: connect(prepare_threshold=0),
        }
        self.cursors = {
            name: (conn.cursor(), conn.cursor()) for name, conn in self.conns.items()
        }
        # A pipeline left open: each Sync ends one implicit transaction and
        # is the only wait, so set_config and the statement share it.
        self.open_pipeline = contextlib.ExitStack()
        pipeline = self.conns[PREPARED].pipeline()
        self.pipeline = self.open_pipeline.enter_context(pipeline)
        self.run = {
            RAW: self.raw,
            PREPARED: self.prepared,
            GLUED: self.glued,
            PEER_SESSION: self.peer_session,
            PEER_TRANSACTION: self.peer_transaction,
        }

    def set_user(self, side: str, user_id: int) -> list:
        return set_user_params(user_id, self.conns[side].info.backend_pid)

    def raw(self, user_id: int, query: str, params: list) -> list:
        set_user, cursor = self.cursors[RAW]
        with self.conns[RAW].pipeline() as pipeline:
            set_user.execute(SET_USER, self.set_user(RAW, user_id), prepare=True)
            cursor.execute(query, params, prepare=True)
            pipeline.sync()
            return cursor.fetchall() if cursor.description else []

    def prepared(self, user_id: int, query: str, params: list) -> list:
        set_user, cursor = self.cursors[PREPARED]
        set_user.execute(SET_USER, self.set_user(PREPARED, user_id), prepare=True)
        cursor.execute(query, params, prepare=True)
        self.pipeline.sync()
        return cursor.fetchall() if cursor.description else []

    def glued(self, user_id: int, query: str, params: list) -> list:
        # Simple query protocol: both statements in one implicit transaction.
        # The values are digits, hex and colons only, as the services glue.
        values = self.set_user(GLUED, user_id)
        set_user = SET_USER % tuple(f"'{value}'" for value in values)
        cursor = self.cursors[GLUED][1]
        cursor.execute(f"{set_user}; {query}", params)
        cursor.nextset()
        return cursor.fetchall() if cursor.description else []

    def peer_session(self, user_id: int, query: str, params: list) -> list:
        conn = self.conns[PEER_SESSION]
        conn.execute(SESSION_ON, prepare=False)
        cursor = conn.execute(query, params, prepare=True)
        rows = cursor.fetchall() if cursor.description else []
        conn.execute(SESSION_OFF, prepare=False)
        return rows

    def peer_transaction(self, user_id: int, query: str, params: list) -> list:
        conn = self.conns[PEER_TRANSACTION]
        conn.execute("BEGIN", prepare=False)
        set_user = self.set_user(PEER_TRANSACTION, user_id)
        conn.execute(SET_USER, set_user, prepare=True)
        cursor = conn.execute(query, params, prepare=True)
        rows = cursor.fetchall() if cursor.description else []
        conn.execute("COMMIT", prepare=False)
        return rows

    def close(self) -> None:
        self.open_pipeline.close()
        for conn in self.conns.values():
            conn.close()


def session_peer(call: Callable[[], object]) -> object:
    """Run `call` on the peer alias between a session SET and a RESET.

    django-rls-tenants' default: the setting is sent through Django's
    cursor before the queries and reset after them, a round trip each.
    """
    from django.db import connections

    connection = connections["peer"]
    with connection.cursor() as cursor:
        cursor.execute(SESSION_ON)
    try:
        return call()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(SESSION_OFF)


def plain_calls(alias: str) -> dict[str, Callable]:
    """Return plain Django's version of each service, on the alias `alias`.

    Each takes (owner id, task id or title) like the bench's calls; none
    carries any guarantee: only the filter on the owner keeps it to their
    tasks. A plain model and Django's default manager (bench/models.py).
    """
    from django.db.models import Count

    from .models import PlainTask

    tasks = PlainTask.objects.db_manager(alias)

    def get_tasks(owner_id: int, _=None) -> list:
        return list(
            tasks.filter(owner_id=owner_id, completed=False).order_by(
                "-created_at", "-id"
            )[:50]
        )

    def get_task(owner_id: int, task_id: int):
        return tasks.get(pk=task_id, owner_id=owner_id)

    def count_tasks(owner_id: int, _=None) -> dict:
        return dict(
            tasks.filter(owner_id=owner_id)
            .order_by()
            .values_list("completed")
            .annotate(count=Count("*"))
        )

    def create_task(owner_id: int, title: str):
        return tasks.create(owner_id=owner_id, title=title)

    def update_task(owner_id: int, task_id: int, title: str = "Renamed"):
        task = tasks.get(pk=task_id, owner_id=owner_id)
        task.title = title
        task.save(update_fields=["title", "updated_at"])
        return task

    def toggle_complete(owner_id: int, task_id: int):
        task = tasks.get(pk=task_id, owner_id=owner_id)
        task.completed = not task.completed
        task.save(update_fields=["completed", "updated_at"])
        return task

    def delete_task(owner_id: int, task_id: int) -> None:
        tasks.get(pk=task_id, owner_id=owner_id).delete()

    return {
        "get_tasks": get_tasks,
        "get_task": get_task,
        "count_tasks": count_tasks,
        "create_task": create_task,
        "update_task": update_task,
        "toggle_complete": toggle_complete,
        "delete_task": delete_task,
    }


def round_trips_of(conn: psycopg.Connection, call: Callable[[], object]) -> int:
    """Return how many times `call` waits for PostgreSQL on `conn`.

    libpq's protocol trace lists each message sent (F) and received (B) in
    order; every run of messages sent followed by an answer is a round
    trip, BEGIN and COMMIT included, whatever the code above psycopg does.
    """
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            call()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        directions = [line.split("\t", 1)[0] for line in trace if line.strip()]
    return sum(
        1
        for before, after in itertools.pairwise(directions)
        if (before, after) == ("F", "B")
    )


def django_round_trips(
    call: Callable[[], object], alias: str = "default"
) -> tuple[int, list[str]]:
    """Return the round trips one call sends on `alias`, and its statements.

    A statement that carries the scope glued in front counts as its own
    statement after the set_config.
    """
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    connection = connections[alias]
    connection.ensure_connection()
    with CaptureQueriesContext(connection) as queries:
        round_trips = round_trips_of(connection.connection, call)
    statements = []
    for query in queries.captured_queries:
        text = query["sql"]
        if text.startswith("SELECT set_config(") and "; " in text:
            set_config, _, text = text.partition("; ")
            statements.append(set_config)
        statements.append(text)
    return round_trips, statements
