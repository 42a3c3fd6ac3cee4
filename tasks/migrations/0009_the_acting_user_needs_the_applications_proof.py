"""The acting user counts only with the application's proof of it (issue 24).

Until now a statement injected into a request could name any user:
``set_config('todoproject.user_id', <id>, true)`` with the transaction
stamp. From here the policies ask ``todoproject_acting_user()``, a
``SECURITY DEFINER`` function that returns the user only when
``todoproject.proof`` holds the HMAC-SHA256 of the user, the staff
setting, an unexpired expiry and this backend's pid (or 0) under a key in
``todoproject_scope_key``: a table only the owner may read, filled by
``migrate`` from the secret key (ownership/proofs.py). The staff function
asks it too. The SQL is held here as text: it never changes.
"""

from django.db import migrations

from ownership.operations import PostgreSQLOnlySQL

FORWARD = r"""
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
CREATE TABLE todoproject_scope_key (
    fingerprint text PRIMARY KEY,
    inner_pad bytea NOT NULL,
    outer_pad bytea NOT NULL,
    retire_at timestamptz
);
REVOKE ALL ON todoproject_scope_key FROM PUBLIC;
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE FUNCTION todoproject_acting_user() RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    RETURN (
    SELECT CASE WHEN current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text
        AND claim.user_id ~ '^[1-9][0-9]{0,17}$'
        AND claim.proof ~ '^[0-9]{1,12}:[0-9]{1,10}:[0-9a-f]{64}$'
    THEN (
        SELECT claim.user_id::bigint
        WHERE split_part(claim.proof, ':', 1)::bigint > extract(epoch FROM now())
          AND split_part(claim.proof, ':', 2)::bigint IN (0, pg_backend_pid())
          AND EXISTS (
              SELECT FROM todoproject_scope_key k
              WHERE (k.retire_at IS NULL OR k.retire_at > now())
                AND sha256(k.outer_pad || sha256(k.inner_pad || convert_to(
                        claim.user_id || ':' || claim.staff || ':'
                        || split_part(claim.proof, ':', 1) || ':'
                        || split_part(claim.proof, ':', 2), 'UTF8')))
                    = decode(split_part(claim.proof, ':', 3), 'hex'))
    ) END
    FROM (SELECT
        coalesce(current_setting('todoproject.user_id', true), '') AS user_id,
        coalesce(current_setting('todoproject.staff', true), '') AS staff,
        coalesce(current_setting('todoproject.proof', true), '') AS proof
    ) AS claim
);
END
$$;
CREATE OR REPLACE FUNCTION todoproject_staff_may(codenames text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
    SELECT current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text
        AND current_setting('todoproject.staff', true) = 'on' AND EXISTS (
        SELECT 1 FROM accounts_user u
        WHERE u.id = todoproject_acting_user()
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
ALTER POLICY task_owner ON tasks_task
    USING (owner_id = (SELECT todoproject_acting_user()))
    WITH CHECK (owner_id = (SELECT todoproject_acting_user()));
"""

BACKWARD = r"""
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
ALTER POLICY task_owner ON tasks_task
    USING (owner_id = (SELECT CASE WHEN current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text THEN NULLIF(current_setting('todoproject.user_id', true), '')::bigint END))
    WITH CHECK (owner_id = (SELECT CASE WHEN current_setting('todoproject.transaction', true) = (extract(epoch FROM now()) * 1000000)::bigint::text THEN NULLIF(current_setting('todoproject.user_id', true), '')::bigint END));
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE OR REPLACE FUNCTION todoproject_staff_may(codenames text[]) RETURNS boolean
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
DROP FUNCTION todoproject_acting_user();
DROP TABLE todoproject_scope_key;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0008_invisible_titles_are_blank_and_descriptions_have_a_limit"),
    ]

    operations = [
        PostgreSQLOnlySQL(FORWARD, reverse_sql=BACKWARD),
    ]
