"""
Who the database is acting for: the input of the row-level security policies.

PostgreSQL lets a session see or write a row of ``tasks_task`` only for the
acting user, for the table's owner in the system scope, or for staff with
the task permission in the staff scope (ownership/policies.py). All are
carried by transaction-local settings (``set_config(name, value, true)``),
never by a session-level ``SET``: they vanish at the end of the
transaction, so nothing leaks to the next client of a pooled server
connection (PgBouncer in transaction mode).

- ``acting_as(user)``: the database sees and writes only `user`'s tasks.
- ``staff_scope(user)``: the admin; the database checks `user`'s staff
  status and task permissions itself.
- ``system_scope()``: every task, for the owner only (seeding, data
  migrations, dumps); for the runtime role it shows nothing. Grep for it to
  audit it.

Outside of these, queries see no task at all and write none: fail closed.
Inside one user's scope, a scope of another user raises ``ScopeConflict``.
Each opens a transaction (a savepoint when one is already open, none when
the same scope already holds one) and restores the outer scope when it ends;
with ``atomic=False`` each statement carries the scope itself instead. On
SQLite there is no row-level security and all are plain ``atomic()``
blocks.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg import ClientCursor

if TYPE_CHECKING:
    from accounts.models import User

from .policies import (
    SCOPE_STAMP,
    STAFF_SETTING,
    SYSTEM_SETTING,
    TRANSACTION_SETTING,
    USER_SETTING,
)

__all__ = [
    "STAFF_SETTING",
    "SYSTEM_SETTING",
    "USER_SETTING",
    "Scope",
    "ScopeConflict",
    "acting_as",
    "as_system",
    "current_scope",
    "holding",
    "staff_scope",
    "system_scope",
]


@dataclass(frozen=True)
class Scope:
    """What the policies see: a user id, the system, or nothing."""

    user_id: int | None = None
    system: bool = False
    # The admin: the acting user's staff status and task permissions,
    # checked by the database itself, decide what is visible.
    staff: bool = False
    # For messages only: the username, when the scope was made from a user.
    name: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.system:
            return "system"
        if self.user_id is not None:
            who = f"user {self.user_id}" + (f" ({self.name})" if self.name else "")
            return f"staff {who}" if self.staff else who
        return "nobody"


class ScopeConflict(RuntimeError):
    """A scope for one user was asked for inside the scope of another.

    The classic authorization bug (a user id taken from a URL and used
    inside another user's request) becomes this error instead of a silent
    switch to the other user's rows.
    """


NOBODY = Scope()


@dataclass(frozen=True, eq=False)  # Frames are told apart by identity.
class _Frame:
    scope: Scope
    # True: every statement carries its own set_config (no transaction).
    per_statement: bool = False
    # holding()'s frames: the outermost atomic block they were made in,
    # outside of which they mean nothing (a generator may outlive it).
    held_in: object = None


def _stack(connection) -> list[_Frame]:
    # Scopes live on the connection object because the database settings
    # they mirror live on the database connection (one per thread).
    try:
        stack = connection._todoproject_scopes
    except AttributeError:
        stack = connection._todoproject_scopes = []
    outermost = connection.atomic_blocks[0] if connection.atomic_blocks else None
    if any(f.held_in is not None and f.held_in is not outermost for f in stack):
        stack[:] = [f for f in stack if f.held_in is None or f.held_in is outermost]
    return stack


def _remove(connection, frame: _Frame) -> None:
    # By identity, wherever it is: a frame pushed after it (an unfinished
    # iteration's) may still be on top.
    stack = _stack(connection)
    if frame in stack:
        stack.remove(frame)


def current_scope(using: str = DEFAULT_DB_ALIAS) -> Scope:
    """Return the scope in force on the connection `using`."""
    stack = _stack(connections[using])
    return stack[-1].scope if stack else NOBODY


def _set_config_sql(scope: Scope) -> str:
    # Only digits and fixed words are interpolated, so this SQL can be
    # glued in front of any statement without parameters of its own.
    user_id = "" if scope.user_id is None else str(int(scope.user_id))
    system = "on" if scope.system else ""
    staff = "on" if scope.staff else ""
    return (
        f"SELECT set_config('{USER_SETTING}', '{user_id}', true), "
        f"set_config('{SYSTEM_SETTING}', '{system}', true), "
        f"set_config('{STAFF_SETTING}', '{staff}', true), "
        f"set_config('{TRANSACTION_SETTING}', {SCOPE_STAMP}, true)"
    )


def _apply(connection, scope: Scope) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(_set_config_sql(scope))


def _drop_if_dead(connection) -> None:
    """Close an idle connection whose server side has gone, without a query.

    A terminated backend or a restarted server leaves the idle socket
    readable (an error message, then EOF); Django's own health check runs
    only between requests and costs a round trip. One non-blocking select()
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


def _can_scope_statements(connection) -> bool:
    """Whether statements can carry their own set_config on `connection`.

    That takes an implicit transaction per statement (autocommit) and the
    simple query protocol, which Django's default client-side binding
    cursors use; server-side binding cannot send two statements at once.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    _drop_if_dead(connection)
    connection.ensure_connection()
    return connection.get_autocommit() and issubclass(
        connection.connection.cursor_factory, ClientCursor
    )


def _prefix_statements(execute, sql, params, many, context):
    """Execute wrapper: run each statement behind the scope's set_config.

    PostgreSQL runs the statements of one simple-protocol query string as a
    single implicit transaction, so the transaction-local setting applies to
    the statement and ends with it: one round trip, nothing left behind.
    """
    connection = context["connection"]
    stack = _stack(connection)
    if not stack or not stack[-1].per_statement:
        return execute(sql, params, many, context)
    set_config = _set_config_sql(stack[-1].scope)
    raw_cursor = context["cursor"].cursor
    if many or getattr(raw_cursor, "name", None):
        # executemany (pipelined) and server-side cursors cannot take two
        # statements: give them a transaction that starts with the setting.
        with (
            transaction.atomic(using=connection.alias),
            connection.connection.cursor() as setter,
        ):
            setter.execute(set_config)
            return execute(sql, params, many, context)
    result = execute(f"{set_config}; {sql}", params, many, context)
    raw_cursor.nextset()
    return result


def _refuse_another_user(stack: list[_Frame], scope: Scope) -> None:
    """Raise ScopeConflict when `scope` would switch from one user to another.

    Any user's scope still open in this thread counts, however deep and on
    whichever connection (a read routed to a replica included): a system
    scope entered inside a user's request does not make room for another
    user. Narrowing is allowed (a user's scope inside the system's,
    as seeding does, or inside a staff member's in the admin), and so are
    the system and staff scopes entered explicitly by trusted code.
    """
    if scope.user_id is None or scope.staff:
        return
    frames = [
        frame
        for connection in connections.all(initialized_only=True)
        for frame in _stack(connection)
    ]
    for frame in [*stack, *frames]:
        held = frame.scope
        if (
            held.user_id is not None
            and not held.staff
            and held.user_id != scope.user_id
        ):
            raise ScopeConflict(
                f"cannot act as {scope} inside the scope of {held}: "
                "a nested scope never switches users"
            )


@contextmanager
def _scoped(scope: Scope, using: str | None, *, atomic: bool) -> Iterator[None]:
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    stack = _stack(connection)
    top = stack[-1] if stack else None
    _refuse_another_user(stack, scope)
    if (
        top is not None
        and top.scope == scope
        and (connection.in_atomic_block or (top.per_statement and not atomic))
    ):
        # Already acting so (say, a service called inside a request): no
        # savepoint and no round trip.
        yield
        return
    if not atomic and _can_scope_statements(connection):
        frame = _Frame(scope, per_statement=True)
        stack.append(frame)
        try:
            if _prefix_statements in connection.execute_wrappers:
                yield
            else:
                with connection.execute_wrapper(_prefix_statements):
                    yield
        finally:
            _remove(connection, frame)
        return
    # Inside an outer transaction the setting made here would outlive this
    # block (it survives RELEASE SAVEPOINT), so put the outer scope back on
    # the way out. On an error the savepoint's rollback undoes it instead.
    # With autocommit turned off by hand, atomic() neither begins nor
    # commits: the caller's transaction goes on after the block, so that
    # is an outer transaction too.
    nested = connection.in_atomic_block or not connection.get_autocommit()
    if not connection.in_atomic_block:
        _drop_if_dead(connection)
    outer = stack[-1].scope if stack else NOBODY
    with transaction.atomic(using=alias):
        _apply(connection, scope)
        frame = _Frame(scope)
        stack.append(frame)
        try:
            yield
        finally:
            _remove(connection, frame)
        if nested:
            _apply(connection, outer)


@contextmanager
def holding(user: User, *, using: str | None = None) -> Iterator[None]:
    """Act for `user` in the open transaction until the block ends, unsaved.

    For reads whose statement outlives a single call, such as a server-side
    cursor inside ``transaction.atomic()``: PostgreSQL applies the policies
    at each FETCH, so the scope must stay in force between them. No
    savepoint, so that leaving the block early (a ``break``) never rolls
    back what the caller wrote in between; the outer scope is put back.
    """
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    if not connection.in_atomic_block:
        raise RuntimeError("holding() is for use inside a transaction.")
    scope = _user_scope(user)
    stack = _stack(connection)
    _refuse_another_user(stack, scope)
    frame = _Frame(scope, held_in=connection.atomic_blocks[0])
    _apply(connection, scope)
    stack.append(frame)
    try:
        yield
    finally:
        # A generator left unfinished may end here long after its
        # transaction, when the frame is gone: then there is nothing to undo.
        stack = _stack(connection)
        if frame in stack:
            stack.remove(frame)
            # A failed transaction is rolled back, setting and all; a live
            # one gets the scope that is in force again.
            if not connection.needs_rollback:
                _apply(connection, stack[-1].scope if stack else NOBODY)


def _user_scope(user: User) -> Scope:
    if user is None or getattr(user, "pk", None) is None:
        raise ValueError("acting_as() needs a saved user.")
    return Scope(user_id=user.pk, name=str(getattr(user, "username", "") or ""))


def acting_as(user: User, *, using: str | None = None, atomic: bool = True):
    """Act for `user`: the database shows and accepts only their tasks.

    A context manager; also usable as a decorator. By default the block is
    one transaction (a savepoint inside one) that starts with the setting.
    With ``atomic=False`` and outside a transaction, each statement instead
    carries the setting itself, in the same round trip: no BEGIN, no
    COMMIT, but also no atomicity across statements. Use it for blocks of a
    single statement; it falls back to a transaction where it cannot apply.
    """
    return _scoped(_user_scope(user), using, atomic=atomic)


def staff_scope(user: User, *, using: str | None = None, atomic: bool = True):
    """Act for staff member `user` in the admin: every task they may see.

    The database decides what that is: the policies read `user`'s staff
    status and task permissions from the auth tables (view or change to
    see, add, change and delete to write). Anyone else sees only their own
    tasks, as with ``acting_as``. ``atomic`` as for ``acting_as``.
    """
    from .permissions import may_see_all_tasks

    if not may_see_all_tasks(user):
        raise PermissionError(
            f"staff_scope() is for active staff who may view or change tasks, "
            f"not {user}."
        )
    scope = _user_scope(user)
    return _scoped(
        Scope(user_id=scope.user_id, name=scope.name, staff=True), using, atomic=atomic
    )


def system_scope(*, using: str | None = None, atomic: bool = True):
    """Act as the system: the database shows and accepts every task.

    Only for work no single user triggers (seeding, migrations, dumps),
    and honoured only on a connection of the tables' owner: for the runtime
    role it shows nothing at all. ``atomic`` as for ``acting_as``.
    """
    return _scoped(Scope(system=True), using, atomic=atomic)


def as_system(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a ``RunPython`` migration function with the system scope.

    ``migrations.RunPython(as_system(forwards), as_system(backwards))``
    """

    @wraps(func)
    def wrapper(apps, schema_editor):
        with system_scope(using=schema_editor.connection.alias):
            return func(apps, schema_editor)

    return wrapper
