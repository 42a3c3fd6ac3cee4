"""
Copy the titles of the tasks written before 0006's triggers.

Not atomic: batches of BATCH ids, each its own short transaction, run by
the owner in the system scope (row-level security requires it to read
every task). A batch holds off the deletion of its tasks until it commits
(``FOR KEY SHARE``, so that no copy outlives its task) and, at most, a
rename that must wait for a copy it has just written: a fraction of a
second. A batch caught in a deadlock with such a write is tried again.
Interrupted, ``migrate`` runs it again from the start, skipping what is
there. Nothing to undo: 0006's reverse drops the table. A no-op on SQLite.
"""

from django.db import OperationalError, migrations

from ownership.scope import system_scope
from tasks import search

BATCH = 10_000
ATTEMPTS = 5


def copy_titles(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with system_scope(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM tasks_task")
        first, last = cursor.fetchone()
    if first is None:
        return
    for start in range(first, last + 1, BATCH):
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with system_scope(using=connection.alias), connection.cursor() as cursor:
                    cursor.execute(search.BACKFILL_BATCH, [start, start + BATCH])
                break
            except OperationalError as exc:
                deadlock = getattr(exc.__cause__, "sqlstate", None) == "40P01"
                if not deadlock or attempt == ATTEMPTS:
                    raise


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tasks", "0006_search_titles_through_a_trigram_index"),
    ]

    operations = [
        migrations.RunPython(copy_titles, migrations.RunPython.noop),
    ]
