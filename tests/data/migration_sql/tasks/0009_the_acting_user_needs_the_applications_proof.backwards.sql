BEGIN;
--
-- Raw SQL operation
--

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

COMMIT;
