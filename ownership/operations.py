"""Migration operations for what only PostgreSQL can enforce."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class PostgreSQLOnlySQL(migrations.RunSQL):
    """``RunSQL`` that runs on PostgreSQL and is a no-op elsewhere (SQLite).

    The guarantees it installs (row-level security, ``ON DELETE CASCADE``)
    have no SQLite equivalent; there the application's filters are the
    only line of defence.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    """``AddIndexConcurrently`` on PostgreSQL; a plain ``AddIndex`` elsewhere.

    ``CREATE INDEX CONCURRENTLY`` builds the index without blocking writes
    to a table that may hold millions of rows (its migration must be
    ``atomic = False``). SQLite has no such thing: there the index is added
    the ordinary way.

    A concurrent build that fails (a lock timeout, a cancelled deploy)
    leaves the index behind, INVALID, and the migration unrecorded; so on
    PostgreSQL the index is first dropped, concurrently, if it exists: a
    retried ``migrate`` builds it afresh instead of failing on the name.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                "DROP INDEX CONCURRENTLY IF EXISTS "
                f"{schema_editor.quote_name(self.index.name)}"
            )
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )
