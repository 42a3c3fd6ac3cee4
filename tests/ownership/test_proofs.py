"""An acting user the runtime role cannot forge.

Each test connects as the runtime role with plain psycopg, as a statement
injected into a request would run, and tries every way it knows to act for
a user without the application's key: the settings alone, in one message,
in one transaction, through a prepared statement and a cursor WITH HOLD; a
real proof with another user id; an expired one; another backend's; a
session-level one; the key table itself. Only the application's own proof,
for the user it names, shows that user's rows.
"""

import os
import time

import psycopg
import pytest
from django.db import connection
from django.test import override_settings
from psycopg import errors

from ownership.policies import (
    PROOF_SETTING,
    SCOPE_STAMP,
    STAFF_SETTING,
    TRANSACTION_SETTING,
    USER_SETTING,
)
from ownership.proofs import install_scope_keys, proof
from tests.factories import TaskFactory, UserFactory
from tests.utils import connect

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.isolation,
    pytest.mark.django_db(transaction=True),
]

THROUGH_PGBOUNCER = bool(os.environ.get("TEST_THROUGH_PGBOUNCER"))
SET_SCOPE = (
    "SELECT set_config(%s, %s, {local}), set_config(%s, %s, {local}), "
    "set_config(%s, %s, {local}), set_config(%s, " + SCOPE_STAMP + ", {local})"
)


@pytest.fixture
def alice_and_bob():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob", is_staff=True, is_superuser=True)
    TaskFactory.create_batch(2, owner=alice)
    TaskFactory.create_batch(3, owner=bob)
    return alice, bob


@pytest.fixture
def runtime():
    with connect(connection.settings_dict, prepare_threshold=None) as conn:
        yield conn
        conn.execute("DISCARD ALL")


def pid_of(conn) -> int:
    return 0 if THROUGH_PGBOUNCER else conn.info.backend_pid


def scope_params(user_id, signed, staff=""):
    return [
        USER_SETTING,
        str(user_id),
        STAFF_SETTING,
        staff,
        PROOF_SETTING,
        signed,
        TRANSACTION_SETTING,
    ]


def owners_seen(conn, query="SELECT DISTINCT owner_id FROM tasks_task") -> set:
    try:
        return {owner for (owner,) in conn.execute(query).fetchall()}
    except psycopg.Error:
        return set()


def test_the_applications_proof_shows_the_user_it_names(alice_and_bob, runtime):
    alice, bob = alice_and_bob
    for user in (alice, bob):
        with runtime.transaction():
            runtime.execute(
                SET_SCOPE.format(local="true"),
                scope_params(user.pk, proof(user.pk, "", pid_of(runtime))),
            )
            assert owners_seen(runtime) == {user.pk}


def test_the_settings_without_a_proof_show_nobody(alice_and_bob, runtime):
    alice, bob = alice_and_bob
    forged = [
        "",
        "1:0:" + "0" * 64,
        f"{int(time.time()) + 60}:0:{'f' * 64}",
        "not a proof",
        "9999999999:0:" + "a" * 63,
    ]
    for user in (alice, bob):
        for signed in forged:
            for staff in ("", "on"):
                with runtime.transaction():
                    runtime.execute(
                        SET_SCOPE.format(local="true"),
                        scope_params(user.pk, signed, staff),
                    )
                    assert owners_seen(runtime) == set(), (user, signed, staff)


def test_forging_in_one_message_a_prepared_statement_or_a_held_cursor_fails(
    alice_and_bob, runtime
):
    alice, _ = alice_and_bob
    settings_sql = (
        f"SELECT set_config('{USER_SETTING}', '{alice.pk}', true), "
        f"set_config('{TRANSACTION_SETTING}', {SCOPE_STAMP}, true)"
    )
    # One message, one implicit transaction: what a glued injection sends.
    runtime.execute(f"{settings_sql}; SELECT 1")
    cursor = runtime.cursor()
    cursor.execute(f"{settings_sql}; SELECT DISTINCT owner_id FROM tasks_task")
    cursor.nextset()
    assert cursor.fetchall() == []
    with runtime.transaction():
        runtime.execute(settings_sql)
        runtime.execute("PREPARE seen AS SELECT DISTINCT owner_id FROM tasks_task")
        assert runtime.execute("EXECUTE seen").fetchall() == []
        runtime.execute(
            "DECLARE held CURSOR WITH HOLD FOR SELECT owner_id FROM tasks_task"
        )
    assert runtime.execute("FETCH ALL FROM held").fetchall() == []
    runtime.execute("CLOSE held")
    runtime.execute("DEALLOCATE seen")


