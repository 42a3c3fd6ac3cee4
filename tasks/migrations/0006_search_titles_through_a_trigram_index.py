"""
The admin's title search through a trigram index: see tasks/search.py.

pg_trgm is a trusted extension (PostgreSQL 13 and later): the database's
owner, or any role with CREATE on the database, creates it, with no
superuser; on Neon the project's roles may. Where the migrating role may
not, a superuser runs ``CREATE EXTENSION pg_trgm;`` in the database once
and ``migrate`` then finds it there. It is left in place on the way back:
something else may use it.

The copy table starts empty, with its index, and the triggers keep it up
to date from this migration on; 0007 copies the titles written before.
Creating the triggers takes a brief lock on tasks_task that blocks writes,
so a ``lock_timeout`` makes the migration fail fast rather than queue them.
A no-op on SQLite.

Frozen: the SQL below is the text tasks/search.py built when this
migration was released (0.3.0), held as it ran; a change to the copy, its
functions or its triggers is a new migration (tests/test_migrations.py
holds what every migration runs).
"""

from django.db import migrations

from ownership.operations import PostgreSQLOnlySQL

# Raw strings: the search function's pattern escapes hold backslashes.
CREATE = r"""
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE TABLE tasks_task_search (
    task_id bigint PRIMARY KEY,
    upper_title text NOT NULL
);
CREATE INDEX task_search_upper_title_trgm ON tasks_task_search
    USING gin (upper_title gin_trgm_ops);

CREATE FUNCTION todoproject_tasks_titled(words text[], max_ids integer)
    RETURNS SETOF bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF NOT todoproject_staff_may('{view_task,change_task}')
        OR coalesce(cardinality(words), 0) = 0
        OR EXISTS (SELECT FROM unnest(words) AS word WHERE word IS NULL)
        OR max_ids IS NULL OR max_ids < 0 THEN
        RETURN;
    END IF;
    -- One LIKE per word, each pattern a literal: the plan is made for
    -- these patterns, which is what lets it use the trigram index (a plan
    -- made for any pattern cannot), and the index intersects the words.
    RETURN QUERY EXECUTE format(
        'SELECT task_id FROM tasks_task_search WHERE %s LIMIT %s',
        (SELECT string_agg(format('upper_title LIKE %L', upper(
             '%' || replace(replace(replace(
                 word, '\', '\\'), '%', '\%'), '_', '\_') || '%'
         )), ' AND ') FROM unnest(words) AS word),
        max_ids);
END
$$;

CREATE FUNCTION todoproject_task_search_add() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO tasks_task_search (task_id, upper_title)
    SELECT id, upper(title) FROM added
    ON CONFLICT (task_id) DO UPDATE SET upper_title = EXCLUDED.upper_title;
    RETURN NULL;
END
$$;

-- Removes the copies of `ids` whose task no longer exists: one statement
-- may delete a task and insert it again (a CTE), and its triggers may fire
-- in either order. Reads tasks_task in the system scope, for its own run
-- only. Called by the triggers below, as the owner.
CREATE FUNCTION todoproject_task_search_forget(ids bigint[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    outer_system text := current_setting('todoproject.system', true);
BEGIN
    PERFORM set_config('todoproject.system', 'on', true);
    DELETE FROM tasks_task_search s WHERE s.task_id = ANY (ids)
        AND NOT EXISTS (SELECT FROM tasks_task t WHERE t.id = s.task_id);
    PERFORM set_config('todoproject.system', coalesce(outer_system, ''), true);
END
$$;

CREATE FUNCTION todoproject_task_search_rename() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF OLD.id <> NEW.id THEN
        PERFORM todoproject_task_search_forget(ARRAY[OLD.id]);
    END IF;
    INSERT INTO tasks_task_search (task_id, upper_title)
    VALUES (NEW.id, upper(NEW.title))
    ON CONFLICT (task_id) DO UPDATE SET upper_title = EXCLUDED.upper_title;
    RETURN NULL;
END
$$;

CREATE FUNCTION todoproject_task_search_remove() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM todoproject_task_search_forget(ARRAY(SELECT id FROM removed));
    RETURN NULL;
END
$$;

CREATE FUNCTION todoproject_task_search_empty() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    TRUNCATE tasks_task_search;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION todoproject_task_search_forget(bigint[]),
    todoproject_task_search_add(), todoproject_task_search_rename(),
    todoproject_task_search_remove(), todoproject_task_search_empty()
    FROM PUBLIC;

CREATE TRIGGER task_search_add AFTER INSERT ON tasks_task
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION todoproject_task_search_add();
CREATE TRIGGER task_search_rename AFTER UPDATE OF id, title ON tasks_task
    FOR EACH ROW WHEN (OLD.id <> NEW.id OR OLD.title IS DISTINCT FROM NEW.title)
    EXECUTE FUNCTION todoproject_task_search_rename();
CREATE TRIGGER task_search_remove AFTER DELETE ON tasks_task
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION todoproject_task_search_remove();
CREATE TRIGGER task_search_empty AFTER TRUNCATE ON tasks_task
    FOR EACH STATEMENT EXECUTE FUNCTION todoproject_task_search_empty();
"""

DROP = r"""
SET LOCAL lock_timeout = '5s';
DROP TRIGGER task_search_empty ON tasks_task;
DROP TRIGGER task_search_remove ON tasks_task;
DROP TRIGGER task_search_rename ON tasks_task;
DROP TRIGGER task_search_add ON tasks_task;
DROP FUNCTION todoproject_task_search_empty();
DROP FUNCTION todoproject_task_search_remove();
DROP FUNCTION todoproject_task_search_rename();
DROP FUNCTION todoproject_task_search_add();
DROP FUNCTION todoproject_task_search_forget(bigint[]);
DROP FUNCTION todoproject_tasks_titled(text[], integer);
DROP TABLE tasks_task_search;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0005_text_refuses_nul_characters"),
    ]

    operations = [
        # Every statement here is quick, on a new, empty table, but the
        # triggers wait for a lock on tasks_task: fail rather than queue.
        # (DROP sets its own, since its reverse runs first.)
        PostgreSQLOnlySQL(
            "SET LOCAL lock_timeout = '5s';\nSET LOCAL statement_timeout = '1min';",
            reverse_sql=migrations.RunSQL.noop,
        ),
        PostgreSQLOnlySQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm;",
            reverse_sql=migrations.RunSQL.noop,
        ),
        PostgreSQLOnlySQL(CREATE, reverse_sql=DROP),
    ]
