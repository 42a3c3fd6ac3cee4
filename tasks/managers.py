from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING

from django.db import connections, models

from ownership.scope import acting_as, holding

if TYPE_CHECKING:
    from accounts.models import User


def _as_bound_owner(method):
    """Run a database-touching QuerySet method as the owner bound by for_owner().

    Each statement carries the acting user itself (``atomic=False``), so a
    bound query costs no extra round trip; methods that need a transaction
    (``delete()``, ``get_or_create()``, ...) still open their own.
    """

    @wraps(method)
    def scoped(self, *args, **kwargs):
        if self._owner is None:
            return method(self, *args, **kwargs)
        with acting_as(self._owner, using=self.db, atomic=False):
            return method(self, *args, **kwargs)

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
        with acting_as(self._owner, using=self.db, atomic=False):
            super()._fetch_all()

    count = _as_bound_owner(models.QuerySet.count)
    exists = _as_bound_owner(models.QuerySet.exists)
    contains = _as_bound_owner(models.QuerySet.contains)
    aggregate = _as_bound_owner(models.QuerySet.aggregate)
    explain = _as_bound_owner(models.QuerySet.explain)
    update = _as_bound_owner(models.QuerySet.update)
    delete = _as_bound_owner(models.QuerySet.delete)
    create = _as_bound_owner(models.QuerySet.create)
    get_or_create = _as_bound_owner(models.QuerySet.get_or_create)
    update_or_create = _as_bound_owner(models.QuerySet.update_or_create)
    bulk_create = _as_bound_owner(models.QuerySet.bulk_create)
    bulk_update = _as_bound_owner(models.QuerySet.bulk_update)
    in_bulk = _as_bound_owner(models.QuerySet.in_bulk)

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
        # between rows.
        with acting_as(self._owner, using=self.db, atomic=False):
            first = next(rows, _END)
        if first is _END:
            return
        yield first
        yield from rows


TaskManager = models.Manager.from_queryset(TaskQuerySet)
