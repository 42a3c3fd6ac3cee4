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

Frozen: the statements below are those tasks/search.py and
ownership/scope.py sent when this migration was released (0.3.0), held
here as text. They speak the policies of tasks/0003, which are the ones in
force whenever this migration runs, whatever later migrations change
(tests/test_migrations.py holds this file).
"""

from django.db import OperationalError, migrations, transaction

BATCH = 10_000
ATTEMPTS = 5

# The system scope of tasks/0003's policies, for this transaction only:
# honoured for the table's owner, who runs migrate.
SYSTEM_SCOPE = "SELECT set_config('todoproject.system', 'on', true)"

# Copies the tasks with ids in [%s, %s) that existed before the triggers.
# FOR KEY SHARE skips a task deleted meanwhile and holds off its deletion
# until the batch commits (the delete trigger then sees the copy), but not
# a rename; a copy the triggers wrote is newer than this one, and is kept.
BACKFILL_BATCH = """
INSERT INTO tasks_task_search (task_id, upper_title)
SELECT id, upper(title) FROM tasks_task WHERE id >= %s AND id < %s
FOR KEY SHARE
ON CONFLICT (task_id) DO NOTHING
"""


def in_system_scope(connection, sql, params=None):
    """Run `sql` in a transaction of its own, in the system scope; return a row."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(SYSTEM_SCOPE)
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def copy_titles(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    first, last = in_system_scope(connection, "SELECT min(id), max(id) FROM tasks_task")
    if first is None:
        return
    for start in range(first, last + 1, BATCH):
        for attempt in range(1, ATTEMPTS + 1):
            try:
                in_system_scope(connection, BACKFILL_BATCH, [start, start + BATCH])
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
