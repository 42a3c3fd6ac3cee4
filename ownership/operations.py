"""Migration operations for what only PostgreSQL can enforce."""

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
