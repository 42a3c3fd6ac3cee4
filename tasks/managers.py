from __future__ import annotations

from functools import wraps
from itertools import islice
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, models, router

from ownership.instances import remember_scope
from ownership.scope import acting_as, current_scope, holding
from ownership.unscoped import require_scope
from replicas.router import note_write, read_alias, read_or_fall_back, reading_from

if TYPE_CHECKING:
    from accounts.models import User


def _bound_read(method):
    """Run a reading QuerySet method as the owner bound by for_owner().

    Each statement carries the acting user itself (``atomic=False``), so a
    bound query costs no extra round trip. With replicas configured, the
    read goes to one that has replayed the owner's last write, else to the
    primary (replicas/router.py).
    """

    @wraps(method)
    def scoped(self, *args, **kwargs):
        if self._owner is None:
            self._require_scope()
            return method(self, *args, **kwargs)

        def read(alias):
            with acting_as(self._owner, using=alias, atomic=False):
                return method(self, *args, **kwargs)

        return self._read_as_owner(read)

    return scoped


def _bound_write(method):
    """Run a writing QuerySet method as the bound owner, on the primary.

    Methods that need a transaction (``delete()``, ``get_or_create()``,
    ...) still open their own. With replicas configured, the primary's WAL
    position is remembered for the owner once the write commits.
    """

    @wraps(method)
    def scoped(self, *args, **kwargs):
        # update() and delete() empty the result cache: read again next time.
        self._fetched = False
        if self._owner is None:
            # With no scope an UPDATE or DELETE matches no row: say so.
            require_scope(self._write_alias(), self.model)
            return method(self, *args, **kwargs)
        alias = self._write_alias()
        with acting_as(self._owner, using=alias, atomic=False):
            result = method(self, *args, **kwargs)
        note_write(self._owner, alias)
        return result

    return scoped


_END = object()


class TaskQuerySet(models.QuerySet):
    """Chainable filters for tasks; building a query never touches the database.

    ``for_owner(user)`` also binds `user` as the acting user of the query, so
    that row-level security lets it through whenever and wherever it is
    evaluated: a queryset returned by a service stays usable after the
    service returns. Unbound querysets run in whatever scope is in force.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._owner: User | None = None

    def _clone(self) -> TaskQuerySet:
        clone = super()._clone()
        clone._owner = self._owner
        return clone

    def for_owner(self, owner: User, **lookups) -> TaskQuerySet:
        """Return the tasks of `owner`, evaluated as `owner`.

        `lookups`, as ``filter()`` takes them, narrow it in the same call
        (``for_owner(user, pk=3)``): one clone and one filter, not two.
        """
        clone = self.filter(owner_id=owner.pk, **lookups)
        clone._owner = owner
        return clone

    def open(self) -> TaskQuerySet:
        """Return the tasks that are not completed."""
        return self.filter(completed=False)

    def done(self) -> TaskQuerySet:
        """Return the completed tasks."""
        return self.filter(completed=True)

    def newest_first(self) -> TaskQuerySet:
        """Order newest first; the id breaks ties so pages are stable."""
        return self.order_by("-created_at", "-id")

    def raw(self, raw_query, params=(), translations=None, using=None):
        """Return Django's raw queryset, checked like any read of tasks."""
        require_scope(using or self.db, self.model)
        return super().raw(raw_query, params, translations, using)

    def _require_scope(self) -> None:
        # Rows fetched once are read again from memory, in any scope.
        if not getattr(self, "_fetched", False):
            require_scope(self.db, self.model)

    def _read_as_owner(self, read):
        """Run `read(alias)` as the bound owner on the queryset's database.

        The primary's reads may go to a replica that has replayed the
        owner's writes; a database named by ``using()`` or chosen by
        another router is read as it is.
        """
        alias = self.db
        if alias != DEFAULT_DB_ALIAS:
            return read(alias)
        return read_or_fall_back(self._owner, read)

    def _write_alias(self) -> str:
        # A database named by using() is written to as it is; otherwise
        # the routers' choice for writes, as the write methods make it.
        named = self.db
        if named != router.db_for_read(self.model):
            return named
        return router.db_for_write(self.model)

    # Every method that sends SQL, so that a bound queryset carries its
    # acting user into the database however it is consumed.
    def _fetch_all(self) -> None:
        if getattr(self, "_fetched", False):
            # list() asks len() first, then iterates: the rows are in memory.
            super()._fetch_all()
            return
        if self._owner is None:
            self._require_scope()
            super()._fetch_all()
            self._fetched = True
            return

        def read(alias):
            with acting_as(self._owner, using=alias, atomic=False):
                super(TaskQuerySet, self)._fetch_all()

        self._read_as_owner(read)
        self._fetched = True

    count = _bound_read(models.QuerySet.count)
    exists = _bound_read(models.QuerySet.exists)
    contains = _bound_read(models.QuerySet.contains)
    aggregate = _bound_read(models.QuerySet.aggregate)
    explain = _bound_read(models.QuerySet.explain)
    in_bulk = _bound_read(models.QuerySet.in_bulk)
    update = _bound_write(models.QuerySet.update)
    delete = _bound_write(models.QuerySet.delete)
    create = _bound_write(models.QuerySet.create)
    get_or_create = _bound_write(models.QuerySet.get_or_create)
    update_or_create = _bound_write(models.QuerySet.update_or_create)
    bulk_create = _bound_write(models.QuerySet.bulk_create)
    bulk_update = _bound_write(models.QuerySet.bulk_update)

    def iterator(self, chunk_size=None):
        if self._owner is None:
            self._require_scope()
            yield from super().iterator(chunk_size)
            return
        # PostgreSQL reads the scope once per statement, at the first fetch
        # (the policies' conditions are InitPlans), so the owner's scope is
        # in force for that fetch only. Holding it across yields would leave
        # it in force for whatever the caller runs between rows. Outside a
        # transaction a server-side cursor is declared WITH HOLD in a
        # transaction of its own, which computes every row, and a
        # client-side one has every row by then. The first row also fixes
        # the connection: a replica that has replayed the owner's writes, or
        # the primary.
        rows = super().iterator(chunk_size)
        alias = self.db
        if connections[alias].in_atomic_block:
            with holding(self._owner, using=alias):
                first = next(rows, _END)
                scope = current_scope(alias)
        else:
            if alias == DEFAULT_DB_ALIAS:
                alias = read_alias(self._owner)
            with (
                reading_from(alias),
                acting_as(self._owner, using=alias, atomic=False),
            ):
                first = next(rows, _END)
                scope = current_scope(alias)
        if first is _END:
            return
        yield first
        for row in rows:
            # Made after the scope ended: tell each task whose it is.
            if isinstance(row, models.Model):
                remember_scope(row, scope)
            yield row

    async def aiterator(self, chunk_size=2000):
        """Iterate asynchronously, as the bound owner when there is one."""
        if self._owner is None:
            self._require_scope()
            async for row in super().aiterator(chunk_size):
                yield row
            return
        rows = self.iterator(chunk_size)
        while chunk := await sync_to_async(lambda: list(islice(rows, chunk_size)))():
            for row in chunk:
                yield row


TaskManager = models.Manager.from_queryset(TaskQuerySet)
