"""
Who the database is acting for: the input of the row-level security policies.

PostgreSQL lets a session see or write a row of ``tasks_task`` only when
``owner_id`` equals the acting user, or when the system scope is on (see the
migration ``0002_database_enforcement``). Both are carried by
transaction-local settings (``set_config(name, value, true)``), never by a
session-level ``SET``: they vanish at the end of the transaction, so nothing
leaks to the next client of a pooled server connection (PgBouncer in
transaction mode).

- ``acting_as(user)``: the database sees and writes only `user`'s tasks.
- ``system_scope()``: the database sees every task. For seeding, data
  migrations, dumps and staff in the admin; grep for it to audit them.

Outside of both, queries see no task at all and write none: fail closed.
Each opens a transaction (a savepoint when one is already open) and restores
the outer scope when it ends. On SQLite there is no row-level security and
both are plain ``atomic()`` blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

if TYPE_CHECKING:
    from accounts.models import User

USER_SETTING = "todoproject.user_id"
SYSTEM_SETTING = "todoproject.system"

__all__ = [
    "SYSTEM_SETTING",
    "USER_SETTING",
    "Scope",
    "acting_as",
    "as_system",
    "current_scope",
    "system_scope",
]


@dataclass(frozen=True)
class Scope:
    """What the policies see: a user id, the system, or nothing."""

    user_id: int | None = None
    system: bool = False

    def __str__(self) -> str:
        if self.system:
            return "system"
        if self.user_id is not None:
            return f"user {self.user_id}"
        return "nobody"


NOBODY = Scope()


def _stack(connection) -> list[Scope]:
    # Scopes live on the connection object because the database settings
    # they mirror live on the database connection (one per thread).
    try:
        return connection._todoproject_scopes
    except AttributeError:
        connection._todoproject_scopes = []
        return connection._todoproject_scopes


def current_scope(using: str = DEFAULT_DB_ALIAS) -> Scope:
    """Return the scope in force on the connection `using`."""
    stack = _stack(connections[using])
    return stack[-1] if stack else NOBODY


def _apply(connection, scope: Scope) -> None:
    if connection.vendor != "postgresql":
        return
    user_id = "" if scope.user_id is None else str(scope.user_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
            [USER_SETTING, user_id, SYSTEM_SETTING, "on" if scope.system else ""],
        )


@contextmanager
def _scoped(scope: Scope, using: str | None) -> Iterator[None]:
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    stack = _stack(connection)
    if stack and stack[-1] == scope and connection.in_atomic_block:
        # Already acting so (say, a service called inside a request): no
        # savepoint and no round trip.
        yield
        return
    # Inside an outer transaction the setting made here would outlive this
    # block (it survives RELEASE SAVEPOINT), so put the outer scope back on
    # the way out. On an error the savepoint's rollback undoes it instead.
    nested = connection.in_atomic_block
    outer = stack[-1] if stack else NOBODY
    with transaction.atomic(using=alias):
        _apply(connection, scope)
        stack.append(scope)
        try:
            yield
        finally:
            stack.pop()
        if nested:
            _apply(connection, outer)


def acting_as(user: User, *, using: str | None = None):
    """Act for `user`: the database shows and accepts only their tasks.

    A context manager; also usable as a decorator.
    """
    if user is None or getattr(user, "pk", None) is None:
        raise ValueError("acting_as() needs a saved user.")
    return _scoped(Scope(user_id=user.pk), using)


def system_scope(*, using: str | None = None):
    """Act as the system: the database shows and accepts every task.

    Only for work no single user triggers (seeding, migrations, dumps) and
    for staff with the model permission in the admin.
    """
    return _scoped(Scope(system=True), using)


def as_system(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a ``RunPython`` migration function with the system scope.

    ``migrations.RunPython(as_system(forwards), as_system(backwards))``
    """

    @wraps(func)
    def wrapper(apps, schema_editor):
        with system_scope(using=schema_editor.connection.alias):
            return func(apps, schema_editor)

    return wrapper
