"""
The admin's title search through a trigram index: see tasks/search.py.

pg_trgm is a trusted extension (PostgreSQL 13 and later): the database's
owner, or any role with CREATE on the database, creates it, with no
superuser; on Neon the project's roles may. Where the migrating role may
not, a superuser runs ``CREATE EXTENSION pg_trgm;`` in the database once
and ``migrate`` then finds it there. It is left in place on the way back:
something else may use it.

The copy table starts empty, with its index, and the triggers keep it up
to date from this migration on; 0007 copies the titles written before.
Creating the triggers takes a brief lock on tasks_task that blocks writes,
so a ``lock_timeout`` makes the migration fail fast rather than queue them.
A no-op on SQLite.
"""

from django.db import migrations

from ownership.operations import PostgreSQLOnlySQL
from tasks import search


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0005_text_refuses_nul_characters"),
    ]

    operations = [
        # Every statement here is quick, on a new, empty table, but the
        # triggers wait for a lock on tasks_task: fail rather than queue.
        # (search.DROP sets its own, since its reverse runs first.)
        PostgreSQLOnlySQL(
            "SET LOCAL lock_timeout = '5s';\nSET LOCAL statement_timeout = '1min';",
            reverse_sql=migrations.RunSQL.noop,
        ),
        PostgreSQLOnlySQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm;",
            reverse_sql=migrations.RunSQL.noop,
        ),
        PostgreSQLOnlySQL(search.CREATE, reverse_sql=search.DROP),
    ]
