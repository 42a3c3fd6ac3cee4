"""
An index for the admin's list of every task, newest first, built without
blocking writes.

(created_at DESC, id DESC) serves the changelist's ORDER BY ... LIMIT and
its date filters (today, past 7 days, this month, this year) as index
conditions, also under row-level security. Created CONCURRENTLY, so the
migration is not atomic, and with no statement_timeout; a ``lock_timeout`` makes a migration that cannot
get its lock fail fast instead of queueing every query on the table behind
it. A failed run may leave an INVALID index behind; the operation drops it
first, so running ``migrate`` again is enough. SQLite gets a plain index.
"""

from django.db import migrations, models

from ownership.operations import AddIndexConcurrentlyOnPostgreSQL, PostgreSQLOnlySQL


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tasks", "0003_policies_the_runtime_role_cannot_widen"),
    ]

    operations = [
        # Session-level: a non-atomic migration has no transaction to scope
        # them; RESET at the end. The build may take minutes on a large
        # table, so no statement_timeout inherited from the role cuts it.
        PostgreSQLOnlySQL(
            "SET lock_timeout = '5s';\nSET statement_timeout = 0;",
            reverse_sql="SET lock_timeout = '5s';\nSET statement_timeout = 0;",
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="task",
            index=models.Index(fields=["-created_at", "-id"], name="task_created_idx"),
        ),
        PostgreSQLOnlySQL(
            "RESET lock_timeout;\nRESET statement_timeout;",
            reverse_sql="RESET lock_timeout;\nRESET statement_timeout;",
        ),
    ]
