from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING

from django.db import connections, models

from ownership.scope import acting_as, holding
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
            return method(self, *args, **kwargs)

        def read(alias):
            with acting_as(self._owner, using=alias, atomic=False):
                return method(self, *args, **kwargs)

        return read_or_fall_back(self._owner, read)

    return scoped


def _bound_write(method):
    """Run a writing QuerySet method as the bound owner, on the primary.

    Methods that need a transaction (``delete()``, ``get_or_create()``,
    ...) still open their own. With replicas configured, the primary's WAL
    position is remembered for the owner once the write commits.
    """

    @wraps(method)
    def scoped(self, *args, **kwargs):
        if self._owner is None:
            return method(self, *args, **kwargs)
        with acting_as(self._owner, using=self.db, atomic=False):
            result = method(self, *args, **kwargs)
        note_write(self._owner, self.db)
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

    def for_owner(self, owner: User) -> TaskQuerySet:
        """Return the tasks of `owner`, evaluated as `owner`."""
        clone = self.filter(owner_id=owner.pk)
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

    # Every method that sends SQL, so that a bound queryset carries its
    # acting user into the database however it is consumed.
    def _fetch_all(self) -> None:
        if self._owner is None:
            super()._fetch_all()
            return

        def read(alias):
            with acting_as(self._owner, using=alias, atomic=False):
                super(TaskQuerySet, self)._fetch_all()

        read_or_fall_back(self._owner, read)

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
        rows = super().iterator(chunk_size)
        if self._owner is None:
            yield from rows
            return
        connection = connections[self.db]
        if connection.in_atomic_block:
            # A server-side cursor in a transaction fetches each chunk when
            # asked, and PostgreSQL applies the policies then: the owner's
            # scope stays in force until the last row.
            with holding(self._owner, using=self.db):
                yield from rows
            return
        # Outside a transaction the scope covers only the statement, sent
        # with the first row: a server-side cursor is then declared WITH
        # HOLD in a transaction of its own, which computes every row, and a
        # client-side one has every row by then. Holding the scope across
        # yields would leave it in force for whatever the caller runs
        # between rows. The first row also fixes the connection: a replica
        # that has replayed the owner's writes, or the primary.
        alias = read_alias(self._owner)
        with (
            reading_from(alias),
            acting_as(self._owner, using=alias, atomic=False),
        ):
            first = next(rows, _END)
        if first is _END:
            return
        yield first
        yield from rows


TaskManager = models.Manager.from_queryset(TaskQuerySet)
