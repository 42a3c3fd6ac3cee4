"""The policies' per-statement checks cost half as much (issue 23).

Every statement of a user pays for ``todoproject_acting_user()`` (an
UPDATE with RETURNING four times, once per copy of the owner's policy) and
for planning the system policy. Measured on PostgreSQL 18, a read by
primary key: the verifier's ``SET search_path`` clause cost about 35 us a
call, its two regular expressions about 23 us, and the system policy's
query of ``pg_class`` about 30 us of planning.

- ``todoproject_acting_user()`` has no SET clause: every name in its body
  is qualified (the key table by the schema this runs in, functions and
  types by ``pg_catalog``, operators by ``OPERATOR(pg_catalog.x)``), so
  no ``search_path`` a caller sets can put an object of its own in their
  place. It casts nothing before the HMAC matched, so no setting makes it
  fail, and it needs no regular expression; the signed message's bytes
  are taken in the database's own encoding, which looks up no conversion.
  It answers exactly as before.
- The system policy asks ``todoproject_system_may(regclass)``, a PL/pgSQL
  function, instead of querying ``pg_class`` itself: the same answer,
  planned as a function call. It runs as the caller.

The SQL is held here as text: it never changes.
"""

from django.db import migrations

from ownership.operations import PostgreSQLOnlySQL

FORWARD = r"""
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
"""

BACKWARD = r"""
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
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0010_accounts_and_privileges_change_only_as_the_application_means"),
    ]

    operations = [
        PostgreSQLOnlySQL(FORWARD, reverse_sql=BACKWARD),
    ]
