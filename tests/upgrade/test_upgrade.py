"""Upgrades from every release and from some commits between.

Each as an operator runs it: a new database is made by the suite's owner
and migrated by the release's own code (``git archive`` of its commit,
tests/data/releases.json), which also seeds it: users, their tasks, a staff
account, and, from 0.3.0 on, the admin's search copies. An intermediate
commit of main (one between releases whose database no release made alike,
releases.json says why) is upgraded the same way. Then the current code's
``migrate`` runs, and the database must be what a fresh install is: every
row kept, each user's tasks visible to them alone as the runtime role,
every title in the search copy, the health check healthy, and the schema
(policies with their expressions, functions with their bodies, owners and
privileges, triggers, indexes, grants) equal to a database the current code
migrated from nothing. Migrating back to the release and forward again
keeps every row.

Needs the suite's roles and a superuser (``make test``) and a clone with
the releases' commits (CI's is a full clone).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dj_database_url
import pytest
from django.db import connections

from accounts.models import User
from operations import integrity
from ownership.scope import acting_as, staff_scope
from tasks.models import Task
from tasks.search import task_ids_titled
from tests.upgrade.releases import (
    INTERMEDIATE,
    RELEASES,
    Servers,
    release_code,
    rows,
    run_manage,
    schema,
    table_columns,
    with_database,
)
from tests.utils import ROOT, default_database

pytestmark = pytest.mark.postgresql

SOURCES = [*RELEASES, *INTERMEDIATE]
# Titles the seeding does not write: non-ASCII, where upper() and lower()
# disagree, and LIKE's wildcard taken literally.
TITLES = ["Ο λόγος της ημέρας", "Pay 100% of the ΛΌΓΟΣ bill", "Straße fegen"]
SEARCHED = ["λόγος", "100%", "STRASSE", "straße"]


@pytest.fixture(scope="module")
def servers() -> Servers:
    names = (
        "DATABASE_URL",
        "TEST_RUNTIME_DATABASE_URL",
        "TEST_SUPERUSER_DATABASE_URL",
        "DATABASE_RUNTIME_ROLE",
    )
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set; run the suite by make test")
    return Servers(*(os.environ[name] for name in names))


def prefix(servers: Servers) -> str:
    # The suite's own database name, so that two runs on one server
    # (TEST_DATABASE_NAME) make databases of their own.
    return dj_database_url.parse(servers.owner_url)["NAME"]


def migrate(servers: Servers, code: Path, name: str, *args: str) -> None:
    run_manage(
        code,
        "migrate",
        *args,
        "--verbosity=0",
        DATABASE_URL=with_database(servers.owner_url, name),
        DATABASE_RUNTIME_ROLE=servers.runtime_role,
    )


@pytest.fixture(scope="module")
def fresh_schema(servers) -> dict:
    """The schema of a database the current code migrated from nothing."""
    name = f"{prefix(servers)}_fresh"
    servers.create_database(name)
    try:
        migrate(servers, ROOT, name)
        with servers.superuser(name) as conn:
            yield schema(conn)
    finally:
        servers.drop_database(name)


@dataclass
class Upgraded:
    release: dict
    code: Path
    name: str
    columns_before: dict[str, list[str]]
    rows_before: dict[str, set[str]]


def label(source: dict) -> str:
    """Return a release's version, or an intermediate commit's name."""
    return source.get("version") or source["name"]


@pytest.fixture(scope="module", params=SOURCES, ids=lambda s: f"from-{label(s)}")
def upgraded(request, servers, tmp_path_factory) -> Iterator[Upgraded]:
    """A database made and seeded by a release, then migrated by this code."""
    release = request.param
    code = release_code(
        release["commit"], tmp_path_factory.mktemp(f"release-{label(release)}")
    )
    suffix = label(release).replace(".", "_").replace("-", "_")
    name = f"{prefix(servers)}_from_{suffix}"
    servers.create_database(name)
    try:
        migrate(servers, code, name)
        run_manage(
            code,
            "seed_sample_data",
            "--users=3",
            "--tasks-per-user=4",
            "--password=pw-123456",
            "--allow-production",
            DATABASE_URL=with_database(servers.owner_url, name),
            DATABASE_RUNTIME_ROLE=servers.runtime_role,
        )
        with servers.superuser(name) as conn:
            # Past the policies, as the release wrote them: its triggers
            # (0.3.0 on) copy the titles for the admin's search.
            for number, title in enumerate(TITLES):
                conn.execute(
                    "INSERT INTO tasks_task (title, description, completed, "
                    "created_at, updated_at, owner_id) SELECT %s, '', false, "
                    "now(), now(), id FROM accounts_user WHERE NOT is_staff "
                    "ORDER BY id LIMIT 1 OFFSET %s",
                    [title, number % 2],
                )
            columns_before = table_columns(conn)
            rows_before = rows(conn)
        migrate(servers, ROOT, name)
        yield Upgraded(release, code, name, columns_before, rows_before)
    finally:
        servers.drop_database(name)


def tasks_by_owner(servers: Servers, name: str) -> dict[int, set[int]]:
    with servers.superuser(name) as conn:
        users = conn.execute("SELECT id FROM accounts_user").fetchall()
        found: dict[int, set[int]] = {user_id: set() for (user_id,) in users}
        for owner_id, task_id in conn.execute("SELECT owner_id, id FROM tasks_task"):
            found[owner_id].add(task_id)
    return found


def as_runtime_role(servers: Servers, name: str) -> dict:
    """The settings of a Django database: database `name` as the runtime role."""
    settings_dict = dj_database_url.parse(with_database(servers.runtime_url, name))
    settings_dict.update(CONN_MAX_AGE=0)
    return connections.configure_settings({"default": settings_dict})["default"]


def test_every_row_is_kept_by_the_upgrade(upgraded, servers):
    with servers.superuser(upgraded.name) as conn:
        after = rows(conn, upgraded.columns_before)

    for table, before in upgraded.rows_before.items():
        if table == integrity.RECORD_TABLE:
            # Not data: migrate's record of the definitions it installed,
            # rewritten when they change (operations/integrity.py).
            continue
        assert before <= after[table], f"{table} lost or changed rows"
    for table in ("accounts_user", "tasks_task"):
        assert after[table] == upgraded.rows_before[table], table


@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_every_user_sees_exactly_their_tasks_as_the_runtime_role(
    upgraded, servers, django_db_blocker
):
    expected = tasks_by_owner(servers, upgraded.name)
    assert sum(map(len, expected.values())) == 3 * 4 + len(TITLES)

    seen = {}
    with (
        django_db_blocker.unblock(),
        default_database(as_runtime_role(servers, upgraded.name)),
    ):
        unscoped = Task.objects.count()
        for user in User.objects.all():
            with acting_as(user):
                seen[user.pk] = set(Task.objects.values_list("pk", flat=True))

    assert unscoped == 0
    assert seen == expected


def test_the_admins_search_finds_every_title_after_the_upgrade(
    upgraded, servers, django_db_blocker
):
    with servers.superuser(upgraded.name) as conn:
        copies = set(conn.execute("SELECT task_id, upper_title FROM tasks_task_search"))
        titles = set(conn.execute("SELECT id, upper(title) FROM tasks_task"))
        expected = {
            word: {
                task_id
                for (task_id,) in conn.execute(
                    "SELECT id FROM tasks_task "
                    "WHERE strpos(upper(title), upper(%s)) > 0",
                    [word],
                )
            }
            for word in SEARCHED
        }
    assert copies == titles

    found = {}
    with (
        django_db_blocker.unblock(),
        default_database(as_runtime_role(servers, upgraded.name)),
    ):
        staff = User.objects.get(is_staff=True)
        with staff_scope(staff):
            for word in SEARCHED:
                found[word] = set(task_ids_titled([word], limit=100, using="default"))

    assert found == expected
    assert all(expected[word] for word in ("λόγος", "100%"))


def test_the_health_check_is_healthy_after_the_upgrade(upgraded, servers):
    result = run_manage(
        ROOT,
        "healthcheck",
        check="no",
        DATABASE_URL=with_database(servers.runtime_url, upgraded.name),
        DATABASE_RUNTIME_ROLE=servers.runtime_role,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_upgraded_schema_equals_a_fresh_migrate(upgraded, servers, fresh_schema):
    with servers.superuser(upgraded.name) as conn:
        upgraded_schema = schema(conn)

    for part, expected in fresh_schema.items():
        assert upgraded_schema[part] == expected, part


def test_migrating_back_to_the_release_and_forward_again_keeps_every_row(
    upgraded, servers, fresh_schema
):
    with servers.superuser(upgraded.name) as conn:
        before = rows(conn)

    for app_label, name in upgraded.release["migrations"].items():
        migrate(servers, ROOT, upgraded.name, app_label, name)
    # The release's own code finds its database as it left it.
    run_manage(
        upgraded.code,
        "migrate",
        "--check",
        DATABASE_URL=with_database(servers.owner_url, upgraded.name),
    )
    with servers.superuser(upgraded.name) as conn:
        back = rows(conn, upgraded.columns_before)
    migrate(servers, ROOT, upgraded.name)
    with servers.superuser(upgraded.name) as conn:
        again = rows(conn)
        schema_again = schema(conn)

    for table in ("accounts_user", "tasks_task"):
        assert back[table] == upgraded.rows_before[table], table
    assert again == before
    assert schema_again == fresh_schema