def test_a_user_id_that_borrows_a_colon_from_the_proof_is_nobody(
    alice_and_bob, runtime
):
    alice, _ = alice_and_bob
    signed = proof(alice.pk, "", pid_of(runtime))
    expiry, pid, mac = signed.split(":")
    # The same signed text, "<id>::<expiry>:<pid>", cut at other colons.
    for user_id, staff, forged in [
        (f"{alice.pk}:", "", f"{expiry}:{pid}:{mac}"),
        (str(alice.pk), f":{expiry}", f"{pid}:{mac}"),
    ]:
        with runtime.transaction():
            runtime.execute(
                SET_SCOPE.format(local="true"), scope_params(user_id, forged, staff)
            )
            acting = runtime.execute("SELECT todoproject_acting_user()").fetchone()
            assert acting == (None,), (user_id, staff, forged)
            assert owners_seen(runtime) == set()


def test_a_proof_for_one_user_shows_nothing_with_another_users_id(
    alice_and_bob, runtime
):
    alice, bob = alice_and_bob
    alices = proof(alice.pk, "", pid_of(runtime))
    with runtime.transaction():
        runtime.execute(SET_SCOPE.format(local="true"), scope_params(bob.pk, alices))
        assert owners_seen(runtime) == set()
    # Nor does a user's proof open the staff scope, staff as bob is.
    bobs = proof(bob.pk, "", pid_of(runtime))
    with runtime.transaction():
        runtime.execute(
            SET_SCOPE.format(local="true"), scope_params(bob.pk, bobs, staff="on")
        )
        assert owners_seen(runtime) == set()


def test_an_expired_proof_shows_nothing(alice_and_bob, runtime):
    alice, _ = alice_and_bob
    expired = proof(alice.pk, "", pid_of(runtime), now=time.time() - 300)
    with runtime.transaction():
        runtime.execute(SET_SCOPE.format(local="true"), scope_params(alice.pk, expired))
        assert owners_seen(runtime) == set()


def test_a_proof_made_for_another_backend_shows_nothing(alice_and_bob, runtime):
    alice, _ = alice_and_bob
    with runtime.transaction():
        # The server's own pid, through PgBouncer too: one transaction runs
        # on one server connection.
        (pid,) = runtime.execute("SELECT pg_backend_pid()").fetchone()
        theirs = proof(alice.pk, "", pid + 1)
        runtime.execute(SET_SCOPE.format(local="true"), scope_params(alice.pk, theirs))
        assert owners_seen(runtime) == set()


def test_a_session_level_proof_counts_in_no_later_transaction(alice_and_bob, runtime):
    alice, _ = alice_and_bob
    runtime.execute(
        SET_SCOPE.format(local="false"),
        scope_params(alice.pk, proof(alice.pk, "", pid_of(runtime))),
    )
    runtime.commit()

    with runtime.transaction():
        assert owners_seen(runtime) == set()


def test_the_key_table_and_the_verifiers_inputs_are_out_of_reach(
    alice_and_bob, runtime
):
    for statement in (
        "SELECT * FROM todoproject_scope_key",
        "INSERT INTO todoproject_scope_key VALUES ('x', 'x', 'x')",
        "DELETE FROM todoproject_scope_key",
    ):
        with pytest.raises(errors.InsufficientPrivilege), runtime.transaction():
            runtime.execute(statement)
    # The verifier takes no argument to guess with; called bare, it is nobody.
    assert runtime.execute("SELECT todoproject_acting_user()").fetchone() == (None,)


def test_old_keys_keep_working_through_a_rotation_then_stop(
    alice_and_bob, runtime, as_owner, settings
):
    alice, _ = alice_and_bob
    old_secret = settings.SECRET_KEY

    def sees_alice(secret):
        with override_settings(SECRET_KEY=secret):
            signed = proof(alice.pk, "", pid_of(runtime))
        with runtime.transaction():
            runtime.execute(
                SET_SCOPE.format(local="true"), scope_params(alice.pk, signed)
            )
            return owners_seen(runtime) == {alice.pk}

    new_secret = old_secret + "-rotated"
    with override_settings(SECRET_KEY=new_secret, SECRET_KEY_FALLBACKS=[old_secret]):
        install_scope_keys("default", verbosity=0)
    assert sees_alice(old_secret)
    assert sees_alice(new_secret)

    with override_settings(SECRET_KEY=new_secret, SCOPE_KEY_GRACE_SECONDS=3600):
        install_scope_keys("default", verbosity=0)
    assert sees_alice(old_secret), "within the grace period"

    with override_settings(SECRET_KEY=new_secret, SCOPE_KEY_GRACE_SECONDS=0):
        install_scope_keys("default", verbosity=0)
        install_scope_keys("default", verbosity=0)
    assert not sees_alice(old_secret)
    assert sees_alice(new_secret)

    install_scope_keys("default", verbosity=0)  # The suite's key again.
    assert sees_alice(old_secret)


def test_the_health_check_fails_when_the_key_is_not_installed(
    alice_and_bob, as_owner, settings
):
    from io import StringIO

    from django.core.management import CommandError, call_command

    settings.SECRET_KEY = settings.SECRET_KEY + "-never-migrated"
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("healthcheck", "--allow-privileged-role", stdout=out)

    assert failed.value.returncode == 4
    assert "scope proof   FAIL" in out.getvalue()
    assert "refuses this process's scope proofs" in out.getvalue()
