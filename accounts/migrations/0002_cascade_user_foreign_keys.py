"""
Let PostgreSQL remove everything that hangs off a user when the user goes.

Every foreign key that points at accounts_user (group and permission links,
admin log entries; the tasks' own key got it in tasks/0002) is recreated
with ON DELETE CASCADE, keeping its name and Django's DEFERRABLE INITIALLY
DEFERRED. Django still cascades in Python as before; what changes is that
one plain ``DELETE FROM accounts_user`` (accounts.services.delete_user) now
removes a user with all that is theirs in one statement. A no-op on SQLite.
"""

from django.db import migrations

from ownership.operations import PostgreSQLOnlySQL

SET_ON_DELETE = """
DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN
        SELECT c.conname, c.conrelid::regclass AS tbl, a.attname AS col
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.confrelid = 'accounts_user'::regclass
          AND c.contype = 'f'
          AND c.conrelid <> 'tasks_task'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %%s DROP CONSTRAINT %%I', fk.tbl, fk.conname);
        EXECUTE format(
            'ALTER TABLE %%s ADD CONSTRAINT %%I FOREIGN KEY (%%I) '
            'REFERENCES accounts_user (id) %s DEFERRABLE INITIALLY DEFERRED',
            fk.tbl, fk.conname, fk.col
        );
    END LOOP;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("tasks", "0002_database_enforcement"),
    ]

    operations = [
        PostgreSQLOnlySQL(
            SET_ON_DELETE % "ON DELETE CASCADE",
            reverse_sql=SET_ON_DELETE % "",
        ),
    ]
