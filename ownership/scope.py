"""
Who the database is acting for: the input of the row-level security policies.

PostgreSQL lets a session see or write a row of an owned table (an app
declares it: ``tasks.models.OWNED``) only for the acting user, for the
table's owner in the system scope, or for staff with the model's
permission in the staff scope (ownership/policies.py). The acting user
counts only with the application's signed proof of it (ownership/proofs.py).
All are carried by transaction-local settings (``set_config(name, value, true)``),
never by a session-level ``SET``: they vanish at the end of the
transaction, so nothing leaks to the next client of a pooled server
connection (PgBouncer in transaction mode).

- ``acting_as(user)``: the database sees and writes only `user`'s tasks.
- ``staff_scope(user)``: the admin; the database checks `user`'s staff
  status and task permissions itself.
- ``system_scope()``: every task, for the owner only (seeding, data
  migrations, dumps); for the runtime role it shows nothing. Grep for it to
  audit it.
- ``request_scope(request)`` (ownership/requests.py): whoever `request` is
  authenticated as, asked at each statement (ActingUserMiddleware), so
  that authentication done inside the view (DRF, django-ninja) counts from
  the moment it is done.

Outside of these, queries see no task at all and write none: fail closed.
Inside one user's scope, a scope of another user raises ``ScopeConflict``.

A scope is a frame in a ``ContextVar``: each thread, and each asyncio task
or request under ASGI, has its own, and ``sync_to_async`` carries it to the
thread that runs the queries. A transaction scope (the default) opens a
transaction, or a savepoint inside one, that starts with the setting, and
puts the outer scope back when it ends. A statement scope (``atomic=False``,
``async with``, requests) sends the setting with each statement instead,
through an execute wrapper: in the same round trip where the connection
allows it. On SQLite there is no row-level security and scopes only decide
what the ORM's checks say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import (
    ExitStack,
    contextmanager,
    nullcontext,
)
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import (
    ImproperlyConfigured,
    ObjectDoesNotExist,
    PermissionDenied,
)
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg import ClientCursor

if TYPE_CHECKING:
    # Any user model: the bottom layer names none of the apps above it.
    from django.contrib.auth.base_user import AbstractBaseUser as User

from .liveness import drop_if_dead
from .policies import (
    OWNED_TABLES,
    PROOF_SETTING,
    SCOPE_STAMP,
    STAFF_SETTING,
    SYSTEM_SETTING,
    TRANSACTION_SETTING,
    USER_SETTING,
)
from .proofs import backend_pid, proof

__all__ = [
    "STAFF_SETTING",
    "SYSTEM_SETTING",
    "USER_SETTING",
    "NotVisible",
    "Scope",
    "ScopeConflict",
    "StaffScopeRefused",
    "UnscopedQuery",
    "acting_as",
    "as_system",
    "current_scope",
    "explicit_scope",
    "has_statement_scope",
    "holding",
    "in_scope",
    "statement_scope",
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


class ScopeConflict(PermissionDenied):
    """A scope for one user was asked for inside the scope of another.

    The classic authorization bug (a user id taken from a URL and used
    inside another user's request) becomes this error instead of a silent
    switch to the other user's rows. So does a request that carries two
    identities (a session of one user and a token of another). A
    ``PermissionDenied``: Django and DRF answer it with 403.
    """


class StaffScopeRefused(PermissionDenied, PermissionError):
    """``staff_scope()`` was asked for someone it is not for.

    A ``PermissionDenied`` (403 in Django and DRF) and, as before, a
    ``PermissionError``.
    """


class NotVisible(ObjectDoesNotExist):
    """A row was written, reloaded or deleted outside the scope that shows it.

    Raised by model instances (ownership.instances) instead of a fallback
    INSERT, a row-level security message or a delete of nothing. Each
    model's own error is also its ``DoesNotExist``.
    """


class UnscopedQuery(RuntimeError):
    """A query of owned rows ran with no scope in force: it sees nothing."""


NOBODY = Scope()

# The database backend whose connections all carry the statement wrapper.
BACKEND = "ownership.backends.postgresql"


@dataclass(eq=False)  # Frames are told apart by identity.
class _Frame:
    scope: Scope
    # None: every database (a request's frame).
    alias: str | None
    # True: every statement carries its own set_config.
    per_statement: bool = False
    # Aliases whose open transaction a per-statement frame changed: their
    # outer scope is put back when the frame ends.
    touched: set[str] = field(default_factory=set)

    # A request's frame resolves its scope at each statement (ownership/requests.py).
    from_request = False

    def resolve(self) -> Scope:
        return self.scope


_frames: ContextVar[tuple[_Frame, ...]] = ContextVar("todoproject_scopes", default=())
# True while a request's user is being read, and while a scope's own
# set_config runs: those statements pass the execute wrapper untouched.
_resolving: ContextVar[bool] = ContextVar("todoproject_resolving", default=False)


def _push(frame: _Frame) -> None:
    _frames.set((*_frames.get(), frame))


def _remove(frame: _Frame) -> None:
    # By identity, wherever it is: a frame pushed after it (an unfinished
    # iteration's) may still be above it.
    frames = _frames.get()
    if frame in frames:
        _frames.set(tuple(f for f in frames if f is not frame))


def _innermost(alias: str) -> _Frame | None:
    for frame in reversed(_frames.get()):
        if frame.alias is None or frame.alias == alias:
            return frame
    return None


def current_scope(using: str = DEFAULT_DB_ALIAS) -> Scope:
    """Return the scope in force on the database `using`."""
    frame = _innermost(using)
    return frame.resolve() if frame is not None else NOBODY


def explicit_scope(using: str = DEFAULT_DB_ALIAS) -> Scope | None:
    """Return the scope a block of code set on `using`, not a request's."""
    frame = _innermost(using)
    if frame is None or frame.from_request:
        return None
    return frame.scope


def scope_to_remember(using: str) -> Scope | None:
    """Return ``explicit_scope(using)`` when it shows rows, else None.

    What a model instance loaded now keeps (ownership.instances): called
    once per row fetched, so one pass over the frames and no comparison of
    dataclasses.
    """
    for frame in reversed(_frames.get()):
        if frame.alias is None or frame.alias == using:
            if frame.from_request:
                return None
            scope = frame.scope
            if scope.user_id is None and not scope.system and not scope.staff:
                return None
            return scope
    return None


def scope_settings_sql(scope: Scope, connection) -> str:
    """Return the ``SELECT set_config(...)`` that puts `scope` in force.

    Only digits, hex and fixed words are interpolated, so this SQL can be
    glued in front of any statement without parameters of its own.
    """
    user_id = "" if scope.user_id is None else str(int(scope.user_id))
    system = "on" if scope.system else ""
    staff = "on" if scope.staff else ""
    signed = ""
    if scope.user_id is not None:
        signed = proof(int(scope.user_id), staff, backend_pid(connection))
    return (
        f"SELECT set_config('{USER_SETTING}', '{user_id}', true), "
        f"set_config('{SYSTEM_SETTING}', '{system}', true), "
        f"set_config('{STAFF_SETTING}', '{staff}', true), "
        f"set_config('{PROOF_SETTING}', '{signed}', true), "
        f"set_config('{TRANSACTION_SETTING}', {SCOPE_STAMP}, true)"
    )


def _apply(connection, scope: Scope) -> None:
    if connection.vendor != "postgresql":
        return
    token = _resolving.set(True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(scope_settings_sql(scope, connection))
    finally:
        _resolving.reset(token)


def statement_scope(execute, sql, params, many, context):
    """Execute wrapper: send each statement with its scope's set_config.

    Installed on every PostgreSQL connection by the project's backend
    (ownership/backends/postgresql); it acts only while a per-statement
    scope (``atomic=False``, ``async with``, a request) is in force.

    PostgreSQL runs the statements of one simple-protocol query string as a
    single implicit transaction, so outside a transaction the setting
    applies to the statement and ends with it: one round trip, nothing left
    behind. Inside one, it lasts until the transaction ends or the frame
    puts the outer scope back.
    """
    connection = context["connection"]
    if _resolving.get() or connection.vendor != "postgresql":
        return execute(sql, params, many, context)
    frame = _innermost(connection.alias)
    if frame is None:
        _check_unscoped(sql, connection.alias)
        return execute(sql, params, many, context)
    scope = frame.resolve()
    nobody = scope.user_id is None and not scope.system and not scope.staff
    if nobody:
        _check_unscoped(sql, connection.alias)
    if not frame.per_statement:
        return execute(sql, params, many, context)
    if connection.in_atomic_block:
        frame.touched.add(connection.alias)
    elif nobody:
        # Nobody to act for: no setting, no row.
        return execute(sql, params, many, context)
    cursor = context["cursor"]
    if (
        many
        or getattr(cursor, "name", None)
        or not issubclass(connection.connection.cursor_factory, ClientCursor)
    ):
        # executemany (pipelined), server-side cursors and server-side
        # binding cannot take two statements in one string: give them a
        # transaction that starts with the setting.
        with transaction.atomic(using=connection.alias):
            _apply(connection, scope)
            return execute(sql, params, many, context)
    result = execute(
        f"{scope_settings_sql(scope, connection)}; {sql}", params, many, context
    )
    cursor.nextset()
    return result


# The statements that read, change or delete existing rows.
_READS_ROWS = ("SELECT", "WITH", "UPDATE", "DELETE")


def _check_unscoped(sql, alias: str) -> None:
    """Warn, or raise, when `sql` reads an owned table with no scope in force.

    What the querysets of owned models check for themselves, for the
    statements that reach an owned table otherwise: a count annotated on
    users, an ``Exists()`` on another model, raw SQL through a cursor. An
    owned table is recognised by its quoted name (``"tasks_task"``), as
    Django's SQL always writes it. Runs only when no scope is in force.
    """
    if not isinstance(sql, str) or not sql[:16].lstrip()[:6].upper().startswith(
        _READS_ROWS
    ):
        return
    for quoted, model in OWNED_TABLES.items():
        if quoted in sql:
            # ownership.unscoped imports this module.
            from .unscoped import require_scope

            require_scope(alias, model)
            return


# Connections not made by the project's backend (a settings dict parsed by
# hand, say) get the wrapper for the length of each block that needs it;
# how many such blocks are open on each.
_fallback: WeakKeyDictionary = WeakKeyDictionary()


def has_statement_scope(connection) -> bool:
    """Whether `connection` came from ownership.backends.postgresql."""
    return getattr(connection, "scope_wrappers", None) is not None


@contextmanager
def _statement_wrappers(aliases) -> Iterator[None]:
    with ExitStack() as stack:
        for alias in aliases:
            connection = connections[alias]
            if connection.vendor != "postgresql" or has_statement_scope(connection):
                continue
            if not _fallback.get(connection, 0):
                stack.enter_context(connection.execute_wrapper(statement_scope))
            _fallback[connection] = _fallback.get(connection, 0) + 1
            stack.callback(_fallback.__setitem__, connection, _fallback[connection] - 1)
        yield


def backend_everywhere(aliases) -> bool:
    """Whether every PostgreSQL database of `aliases` uses the project's backend."""
    return all(
        settings.DATABASES[alias]["ENGINE"] == BACKEND
        for alias in aliases
        if "postgresql" in settings.DATABASES[alias]["ENGINE"]
    )


def _refuse_another_user(scope: Scope) -> None:
    """Raise ScopeConflict when `scope` would switch from one user to another.

    Any user's scope still open in this context counts, however deep and on
    whichever database (a read routed to a replica included): a system
    scope entered inside a user's request does not make room for another
    user. Narrowing is allowed (a user's scope inside the system's, as
    seeding does, or inside a staff member's in the admin), and so are the
    system and staff scopes entered explicitly by trusted code.
    """
    if scope.user_id is None or scope.staff:
        return
    for frame in _frames.get():
        held = frame.resolve()
        if (
            held.user_id is not None
            and not held.staff
            and held.user_id != scope.user_id
        ):
            raise ScopeConflict(
                f"cannot act as {scope} inside the scope of {held}: "
                "a nested scope never switches users"
            )


def _restore(frame: _Frame) -> None:
    """Put the outer scope back where a per-statement frame set its own."""
    for alias in frame.touched:
        connection = connections[alias]
        if connection.in_atomic_block and not transaction.get_rollback(alias):
            _apply(connection, current_scope(alias))


# What each entered _Scoped must undo, per context: one acting_as() object
# entered by two threads or two asyncio tasks at once undoes each its own.
_entered: ContextVar[tuple[tuple[object, Any], ...]] = ContextVar(
    "todoproject_entered_scopes", default=()
)


def _keep(owner, undo) -> None:
    _entered.set((*_entered.get(), (owner, undo)))


def _take(owner):
    entered = _entered.get()
    for index in range(len(entered) - 1, -1, -1):
        if entered[index][0] is owner:
            _entered.set(entered[:index] + entered[index + 1 :])
            return entered[index][1]
    raise RuntimeError("a scope was left that was not entered in this context")


class _Scoped:
    """A scope as a context manager, a decorator and an async context manager."""

    def __init__(self, scope: Scope, using: str | None, *, atomic: bool) -> None:
        self.scope = scope
        self.alias = using or DEFAULT_DB_ALIAS
        self.atomic = atomic

    def __call__(self, func):
        @wraps(func)
        def inner(*args, **kwargs):
            with _Scoped(self.scope, self.alias, atomic=self.atomic):
                return func(*args, **kwargs)

        return inner

    def __enter__(self) -> None:
        # The context manager itself is kept, not an ExitStack around it:
        # this runs for every bound read, and every service.
        entered = self._enter()
        entered.__enter__()
        _keep(self, entered)

    def __exit__(self, *exc_info):
        return _take(self).__exit__(*exc_info)

    async def __aenter__(self) -> None:
        # No transaction can span awaits: each statement carries the scope.
        # The statements run in another thread, on that thread's connection
        # objects: only the project's backend has the wrapper on all of them.
        if not backend_everywhere([self.alias]):
            raise ImproperlyConfigured(
                "async with acting_as() needs ENGINE "
                "'ownership.backends.postgresql' (todoproject/settings.py)"
            )
        _refuse_another_user(self.scope)
        frame = _Frame(self.scope, self.alias, per_statement=True)
        _push(frame)
        _keep(self, frame)

    async def __aexit__(self, *exc_info):
        frame = _take(self)
        _remove(frame)
        if frame.touched:
            await sync_to_async(_restore)(frame)

    @contextmanager
    def _enter(self) -> Iterator[None]:
        scope, alias = self.scope, self.alias
        connection = connections[alias]
        _refuse_another_user(scope)
        top = _innermost(alias)
        if (
            top is not None
            and top.resolve() == scope
            and (connection.in_atomic_block or (top.per_statement and not self.atomic))
        ):
            # Already acting so (say, a service called inside a request): no
            # savepoint and no round trip.
            yield
            return
        if (
            not self.atomic
            and not connection.in_atomic_block
            and connection.get_autocommit()
        ):
            drop_if_dead(connection)
            frame = _Frame(scope, alias, per_statement=True)
            # The project's backend carries the wrapper already (the usual
            # case, and every bound read): no ExitStack to build and leave.
            wrappers = (
                nullcontext()
                if has_statement_scope(connection)
                else _statement_wrappers([alias])
            )
            with wrappers:
                _push(frame)
                try:
                    yield
                finally:
                    _remove(frame)
                    if frame.touched:
                        _restore(frame)
            return
        # Inside an outer transaction the setting made here would outlive this
        # block (it survives RELEASE SAVEPOINT), so put the outer scope back on
        # the way out. On an error the savepoint's rollback undoes it instead.
        # With autocommit turned off by hand, atomic() neither begins nor
        # commits: the caller's transaction goes on after the block, so that
        # is an outer transaction too.
        nested = connection.in_atomic_block or not connection.get_autocommit()
        if not connection.in_atomic_block:
            drop_if_dead(connection)
        with transaction.atomic(using=alias):
            _apply(connection, scope)
            frame = _Frame(scope, alias)
            _push(frame)
            try:
                yield
            finally:
                _remove(frame)
            if nested:
                _apply(connection, current_scope(alias))


def in_scope(scope: Scope, *, using: str | None = None, atomic: bool = True):
    """Enter `scope`, a ``Scope`` taken earlier from ``current_scope()``.

    For code that acts again, later, for whom it acted then (a model
    instance writing in the scope it was loaded in). ``atomic`` as for
    ``acting_as``.
    """
    return _Scoped(scope, using, atomic=atomic)


@contextmanager
def holding(user: User, *, using: str | None = None) -> Iterator[None]:
    """Act for `user` in the open transaction until the block ends, unsaved.

    For a statement whose rows are fetched later, such as a server-side
    cursor inside ``transaction.atomic()``: PostgreSQL reads the scope once
    per statement, at its first fetch. No savepoint, so that leaving the
    block never rolls back what the caller wrote; the outer scope is put
    back.
    """
    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    if not connection.in_atomic_block:
        raise RuntimeError("holding() is for use inside a transaction.")
    scope = _user_scope(user)
    _refuse_another_user(scope)
    frame = _Frame(scope, alias)
    _apply(connection, scope)
    _push(frame)
    try:
        yield
    finally:
        _remove(frame)
        # A failed transaction is rolled back, setting and all; a live one
        # gets the scope that is in force again.
        if not transaction.get_rollback(alias):
            _apply(connection, current_scope(alias))


def _user_scope(user: User) -> Scope:
    if user is None or getattr(user, "pk", None) is None:
        raise ValueError("acting_as() needs a saved user.")
    return Scope(user_id=user.pk, name=str(getattr(user, "username", "") or ""))


def acting_as(user: User, *, using: str | None = None, atomic: bool = True):
    """Act for `user`: the database shows and accepts only their tasks.

    A context manager, an async context manager (``async with``) and a
    decorator. By default the block is one transaction (a savepoint inside
    one) that starts with the setting. With ``atomic=False``, and always
    with ``async with``, each statement instead carries the setting itself,
    in the same round trip where it can: no BEGIN, no COMMIT, but also no
    atomicity across statements.
    """
    return _Scoped(_user_scope(user), using, atomic=atomic)


def staff_scope(user: User, *, using: str | None = None, atomic: bool = True):
    """Act for staff member `user` in the admin: every task they may see.

    The database decides what that is: the policies read `user`'s staff
    status and task permissions from the auth tables (view or change to
    see, add, change and delete to write), and the account guards their
    user and group permissions (ownership/guards.py). Anyone else sees
    only their own tasks, as with ``acting_as``. ``atomic`` as for
    ``acting_as``.
    """
    from .permissions import may_manage_accounts, may_see_all_tasks

    if not (may_see_all_tasks(user) or may_manage_accounts(user)):
        raise StaffScopeRefused(
            "staff_scope() is for active staff who may view or change tasks, "
            f"or manage users or groups, not {user}."
        )
    scope = _user_scope(user)
    return _Scoped(
        Scope(user_id=scope.user_id, name=scope.name, staff=True), using, atomic=atomic
    )


def system_scope(*, using: str | None = None, atomic: bool = True):
    """Act as the system: the database shows and accepts every task.

    Only for work no single user triggers (seeding, migrations, dumps),
    and honoured only on a connection of the tables' owner: for the runtime
    role it shows nothing at all. ``atomic`` as for ``acting_as``.
    """
    return _Scoped(Scope(system=True), using, atomic=atomic)


def as_system(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a ``RunPython`` migration function with the system scope.

    ``migrations.RunPython(as_system(forwards), as_system(backwards))``
    """

    @wraps(func)
    def wrapper(apps, schema_editor):
        with system_scope(using=schema_editor.connection.alias):
            return func(apps, schema_editor)

    return wrapper
