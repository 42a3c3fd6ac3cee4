"""The admin's search of every task by title, served by a trigram index.

``tasks_task`` forces row-level security, and under it PostgreSQL uses a
condition of the query as an index condition only when its operator is
leakproof: ``LIKE`` and pg_trgm's operators are not, and only a superuser
can mark them so. A trigram index on ``tasks_task.title`` would never be
used. So triggers copy each task's id and ``upper(title)`` into
``tasks_task_search``, which has a trigram GIN index and on which the
runtime role holds no privilege at all, and one ``SECURITY DEFINER``
function, ``todoproject_tasks_titled(words, max_ids)``, searches it. It
returns the ids of the tasks whose title contains every word, compared as
Django's ``icontains`` compares on PostgreSQL (``upper(title) LIKE
upper(pattern)``, with ``%``, ``_`` and ``\\`` taken literally), and only
when the acting user may see every task (``todoproject_staff_may``, the
staff policy's own check): it tells no caller more than the staff scope
already shows. The ids are then read from ``tasks_task`` under its
policies, as ``id IN (...)``, a leakproof index condition.

The triggers copy at statement level where PostgreSQL allows (insert and
delete, with transition tables: deleting a user's thousand tasks is one
more DELETE) and row by row for a rename, which is rare. A copy is removed
only when its task no longer exists, so one statement that deletes a task
and inserts it again (a CTE) keeps it, in whatever order the triggers
fire. ``TRUNCATE`` empties the copy too. A no-op on SQLite.
"""

from __future__ import annotations

from django.db import connections

from ownership.policies import STAFF_FUNCTION, STAFF_SEES, SYSTEM_SETTING
from tasks.models import OWNED

TABLE = OWNED.table
# What the staff policy for SELECT asks: the search shows no more than it.
STAFF_SEES_CODENAMES = ",".join(OWNED.codenames(STAFF_SEES))

SEARCH_TABLE = "tasks_task_search"
SEARCH_INDEX = "task_search_upper_title_trgm"
SEARCH_FUNCTION = "todoproject_tasks_titled"

# Each SECURITY DEFINER function below runs as the owner: its search_path
# is the migration's schema, then pg_temp explicitly last (see
# ownership/policies.py). The one that reads tasks_task does so in the
# system scope, turned on for its own run only (a function's SET clause
# would need a superuser to name a custom setting).
CREATE = f"""
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE TABLE {SEARCH_TABLE} (
    task_id bigint PRIMARY KEY,
    upper_title text NOT NULL
);
CREATE INDEX {SEARCH_INDEX} ON {SEARCH_TABLE}
    USING gin (upper_title gin_trgm_ops);

CREATE FUNCTION {SEARCH_FUNCTION}(words text[], max_ids integer)
    RETURNS SETOF bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF NOT {STAFF_FUNCTION}('{{{STAFF_SEES_CODENAMES}}}')
        OR coalesce(cardinality(words), 0) = 0
        OR EXISTS (SELECT FROM unnest(words) AS word WHERE word IS NULL)
        OR max_ids IS NULL OR max_ids < 0 THEN
        RETURN;
    END IF;
    -- One LIKE per word, each pattern a literal: the plan is made for
    -- these patterns, which is what lets it use the trigram index (a plan
    -- made for any pattern cannot), and the index intersects the words.
    RETURN QUERY EXECUTE format(
        'SELECT task_id FROM {SEARCH_TABLE} WHERE %s LIMIT %s',
        (SELECT string_agg(format('upper_title LIKE %L', upper(
             '%' || replace(replace(replace(
                 word, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
         )), ' AND ') FROM unnest(words) AS word),
        max_ids);
END
$$;

CREATE FUNCTION todoproject_task_search_add() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
BEGIN
    INSERT INTO {SEARCH_TABLE} (task_id, upper_title)
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
    outer_system text := current_setting('{SYSTEM_SETTING}', true);
BEGIN
    PERFORM set_config('{SYSTEM_SETTING}', 'on', true);
    DELETE FROM {SEARCH_TABLE} s WHERE s.task_id = ANY (ids)
        AND NOT EXISTS (SELECT FROM {TABLE} t WHERE t.id = s.task_id);
    PERFORM set_config('{SYSTEM_SETTING}', coalesce(outer_system, ''), true);
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
    INSERT INTO {SEARCH_TABLE} (task_id, upper_title)
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
    TRUNCATE {SEARCH_TABLE};
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION todoproject_task_search_forget(bigint[]),
    todoproject_task_search_add(), todoproject_task_search_rename(),
    todoproject_task_search_remove(), todoproject_task_search_empty()
    FROM PUBLIC;

CREATE TRIGGER task_search_add AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION todoproject_task_search_add();
CREATE TRIGGER task_search_rename AFTER UPDATE OF id, title ON {TABLE}
    FOR EACH ROW WHEN (OLD.id <> NEW.id OR OLD.title IS DISTINCT FROM NEW.title)
    EXECUTE FUNCTION todoproject_task_search_rename();
CREATE TRIGGER task_search_remove AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION todoproject_task_search_remove();
CREATE TRIGGER task_search_empty AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION todoproject_task_search_empty();
"""

DROP = f"""
SET LOCAL lock_timeout = '5s';
DROP TRIGGER task_search_empty ON {TABLE};
DROP TRIGGER task_search_remove ON {TABLE};
DROP TRIGGER task_search_rename ON {TABLE};
DROP TRIGGER task_search_add ON {TABLE};
DROP FUNCTION todoproject_task_search_empty();
DROP FUNCTION todoproject_task_search_remove();
DROP FUNCTION todoproject_task_search_rename();
DROP FUNCTION todoproject_task_search_add();
DROP FUNCTION todoproject_task_search_forget(bigint[]);
DROP FUNCTION {SEARCH_FUNCTION}(text[], integer);
DROP TABLE {SEARCH_TABLE};
"""

# Copies the tasks with ids in [%s, %s) that existed before the triggers,
# for the table's owner in the system scope. FOR KEY SHARE skips a task
# deleted meanwhile and holds off its deletion until the batch commits (the
# delete trigger then sees the copy), but not a rename; a copy the
# triggers wrote is newer than this one, and is kept.
BACKFILL_BATCH = f"""
INSERT INTO {SEARCH_TABLE} (task_id, upper_title)
SELECT id, upper(title) FROM {TABLE} WHERE id >= %s AND id < %s
FOR KEY SHARE
ON CONFLICT (task_id) DO NOTHING
"""


def task_ids_titled(words: list[str], *, limit: int, using: str) -> list[int] | None:
    """Return the ids of the tasks whose title contains every one of `words`.

    Ignoring case as Django's ``icontains`` does, through the trigram
    index; for staff who may see every task (in their ``staff_scope``), and
    an empty list for anyone else. None when more than `limit` titles
    match: so common a word is better found by reading the table in the
    order wanted than by a list of ids. PostgreSQL only.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {SEARCH_FUNCTION}(%s, %s)", [words, limit + 1])
        ids = [task_id for (task_id,) in cursor.fetchall()]
    return ids if len(ids) <= limit else None
