from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING

from django.db import models

from ownership.scope import acting_as

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
        # Set by tasks.services.get_tasks: fetches the rows of exactly that
        # query (and of slices of it) with SQL written once. Not copied by
        # _clone(), so any other chained call falls back to the ORM.
        self._fast_fetch = None

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
    def __getitem__(self, k):
        if self._fast_fetch is None or not isinstance(k, slice) or k.step:
            # Indexing and stepped slices evaluate a clone on the spot, so
            # they take the ORM's complete query.
            return super().__getitem__(k)
        # Slice without resolving a deferred filter (see get_tasks): the
        # fast path never needs the ORM's version of the query. The slice is
        # taken from a shallow copy without it, so this queryset itself never
        # shows an unfiltered query, not even for a moment.
        # (Not copy.copy(): QuerySet.__getstate__ would fetch every row.)
        source = object.__new__(type(self))
        source.__dict__.update(self.__dict__, _deferred_filter=None)
        result = models.QuerySet.__getitem__(source, k)
        if isinstance(result, TaskQuerySet):
            result._deferred_filter = self._deferred_filter
            result._fast_fetch = self._fast_fetch
        return result

    @property
    def query(self):
        return models.QuerySet.query.fget(self)

    @query.setter
    def query(self, value):
        # A query assigned from outside replaces what get_tasks() set up.
        self._fast_fetch = None
        models.QuerySet.query.fset(self, value)

    def _fetch_all(self) -> None:
        if (
            self._result_cache is None
            and self._fast_fetch is not None
            and self._iterable_class is models.query.ModelIterable
            and not self._prefetch_related_lookups
        ):
            # _query, not query: the limits are there, and reading them must
            # not build a deferred filter.
            self._result_cache = self._fast_fetch(
                self.db, self._query.low_mark, self._query.high_mark
            )
            return
        if self._result_cache is not None and (
            self._prefetch_done or not self._prefetch_related_lookups
        ):
            return  # Already fetched: no transaction for nothing.
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
        # The scope covers only the statement, sent with the first row: a
        # server-side cursor is declared WITH HOLD in a transaction of its
        # own, a client-side one has every row by then. Holding the scope
        # across yields would leave it in force for whatever the caller
        # runs between rows.
        with acting_as(self._owner, using=self.db, atomic=False):
            first = next(rows, _END)
        if first is _END:
            return
        yield first
        yield from rows


TaskManager = models.Manager.from_queryset(TaskQuerySet)
