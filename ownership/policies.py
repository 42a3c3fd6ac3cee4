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

The acting user (and the staff flag) also count only with a proof that the
application made them (``todoproject.proof``, ownership/proofs.py): an
HMAC-SHA256 of the user, the staff flag, an expiry and the backend's pid,
under a key derived from the secret key that only the owner may read
(``todoproject_scope_key``). ``todoproject_acting_user()``, a ``SECURITY
DEFINER`` function, checks it once per statement: a statement injected
into a request can name another user, but cannot sign for them.
"""

USER_SETTING = "todoproject.user_id"
SYSTEM_SETTING = "todoproject.system"
STAFF_SETTING = "todoproject.staff"
TRANSACTION_SETTING = "todoproject.transaction"
PROOF_SETTING = "todoproject.proof"

TABLE = "tasks_task"
STAFF_FUNCTION = "todoproject_staff_may"
ACTING_USER_FUNCTION = "todoproject_acting_user"
KEY_TABLE = "todoproject_scope_key"

# The transaction's start time in microseconds since the epoch: the same
# text whatever DateStyle, TimeZone or IntervalStyle a session sets.
SCOPE_STAMP = "(extract(epoch FROM now()) * 1000000)::bigint::text"
# True only in the transaction whose scope set it.
IN_SCOPE = f"current_setting('{TRANSACTION_SETTING}', true) = {SCOPE_STAMP}"
# The acting user, when the application's proof of it checks out.
ACTING_USER = f"{ACTING_USER_FUNCTION}()"

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


# The proof: "<expiry, epoch seconds>:<backend pid, or 0>:<hex HMAC>" of
# "<user id>:<staff setting>:<expiry>:<pid>". The key is stored as its two
# HMAC pads (key XOR ipad, key XOR opad), so that PostgreSQL's own sha256()
# computes the HMAC without pgcrypto. Each test guards the casts after it
# (CASE evaluates in order), so no setting makes the statement fail. A pid
# of 0 binds to no backend: behind a pooler in transaction mode the
# application cannot know which backend runs its statement.
VERIFY_ACTING_USER = f"""
    SELECT CASE WHEN {IN_SCOPE}
        AND claim.user_id ~ '^[1-9][0-9]{{0,17}}$'
        AND claim.proof ~ '^[0-9]{{1,12}}:[0-9]{{1,10}}:[0-9a-f]{{64}}$'
    THEN (
        SELECT claim.user_id::bigint
        WHERE split_part(claim.proof, ':', 1)::bigint > extract(epoch FROM now())
          AND split_part(claim.proof, ':', 2)::bigint IN (0, pg_backend_pid())
          AND EXISTS (
              SELECT FROM {KEY_TABLE} k
              WHERE (k.retire_at IS NULL OR k.retire_at > now())
                AND sha256(k.outer_pad || sha256(k.inner_pad || convert_to(
                        claim.user_id || ':' || claim.staff || ':'
                        || split_part(claim.proof, ':', 1) || ':'
                        || split_part(claim.proof, ':', 2), 'UTF8')))
                    = decode(split_part(claim.proof, ':', 3), 'hex'))
    ) END
    FROM (SELECT
        coalesce(current_setting('{USER_SETTING}', true), '') AS user_id,
        coalesce(current_setting('{STAFF_SETTING}', true), '') AS staff,
        coalesce(current_setting('{PROOF_SETTING}', true), '') AS proof
    ) AS claim
"""

# SECURITY DEFINER: they run as the owner, so the objects they name must be
# the owner's. Their search_path is the schema the migration runs in, then
# pg_temp explicitly last: unlisted, pg_temp would be searched first, and a
# temporary view named like an auth table would run as the owner. The
# acting user's function comes first: the staff function calls it.
CREATE_STAFF_FUNCTION = f"""
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE FUNCTION {ACTING_USER_FUNCTION}() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $${VERIFY_ACTING_USER}$$;
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
