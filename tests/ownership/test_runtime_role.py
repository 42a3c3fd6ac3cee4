"""The runtime role, tried from the outside in raw SQL: no escape.

Each test connects as the runtime role with plain psycopg (as an injected or
careless statement would run), on committed data of two users, and tries to
see more than one user's tasks or to loosen the policies.
"""

import itertools
import os

import psycopg
import pytest
from django.db import connection
from psycopg import errors, sql

from ownership.policies import (
    PROOF_SETTING,
    SCOPE_STAMP,
    STAFF_SETTING,
    SYSTEM_SETTING,
    TRANSACTION_SETTING,
    USER_SETTING,
)
from ownership.proofs import proof
from tests.factories import TaskFactory, UserFactory
from tests.privileges import grant
from tests.utils import connect

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.isolation,
    pytest.mark.django_db(transaction=True),
]

SETTINGS = [
    USER_SETTING,
    SYSTEM_SETTING,
    STAFF_SETTING,
    TRANSACTION_SETTING,
    PROOF_SETTING,
]
# Through PgBouncer in transaction mode a proof binds to no backend.
THROUGH_PGBOUNCER = bool(os.environ.get("TEST_THROUGH_PGBOUNCER"))
VALUES = ["on", "true", "1", "-1", "", "1 OR 1=1", "*", "t"]


@pytest.fixture
def alice_and_bob():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    TaskFactory.create_batch(2, owner=alice)
    TaskFactory.create_batch(3, owner=bob)
    return alice, bob


def connect_as_runtime_role() -> psycopg.Connection:
    """A plain psycopg connection as the runtime role, to the test database."""
    # No prepared statements: through PgBouncer in transaction mode they
    # would land on other clients' server connections.
    return connect(connection.settings_dict, prepare_threshold=None)


@pytest.fixture
def runtime():
    with connect_as_runtime_role() as conn:
        yield conn
        # What a test set at session level stays on the server connection,
        # which PgBouncer hands to the next client: leave it clean.
        conn.execute("DISCARD ALL")


def owners_seen(conn) -> set:
    """The owners of the tasks `conn` sees now; an error counts as nothing."""
    try:
        rows = conn.execute("SELECT DISTINCT owner_id FROM tasks_task").fetchall()
    except psycopg.Error:
        return set()
    return {owner for (owner,) in rows}


def act_for(conn, user, *, staff, signed_staff=None):
    """Set the acting user (and the staff scope) as the application would.

    With the application's proof, made with its key: what a request's own
    statements carry. tests/ownership/test_proofs.py tries the same
    without the key. `signed_staff` is the staff setting the proof was
    made for, when it is not the one set (a forged flag).
    """
    pid = 0 if THROUGH_PGBOUNCER else conn.info.backend_pid
    staff_setting = "on" if staff else ""
    signed = staff_setting if signed_staff is None else signed_staff
    conn.execute(
        "SELECT set_config(%s, %s, true), set_config(%s, %s, true), "
        f"set_config(%s, %s, true), set_config(%s, {SCOPE_STAMP}, true)",
        [
            USER_SETTING,
            str(user.pk),
            STAFF_SETTING,
            staff_setting,
            PROOF_SETTING,
            proof(user.pk, signed, pid),
            TRANSACTION_SETTING,
        ],
    )


def set_config(conn, name, value, *, local):
    conn.execute("SELECT set_config(%s, %s, %s)", [name, value, local])


@pytest.mark.parametrize("local", [False, True], ids=["session", "transaction"])
def test_no_setting_shows_more_than_the_user_it_names(alice_and_bob, runtime, local):
    alice, bob = alice_and_bob
    values = [*VALUES, str(alice.pk), str(bob.pk)]
    for name, value in itertools.product(SETTINGS, values):
        with runtime.transaction():
            set_config(runtime, name, value, local=local)
            seen = owners_seen(runtime)
        assert seen <= ({int(value)} if value.isdigit() else set()), (name, value)
    # Every setting at once, in the same transaction, the acting user's
    # included: without the application's proof it is nobody.
    for user in (alice, bob):
        with runtime.transaction():
            for name, value in [
                (SYSTEM_SETTING, "on"),
                (STAFF_SETTING, "on"),
                (USER_SETTING, str(user.pk)),
            ]:
                set_config(runtime, name, value, local=local)
            runtime.execute(
                f"SELECT set_config(%s, {SCOPE_STAMP}, %s)",
                [TRANSACTION_SETTING, local],
            )
            assert owners_seen(runtime) == set()


