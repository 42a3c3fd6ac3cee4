"""
Policies that no setting the runtime role can make widens.

The system scope is honoured only for the table's owner (or a role that can
act as it), and the admin's view of every task needs the database's own
check of the acting user's staff status and task permission. See
ownership/policies.py. A no-op on SQLite.
"""

from django.db import migrations

from ownership import policies
from ownership.operations import PostgreSQLOnlySQL

OLD_POLICIES = """
DROP POLICY task_system ON tasks_task;
DROP POLICY task_owner ON tasks_task;
"""

RESTORE_OLD_POLICIES = """
CREATE POLICY task_owner ON tasks_task
    USING (owner_id = NULLIF(current_setting('todoproject.user_id', true), '')::bigint)
    WITH CHECK (owner_id = NULLIF(current_setting('todoproject.user_id', true), '')::bigint);
CREATE POLICY task_system ON tasks_task
    USING (current_setting('todoproject.system', true) = 'on')
    WITH CHECK (current_setting('todoproject.system', true) = 'on');
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_cascade_user_foreign_keys"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("tasks", "0002_database_enforcement"),
    ]

    operations = [
        PostgreSQLOnlySQL(
            "SET LOCAL lock_timeout = '5s';" + OLD_POLICIES,
            reverse_sql=RESTORE_OLD_POLICIES,
        ),
        PostgreSQLOnlySQL(
            policies.CREATE_STAFF_FUNCTION,
            reverse_sql=policies.DROP_STAFF_FUNCTION,
        ),
        PostgreSQLOnlySQL(policies.CREATE_POLICIES, reverse_sql=policies.DROP_POLICIES),
    ]
