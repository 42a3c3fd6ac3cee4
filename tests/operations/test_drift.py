"""Drift: the health check sees what changed since migrate, and migrate heals it.

Each test changes the migrated test database as an operator's mistake or
the runtime role itself would (as a superuser, or as the runtime role),
checks that ``healthcheck`` fails with exit 4 and one line naming the
change, runs ``migrate`` as the owner, and checks that all is back.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from ownership import policies
from tests.conftest import use_role
from tests.operations.test_healthcheck import healthcheck, lines

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

FIX = "; run manage.py migrate as the owner"


def migrate() -> str:
    """Run migrate as the owner; come back as the role before."""
    before = {key: connection.settings_dict[key] for key in ("USER", "PASSWORD")}
    use_role("owner")
    out = StringIO()
    try:
        call_command("migrate", verbosity=1, stdout=out)
    finally:
        connection.close()
        connection.settings_dict.update(before)
    return out.getvalue()


@pytest.fixture
def healed():
    """Whatever the test changed, migrate puts it back afterwards."""
    yield
    migrate()


def catalog(cursor, query, *params):
    cursor.execute(query, params)
    return cursor.fetchall()


TAMPERING = [
    pytest.param(
        ["ALTER POLICY task_owner ON tasks_task USING (true)"],
        "policy task_owner on tasks_task differs from what migrate installed",
        id="policy-expression",
    ),
    pytest.param(
        ["CREATE POLICY everyone ON tasks_task USING (true)"],
        "policy everyone on tasks_task is not one migrate installed",
        id="added-policy",
    ),
    pytest.param(
        [
            "CREATE OR REPLACE FUNCTION todoproject_task_search_empty() "
            "RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = public, pg_temp AS $$ BEGIN RETURN NULL; END $$"
        ],
        "function todoproject_task_search_empty() differs from what migrate installed",
        id="function-body",
    ),
    pytest.param(
        ["ALTER FUNCTION todoproject_staff_may(text[]) RESET search_path"],
        "function todoproject_staff_may(codenames text[]) differs from what "
        "migrate installed",
        id="function-search-path",
    ),
    pytest.param(
        [
            "GRANT EXECUTE ON FUNCTION todoproject_task_search_forget(bigint[]) "
            "TO PUBLIC"
        ],
        "function todoproject_task_search_forget(ids bigint[]) differs from what "
        "migrate installed",
        id="missing-revoke",
    ),
    pytest.param(
        ["ALTER FUNCTION todoproject_staff_may(text[]) OWNER TO CURRENT_USER"],
        "function todoproject_staff_may(codenames text[]) differs from what "
        "migrate installed",
        id="function-owner",
    ),
    pytest.param(
        ["ALTER TABLE tasks_task DISABLE TRIGGER task_search_add"],
        "trigger task_search_add on tasks_task differs from what migrate installed",
        id="disabled-trigger",
    ),
    pytest.param(
        ["ALTER TABLE accounts_user DISABLE TRIGGER accounts_user_guard"],
        "trigger accounts_user_guard on accounts_user differs from what migrate "
        "installed",
        id="disabled-account-guard",
    ),
    pytest.param(
        [
            "DROP TRIGGER auth_group_permissions_guard_insert_update ON "
            "auth_group_permissions"
        ],
        "trigger auth_group_permissions_guard_insert_update on "
        "auth_group_permissions is missing",
        id="dropped-account-guard",
    ),
    pytest.param(
        ["GRANT SELECT ON tasks_task_search TO {runtime}"],
        "privileges of {runtime} on tasks_task_search differs from what migrate "
        "installed",
        id="extra-grant",
    ),
]


@pytest.mark.parametrize(("statements", "reason"), TAMPERING)
def test_drift_is_exit_4_naming_it_and_migrate_heals_it(
    healed, superuser_cursor, settings, statements, reason
):
    runtime = settings.DATABASE_RUNTIME_ROLE
    superuser_cursor.execute("SET lock_timeout = '5s'")
    for statement in statements:
        superuser_cursor.execute(statement.format(runtime=runtime))

    code, out, message = healthcheck()

    assert (code, message) == (4, reason.format(runtime=runtime) + FIX)
    assert f"definitions   FAIL  N ms  {message}" in lines(out)

    assert "Installed the definitions again" in migrate()

    assert healthcheck()[0] == 0


def test_migrate_heals_the_function_owner_and_the_revoke(healed, superuser_cursor):
    superuser_cursor.execute(
        "ALTER FUNCTION todoproject_staff_may(text[]) OWNER TO CURRENT_USER; "
        "GRANT EXECUTE ON FUNCTION todoproject_task_search_forget(bigint[]) "
        "TO PUBLIC"
    )

    migrate()

    use_role("owner")
    with connection.cursor() as cursor:
        (owner,) = catalog(cursor, "SELECT current_user")[0]
        rows = catalog(
            cursor,
            "SELECT proname, pg_get_userbyid(proowner), "
            "has_function_privilege('public', oid, 'EXECUTE') FROM pg_proc "
            "WHERE proname IN ('todoproject_staff_may', "
            "'todoproject_task_search_forget') ORDER BY proname",
        )
    assert rows == [
        ("todoproject_staff_may", owner, True),
        ("todoproject_task_search_forget", owner, False),
    ]


def test_migrate_heals_a_policy_expression(healed, superuser_cursor):
    superuser_cursor.execute("ALTER POLICY task_owner ON tasks_task USING (true)")

    migrate()

    (qual,) = catalog(
        superuser_cursor,
        "SELECT qual FROM pg_policies WHERE policyname = 'task_owner'",
    )[0]
    assert "todoproject_acting_user()" in qual


def test_migrate_leaves_definitions_that_did_not_drift_in_place(superuser_cursor):
    query = (
        "SELECT array_agg(oid ORDER BY oid) FROM pg_policy "
        "WHERE polrelid = 'tasks_task'::regclass"
    )
    before = catalog(superuser_cursor, query)

    output = migrate()

    assert catalog(superuser_cursor, query) == before
    assert "Installed the definitions again" not in output


def test_code_whose_definitions_changed_without_a_migration_is_exit_4(
    healed, monkeypatch
):
    create_policies = policies.create_policies
    monkeypatch.setattr(
        policies, "create_policies", lambda owned: create_policies(owned) + "\n-- x\n"
    )

    code, _, message = healthcheck()

    assert (code, message) == (
        4,
        "the policies and functions of this code are not the ones migrate "
        "installed" + FIX,
    )
    migrate()
    assert healthcheck()[0] == 0


def test_missing_record_is_exit_4_until_migrate(healed, superuser_cursor):
    superuser_cursor.execute("DROP TABLE todoproject_integrity")

    code, _, message = healthcheck()

    assert (code, message) == (4, "no record of what migrate installed" + FIX)
    migrate()
    assert healthcheck()[0] == 0


def test_the_runtime_role_may_read_the_record_but_not_write_it(settings):
    with connection.cursor() as cursor:
        (count,) = catalog(cursor, "SELECT count(*) FROM todoproject_integrity")[0]
        (writable,) = catalog(
            cursor,
            "SELECT has_table_privilege('todoproject_integrity', 'INSERT') "
            "OR has_table_privilege('todoproject_integrity', 'UPDATE') "
            "OR has_table_privilege('todoproject_integrity', 'DELETE')",
        )[0]
    assert count > 10
    assert writable is False


@pytest.fixture
def role_kept(superuser_cursor, settings):
    """Put the runtime role's session defaults back as they were (make test's)."""
    role = settings.DATABASE_RUNTIME_ROLE
    before = catalog(
        superuser_cursor,
        "SELECT unnest(setconfig) FROM pg_db_role_setting "
        "WHERE setrole = to_regrole(%s) AND setdatabase = 0",
        role,
    )
    yield role
    database = connection.settings_dict["NAME"]
    superuser_cursor.execute(f'ALTER ROLE "{role}" RESET ALL')
    superuser_cursor.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" RESET ALL')
    for (setting,) in before:
        name, _, value = setting.partition("=")
        superuser_cursor.execute(f"ALTER ROLE \"{role}\" SET {name} = '{value}'")


def role_settings(cursor, role):
    return catalog(
        cursor,
        "SELECT s.setdatabase <> 0, unnest(s.setconfig) FROM pg_db_role_setting s "
        "WHERE s.setrole = to_regrole(%s) ORDER BY 1, 2",
        role,
    )


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        (
            "ALTER ROLE CURRENT_USER SET row_security = off",
            "{role} has the session default row_security=off, which the project "
            "does not set",
        ),
        (
            "ALTER ROLE CURRENT_USER SET debug_print_parse = on",
            "{role} has the session default debug_print_parse=on, which the "
            "project does not set",
        ),
        (
            "ALTER ROLE CURRENT_USER IN DATABASE {database} "
            "SET default_transaction_read_only = on",
            "{role} has the session default default_transaction_read_only=on in "
            "this database, which the project does not set",
        ),
    ],
    ids=["row-security-off", "debug-print-parse", "read-only-in-database"],
)
def test_session_default_the_runtime_role_set_on_itself_is_exit_4_until_migrate(
    role_kept, superuser_cursor, statement, reason
):
    role = role_kept
    database = connection.settings_dict["NAME"]
    # The runtime role needs no privilege to do this to itself.
    with connection.cursor() as cursor:
        cursor.execute(statement.format(database=f'"{database}"'))

    code, out, message = healthcheck()

    assert (code, message) == (
        4,
        reason.format(role=role) + "; run manage.py migrate as the owner to reset it",
    )
    assert f"role config   FAIL  N ms  {message}" in lines(out)

    migrate()

    # Only what a superuser set (make test's track_activities) stays.
    assert role_settings(superuser_cursor, role) in (
        [],
        [(False, "track_activities=off")],
    )
    assert healthcheck()[0] == 0


def test_migrate_keeps_the_projects_own_session_defaults(
    role_kept, superuser_cursor, settings
):
    role = role_kept
    superuser_cursor.execute(f'ALTER ROLE "{role}" SET track_activities = off')
    settings.DATABASE_RUNTIME_ROLE_SETTINGS = {"statement_timeout": "30s"}

    migrate()

    assert role_settings(superuser_cursor, role) == [
        (False, "statement_timeout=30s"),
        (False, "track_activities=off"),
    ]
    assert healthcheck()[0] == 0


def test_healthz_and_openmetrics_report_the_drift(
    healed, superuser_cursor, client, monkeypatch
):
    superuser_cursor.execute("ALTER POLICY task_owner ON tasks_task USING (true)")

    # /healthz shares one answer for a second; each request asks anew.
    monkeypatch.setattr("operations.views._last", None)
    response = client.get("/healthz")
    monkeypatch.setattr("operations.views._last", None)
    metrics = client.get("/healthz?format=openmetrics").content.decode()

    assert response.status_code == 503
    body = response.json()
    assert body["exit_code"] == 4
    assert {"name": "definitions", "status": "fail"} in [
        {key: check[key] for key in ("name", "status")} for check in body["checks"]
    ]
    assert (
        'todoproject_health_check_status{check="definitions",status="fail"} 1.0'
        in metrics
    )
    assert "todoproject_health_exit_code 4.0" in metrics
