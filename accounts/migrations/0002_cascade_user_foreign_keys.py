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

# (table, column, constraint) of each foreign key to accounts_user made by
# the migrations this one depends on, under the names Django gave them
# (derived from table and column, the same on every database). Plain
# statements rather than a DO block looping over pg_constraint, so that a
# linter (squawk, make test) can read them; tests/test_migrations.py checks
# that the constraints end exactly as the loop left them.
USER_FOREIGN_KEYS = [
    ("accounts_user_groups", "user_id", "accounts_user_groups_user_id_52b62117_fk_accounts_user_id"),
    ("accounts_user_user_permissions", "user_id", "accounts_user_user_p_user_id_e4f0a161_fk_accounts_"),
    ("django_admin_log", "user_id", "django_admin_log_user_id_c564eba6_fk_accounts_user_id"),
]


def set_on_delete(action: str) -> str:
    statements = [
        "SET LOCAL lock_timeout = '5s';",
        "SET LOCAL statement_timeout = '60s';",
    ]
    for table, column, name in USER_FOREIGN_KEYS:
        statements += [
            f"ALTER TABLE {table} DROP CONSTRAINT {name};",
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column})\n"
            f"    REFERENCES accounts_user (id) {action} DEFERRABLE INITIALLY DEFERRED;",
        ]
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("tasks", "0002_database_enforcement"),
    ]

    operations = [
        PostgreSQLOnlySQL(
            set_on_delete("ON DELETE CASCADE"),
            reverse_sql=set_on_delete(""),
        ),
    ]
