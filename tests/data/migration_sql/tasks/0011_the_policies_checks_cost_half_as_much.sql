BEGIN;
--
-- Raw SQL operation
--

SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';
DO $do$
BEGIN
    EXECUTE pg_catalog.format($sql$
CREATE OR REPLACE FUNCTION %1$I.todoproject_acting_user() RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
AS $fn$
DECLARE
    claimed pg_catalog.text;
    proof pg_catalog.text[];
    stamp pg_catalog.text := pg_catalog.current_setting('todoproject.transaction', true);
BEGIN
    IF stamp IS NULL OR stamp OPERATOR(pg_catalog.<>)
            (extract(epoch FROM pg_catalog.now()) OPERATOR(pg_catalog.*) 1000000)::bigint::pg_catalog.text THEN
        RETURN NULL;
    END IF;
    claimed := pg_catalog.current_setting('todoproject.user_id', true);
    proof := pg_catalog.string_to_array(pg_catalog.current_setting('todoproject.proof', true), ':');
    IF proof IS NULL OR pg_catalog.cardinality(proof) OPERATOR(pg_catalog.<>) 3 THEN
        RETURN NULL;
    END IF;
    PERFORM FROM %1$I.todoproject_scope_key k
    WHERE (k.retire_at IS NULL OR k.retire_at OPERATOR(pg_catalog.>) pg_catalog.now())
      AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad OPERATOR(pg_catalog.||)
              pg_catalog.sha256(k.inner_pad OPERATOR(pg_catalog.||) pg_catalog.convert_to(
                  claimed OPERATOR(pg_catalog.||) ':'
                  OPERATOR(pg_catalog.||) coalesce(pg_catalog.current_setting('todoproject.staff', true), '')
                  OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) proof[1]
                  OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) proof[2],
                  pg_catalog.getdatabaseencoding()))), 'hex')
          OPERATOR(pg_catalog.=) proof[3];
    IF NOT FOUND
        OR proof[1]::bigint OPERATOR(pg_catalog.<=) extract(epoch FROM pg_catalog.now())
        OR (proof[2]::bigint OPERATOR(pg_catalog.<>) 0
            AND proof[2]::bigint OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()) THEN
        RETURN NULL;
    END IF;
    RETURN claimed::bigint;
END
$fn$
$sql$, pg_catalog.current_schema());
END
$do$;
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);

CREATE FUNCTION todoproject_system_may(tbl regclass) RETURNS boolean
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (SELECT pg_catalog.pg_has_role(CURRENT_USER, c.relowner, 'USAGE')
            FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl);
END
$$;
ALTER POLICY task_system ON tasks_task
    USING ((SELECT CASE WHEN current_setting('todoproject.system', true) = 'on' THEN todoproject_system_may('tasks_task'::regclass) ELSE false END))
    WITH CHECK ((SELECT CASE WHEN current_setting('todoproject.system', true) = 'on' THEN todoproject_system_may('tasks_task'::regclass) ELSE false END));

COMMIT;
