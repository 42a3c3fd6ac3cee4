"""
Copy the titles of the tasks written before 0006's triggers.

Not atomic, and one statement: on a table of millions of rows it takes a
while, holding no lock that blocks writes to tasks_task (a title written
meanwhile is copied by the triggers, and is kept). Runs as the owner in
the system scope, which row-level security requires to read every task.
Nothing to undo: 0006's reverse drops the table. A no-op on SQLite.
"""

from django.db import migrations

from ownership.scope import as_system
from tasks import search


def copy_titles(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # Minutes, perhaps, on a large table: no timeout from the role's
        # settings cuts it.
        schema_editor.execute("SET LOCAL statement_timeout = 0")
        schema_editor.execute(search.BACKFILL)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tasks", "0006_search_titles_through_a_trigram_index"),
    ]

    operations = [
        migrations.RunPython(as_system(copy_titles), migrations.RunPython.noop),
    ]