def test_a_session_setting_counts_in_no_later_transaction(alice_and_bob, runtime):
    alice, _ = alice_and_bob
    runtime.execute(
        f"SELECT set_config(%s, %s, false), set_config(%s, {SCOPE_STAMP}, false)",
        [USER_SETTING, str(alice.pk), TRANSACTION_SETTING],
    )

    assert owners_seen(runtime) == set()


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE tasks_task NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE tasks_task DISABLE ROW LEVEL SECURITY",
        "DROP POLICY task_owner ON tasks_task",
        "ALTER POLICY task_owner ON tasks_task USING (true)",
        "CREATE POLICY everything ON tasks_task USING (true)",
        "ALTER TABLE tasks_task OWNER TO CURRENT_USER",
        "TRUNCATE tasks_task",
        "DROP FUNCTION todoproject_staff_may(text[])",
        "CREATE OR REPLACE FUNCTION todoproject_staff_may(text[]) "
        "RETURNS boolean LANGUAGE sql AS 'SELECT true'",
        # A grant without the grant option is only a warning: try its use.
        "GRANT TRUNCATE ON tasks_task TO CURRENT_USER; TRUNCATE tasks_task",
        "CREATE TABLE escape AS SELECT * FROM tasks_task",
        "ALTER ROLE CURRENT_USER BYPASSRLS",
        "ALTER TABLE tasks_task DROP CONSTRAINT task_title_not_blank",
        # A temporary view named like a table would shadow it for every
        # later query on the connection, and inside SECURITY DEFINER code.
        "CREATE TEMP VIEW tasks_task AS SELECT * FROM public.tasks_task",
        "CREATE TEMP TABLE accounts_user (id bigint, is_staff boolean)",
    ],
)
def test_the_runtime_role_cannot_change_the_policies(alice_and_bob, runtime, statement):
    with pytest.raises((errors.InsufficientPrivilege, errors.UndefinedObject)):
        runtime.execute(statement)
    assert owners_seen(runtime) == set()


def test_the_runtime_role_cannot_become_another_role(alice_and_bob, runtime):
    roles = [
        name
        for (name,) in runtime.execute(
            "SELECT rolname FROM pg_roles WHERE rolname <> current_user"
        ).fetchall()
    ]
    assert roles  # At least the owner and the superuser.
    for role in roles:
        with pytest.raises(errors.InsufficientPrivilege):
            runtime.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        with pytest.raises(errors.InsufficientPrivilege):
            runtime.execute(
                sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(role))
            )
    assert owners_seen(runtime) == set()


def test_row_security_off_refuses_instead_of_showing_rows(alice_and_bob, runtime):
    # SET LOCAL and one string: through PgBouncer a session-level setting
    # would stay with the server connection.
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        runtime.execute(
            "BEGIN; SET LOCAL row_security = off; SELECT * FROM tasks_task; COMMIT"
        )
    runtime.execute("ROLLBACK")


def test_the_runtime_role_may_do_plain_dml_for_the_user_it_acts_for(
    alice_and_bob, runtime
):
    alice, _ = alice_and_bob
    with runtime.transaction():
        act_for(runtime, alice, staff=False)
        updated = runtime.execute("UPDATE tasks_task SET title = 'mine'").rowcount
        deleted = runtime.execute("DELETE FROM tasks_task").rowcount

    assert (updated, deleted) == (2, 2)


def test_the_staff_scope_shows_all_only_for_staff_the_database_finds(
    alice_and_bob, runtime, as_owner
):

    alice, bob = alice_and_bob
    plain_staff = UserFactory(username="carol", is_staff=True)
    viewer = grant(UserFactory(username="dave", is_staff=True), "view_task")
    inactive = UserFactory(
        username="erin", is_staff=True, is_superuser=True, is_active=False
    )
    everyone = {alice.pk, bob.pk}

    for user, expected in [
        (alice, {alice.pk}),
        (plain_staff, set()),
        (inactive, set()),
        (viewer, everyone),
    ]:
        with runtime.transaction():
            act_for(runtime, user, staff=True)
            assert owners_seen(runtime) == expected, user.username
        # Without the staff scope, staff see only their own, like anyone.
        with runtime.transaction():
            act_for(runtime, viewer, staff=False)
            assert owners_seen(runtime) == set()


def test_the_staff_function_ignores_temporary_look_alikes(
    alice_and_bob, superuser_cursor
):
    # As a role that may create temporary objects (here a superuser): a
    # temporary accounts_user making everyone an active superuser must not
    # be what the owner's SECURITY DEFINER function reads.
    cursor = superuser_cursor
    cursor.execute(
        "CREATE TEMP VIEW accounts_user AS SELECT 99::bigint AS id, "
        "true AS is_active, true AS is_staff, true AS is_superuser"
    )
    try:
        cursor.execute("BEGIN")
        cursor.execute(
            f"SELECT set_config(%s, '99', true), set_config(%s, 'on', true), "
            f"set_config(%s, {SCOPE_STAMP}, true)",
            [USER_SETTING, STAFF_SETTING, TRANSACTION_SETTING],
        )
        cursor.execute("SELECT todoproject_staff_may('{view_task}')")
        (may,) = cursor.fetchone()
        cursor.execute("COMMIT")
    finally:
        cursor.execute("DROP VIEW pg_temp.accounts_user")

    assert may is False


def test_other_sessions_statements_are_not_shown_to_the_runtime_role(
    alice_and_bob, runtime
):
    with connect_as_runtime_role() as other:
        other.execute("SELECT 'a title only its owner should see'").fetchone()
        shown = runtime.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE query LIKE '%title only its owner%' AND pid <> pg_backend_pid()"
        ).fetchone()

    assert shown == (0,)


def test_a_scope_survives_the_session_changing_date_style_and_time_zone(
    alice_and_bob, runtime
):
    alice, _ = alice_and_bob
    with runtime.transaction():
        act_for(runtime, alice, staff=False)
        runtime.execute("SET LOCAL DateStyle = 'SQL, DMY'")
        runtime.execute("SET LOCAL TimeZone = 'Asia/Tokyo'")
        runtime.execute("SET LOCAL IntervalStyle = 'iso_8601'")

        assert owners_seen(runtime) == {alice.pk}
