from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# Below this many rows an exact count is cheap enough to always take.
EXACT_COUNT_LIMIT = 100_000


class EstimatedCountPaginator(Paginator):
    """A paginator that estimates the size of a large, unfiltered table.

    ``SELECT count(*)`` of a million rows reads the whole table (or index)
    on every page load. Without filters the planner's estimate
    (``pg_class.reltuples``, kept fresh by autovacuum's ANALYZE) is close
    enough to number the pages; with filters, or when the table is small or
    never analysed, the count is exact.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        estimate = self._estimate(queryset)
        if estimate is not None and estimate > EXACT_COUNT_LIMIT:
            return estimate
        return super().count

    @staticmethod
    def _estimate(queryset) -> int | None:
        query = getattr(queryset, "query", None)
        if query is None or query.where or query.distinct:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] >= 0 else None
