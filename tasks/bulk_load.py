"""Write many task rows fast, in chunks: COPY on PostgreSQL, else bulk_create.

Memory stays bounded whatever the total, and `progress(done, total)` hears
how far the writing is. The rows are (title, description, completed,
created_at, updated_at, owner_id), written as they are: the caller's scope
must admit them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice

from django.db import connections

from .models import Task

Progress = Callable[[int, int], None]

# Rows per COPY batch and per bulk_create batch: memory stays bounded
# whatever the total.
CHUNK_ROWS = 100_000
PROGRESS_EVERY = 10_000
TASK_COLUMNS = ("title", "description", "completed", "created_at", "updated_at")


def write_tasks(
    rows: Iterable[tuple], total: int, using: str, progress: Progress | None
) -> int:
    """Write `rows` (`total` of them) to `using`; return how many were written."""
    rows = iter(rows)
    if connections[using].vendor == "postgresql":
        return _copy_tasks(rows, total, using, progress)
    return _bulk_create_tasks(rows, total, using, progress)


def _copy_tasks(rows, total: int, using: str, progress: Progress | None) -> int:
    """Write `rows` with COPY, in chunks, and return how many were written.

    PostgreSQL refuses ``COPY ... FROM`` into a table with row-level
    security, so each chunk is copied into a temporary table, then moved
    with one ``INSERT ... SELECT``, which the system scope's policy admits.
    """
    connection = connections[using]
    qn = connection.ops.quote_name
    meta = Task._meta
    table = qn(meta.db_table)
    columns = [meta.get_field(name).column for name in TASK_COLUMNS]
    columns.append(meta.get_field("owner").column)
    column_list = ", ".join(qn(column) for column in columns)
    stage = qn("todoproject_sample_tasks")
    types = ["text", "text", "boolean", "timestamptz", "timestamptz", "bigint"]
    written = 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} ("
            + ", ".join(f"{qn(c)} {t}" for c, t in zip(columns, types, strict=True))
            + ") ON COMMIT DROP"
        )
        # The owner foreign key is deferred to the commit, which would then
        # check a million rows in one silent stretch after the progress bar
        # says 100 %. Checked per chunk instead: the same checks, reported.
        deferred = _deferred_foreign_keys(cursor, meta.db_table)
        if deferred:
            cursor.execute(f"SET CONSTRAINTS {deferred} IMMEDIATE")
        while True:
            chunk = 0
            # Django's cursor wrapper hands copy() to psycopg's cursor; the
            # error wrapper gives its exceptions Django's classes.
            with (
                connection.wrap_database_errors,
                cursor.copy(
                    f"COPY {stage} ({column_list}) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(types)
                for row in islice(rows, CHUNK_ROWS):
                    copy.write_row(row)
                    chunk += 1
                    if progress and (written + chunk) % PROGRESS_EVERY == 0:
                        progress(written + chunk, total)
            if chunk:
                cursor.execute(
                    f"INSERT INTO {table} ({column_list}) "
                    f"SELECT {column_list} FROM {stage}"
                )
                cursor.execute(f"TRUNCATE {stage}")
                written += chunk
            if chunk < CHUNK_ROWS:
                break
        if deferred:
            cursor.execute(f"SET CONSTRAINTS {deferred} DEFERRED")
        cursor.execute(f"DROP TABLE {stage}")
    if progress:
        progress(written, total)
    return written


def _deferred_foreign_keys(cursor, table: str) -> str:
    """Return the initially deferred foreign keys of `table`, for SQL."""
    cursor.execute(
        "SELECT quote_ident(conname) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype = 'f' AND condeferred",
        [table],
    )
    return ", ".join(name for (name,) in cursor.fetchall())


def _bulk_create_tasks(rows, total: int, using: str, progress: Progress | None) -> int:
    """Write `rows` with ``bulk_create`` in chunks (SQLite)."""
    written = 0
    while True:
        chunk = [
            Task(
                title=title,
                description=description,
                completed=completed,
                created_at=created_at,
                updated_at=updated_at,
                owner_id=owner_id,
            )
            for title, description, completed, created_at, updated_at, owner_id in (
                islice(rows, PROGRESS_EVERY)
            )
        ]
        if not chunk:
            break
        # bulk_create skips auto_now, so updated_at keeps the value above.
        Task.objects.using(using).bulk_create(chunk)
        written += len(chunk)
        if progress:
            progress(written, total)
    return written
