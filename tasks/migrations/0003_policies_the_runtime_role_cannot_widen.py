"""
Policies that no setting the runtime role can make widens.

The system scope is honoured only for the table's owner (or a role that can
act as it), and the admin's view of every task needs the database's own
check of the acting user's staff status and task permission. See
ownership/policies.py. A no-op on SQLite.

Frozen: the SQL below is the text ownership/policies.py built when this
migration was released (0.2.0), held as it ran. The policies of today are
those of the newest migration that creates them; a change to them is a new
migration, never an edit of this one (tests/test_migrations.py holds what
every migration runs).
"""

from django.db import migrations

from ownership.operations import PostgreSQLOnlySQL

OLD_POLICIES = """
DROP POLICY task_system ON tasks_task;
DROP POLICY task_owner ON tasks_task;
"""

CREATE_STAFF_FUNCTION = """
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE FUNCTION todoproject_staff_may(codenames text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
    SELECT current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text
        AND current_setting('todoproject.staff', true) = 'on' AND EXISTS (
        SELECT 1 FROM accounts_user u
        WHERE u.id = CASE WHEN current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text THEN NULLIF(current_setting('todoproject.user_id', true), '')::bigint END
          AND u.is_active AND u.is_staff
          AND (u.is_superuser OR EXISTS (
              SELECT 1 FROM auth_permission p
              JOIN django_content_type ct ON ct.id = p.content_type_id
              WHERE ct.app_label = 'tasks' AND p.codename = ANY (codenames)
                AND (p.id IN (SELECT up.permission_id
                              FROM accounts_user_user_permissions up
                              WHERE up.user_id = u.id)
                     OR p.id IN (SELECT gp.permission_id
                                 FROM auth_group_permissions gp
                                 JOIN accounts_user_groups ug
                                   ON ug.group_id = gp.group_id
                                 WHERE ug.user_id = u.id))))
    )
$$;
"""

DROP_STAFF_FUNCTION = "DROP FUNCTION todoproject_staff_may(text[]);"

CREATE_POLICIES = """
CREATE POLICY task_owner ON tasks_task
    USING (owner_id = (SELECT CASE WHEN current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text THEN NULLIF(current_setting('todoproject.user_id', true), '')::bigint END))
    WITH CHECK (owner_id = (SELECT CASE WHEN current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text THEN NULLIF(current_setting('todoproject.user_id', true), '')::bigint END));
CREATE POLICY task_system ON tasks_task
    USING ((SELECT CASE WHEN current_setting('todoproject.system', true) = 'on' THEN (SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = 'tasks_task'::regclass) ELSE false END))
    WITH CHECK ((SELECT CASE WHEN current_setting('todoproject.system', true) = 'on' THEN (SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = 'tasks_task'::regclass) ELSE false END));
CREATE POLICY task_staff_select ON tasks_task FOR SELECT
    USING ((SELECT CASE WHEN current_setting('todoproject.staff', true) = 'on' THEN todoproject_staff_may('{view_task,change_task}') ELSE false END));
CREATE POLICY task_staff_insert ON tasks_task FOR INSERT
    WITH CHECK ((SELECT CASE WHEN current_setting('todoproject.staff', true) = 'on' THEN todoproject_staff_may('{add_task}') ELSE false END));
CREATE POLICY task_staff_update ON tasks_task FOR UPDATE
    USING ((SELECT CASE WHEN current_setting('todoproject.staff', true) = 'on' THEN todoproject_staff_may('{change_task}') ELSE false END))
    WITH CHECK ((SELECT CASE WHEN current_setting('todoproject.staff', true) = 'on' THEN todoproject_staff_may('{change_task}') ELSE false END));
CREATE POLICY task_staff_delete ON tasks_task FOR DELETE
    USING ((SELECT CASE WHEN current_setting('todoproject.staff', true) = 'on' THEN todoproject_staff_may('{delete_task}') ELSE false END));
"""

DROP_POLICIES = """
DROP POLICY task_staff_delete ON tasks_task;
DROP POLICY task_staff_update ON tasks_task;
DROP POLICY task_staff_insert ON tasks_task;
DROP POLICY task_staff_select ON tasks_task;
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
            CREATE_STAFF_FUNCTION,
            reverse_sql=DROP_STAFF_FUNCTION,
        ),
        PostgreSQLOnlySQL(CREATE_POLICIES, reverse_sql=DROP_POLICIES),
    ]
