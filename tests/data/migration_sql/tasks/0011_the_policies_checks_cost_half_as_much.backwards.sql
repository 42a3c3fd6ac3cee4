BEGIN;
--
-- Raw SQL operation
--

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
ALTER POLICY task_system ON tasks_task
    USING ((SELECT CASE WHEN current_setting('todoproject.system', true) = 'on' THEN (SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = 'tasks_task'::regclass) ELSE false END))
    WITH CHECK ((SELECT CASE WHEN current_setting('todoproject.system', true) = 'on' THEN (SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = 'tasks_task'::regclass) ELSE false END));
DROP FUNCTION todoproject_system_may(regclass);
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE OR REPLACE FUNCTION todoproject_acting_user() RETURNS bigint
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

COMMIT;
