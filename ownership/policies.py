"""The row-level security policies on ``tasks_task`` and the settings they read.

Defined once: ``ownership.scope`` writes these settings and the migration
``tasks.0003_policies_the_runtime_role_cannot_widen`` creates these policies.
A row of ``tasks_task`` is visible and writable when:

- it belongs to the acting user (``todoproject.user_id``);
- the session's role is the table's owner, or can act as it, and the system
  scope is on (``todoproject.system``): work no single user triggers, run as
  the owner. The runtime role owns nothing, so no value of the setting
  opens anything to it;
- the staff scope is on (``todoproject.staff``) and the acting user is
  active staff holding the task permission for the operation, as the
  database itself reads it from Django's auth tables (a ``SECURITY
  DEFINER`` function): the admin.

Every setting is made transaction-local (``set_config(name, value, true)``)
together with ``todoproject.transaction``, the transaction's start time
(``now()``). The acting user and the staff scope count only while that
setting equals ``now()``, so a value left at session level, by this client
or, through a pooler in transaction mode, by another client of the same
server connection, counts in no later transaction: fail closed.
"""

USER_SETTING = "todoproject.user_id"
SYSTEM_SETTING = "todoproject.system"
STAFF_SETTING = "todoproject.staff"
TRANSACTION_SETTING = "todoproject.transaction"

TABLE = "tasks_task"
STAFF_FUNCTION = "todoproject_staff_may"

# The transaction's start time in microseconds since the epoch: the same
# text whatever DateStyle, TimeZone or IntervalStyle a session sets.
SCOPE_STAMP = "(extract(epoch FROM now()) * 1000000)::bigint::text"
# True only in the transaction whose scope set it.
IN_SCOPE = f"current_setting('{TRANSACTION_SETTING}', true) = {SCOPE_STAMP}"
ACTING_USER = (
    f"CASE WHEN {IN_SCOPE} "
    f"THEN NULLIF(current_setting('{USER_SETTING}', true), '')::bigint END"
)

# Each condition of a policy is one InitPlan (a parenthesised SELECT),
# evaluated once per statement rather than once per row, and each asks the
# catalogue or the auth tables only when its setting is on. The acting user
# as an InitPlan is also an index condition on owner_id.
OWNER = f"owner_id = (SELECT {ACTING_USER})"

# The system scope needs no transaction check: only the owner, which could
# lift the policies anyway, may use it (pg_dump sets it for its session).
SYSTEM = (
    f"(SELECT CASE WHEN current_setting('{SYSTEM_SETTING}', true) = 'on' "
    "THEN (SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class "
    f"WHERE oid = '{TABLE}'::regclass) ELSE false END)"
)


def staff_may(*codenames: str) -> str:
    """SQL: whether the acting user is staff in the admin with one of `codenames`."""
    array = "{" + ",".join(codenames) + "}"
    return (
        f"(SELECT CASE WHEN current_setting('{STAFF_SETTING}', true) = 'on' "
        f"THEN {STAFF_FUNCTION}('{array}') ELSE false END)"
    )


# SECURITY DEFINER: it runs as the owner, so the objects it names must be
# the owner's. Its search_path is the schema the migration runs in, then
# pg_temp explicitly last: unlisted, pg_temp would be searched first, and a
# temporary view named like an auth table would run as the owner.
CREATE_STAFF_FUNCTION = f"""
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE FUNCTION {STAFF_FUNCTION}(codenames text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
    SELECT {IN_SCOPE}
        AND current_setting('{STAFF_SETTING}', true) = 'on' AND EXISTS (
        SELECT 1 FROM accounts_user u
        WHERE u.id = {ACTING_USER}
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
DROP_STAFF_FUNCTION = f"DROP FUNCTION {STAFF_FUNCTION}(text[]);"

CREATE_POLICIES = f"""
CREATE POLICY task_owner ON {TABLE}
    USING ({OWNER})
    WITH CHECK ({OWNER});
CREATE POLICY task_system ON {TABLE}
    USING ({SYSTEM})
    WITH CHECK ({SYSTEM});
CREATE POLICY task_staff_select ON {TABLE} FOR SELECT
    USING ({staff_may("view_task", "change_task")});
CREATE POLICY task_staff_insert ON {TABLE} FOR INSERT
    WITH CHECK ({staff_may("add_task")});
CREATE POLICY task_staff_update ON {TABLE} FOR UPDATE
    USING ({staff_may("change_task")})
    WITH CHECK ({staff_may("change_task")});
CREATE POLICY task_staff_delete ON {TABLE} FOR DELETE
    USING ({staff_may("delete_task")});
"""
DROP_POLICIES = f"""
DROP POLICY task_staff_delete ON {TABLE};
DROP POLICY task_staff_update ON {TABLE};
DROP POLICY task_staff_insert ON {TABLE};
DROP POLICY task_staff_select ON {TABLE};
DROP POLICY task_system ON {TABLE};
DROP POLICY task_owner ON {TABLE};
"""
