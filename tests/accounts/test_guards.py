"""Accounts and privileges, tried as an injected statement would (ownership/guards.py).

Raw SQL as the runtime role on committed data: a statement injected into
alice's request holds her proof (what her request's own statements carry)
and tries to become staff or superuser, to give itself permissions, and to
take over or delete bob's account. Each is refused; what alice may do to
her own account, signing up and logging in still work, and staff who may
change users do in the admin what Django lets them.
"""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import aauthenticate, authenticate
from django.contrib.auth.hashers import MD5PasswordHasher, PBKDF2PasswordHasher
from django.contrib.auth.models import Group, Permission
from django.db import ProgrammingError, connections
from psycopg import errors

from accounts.models import User
from accounts.services import delete_user
from ownership.scope import ScopeConflict, acting_as, staff_scope
from tests.factories import TaskFactory, UserFactory
from tests.ownership.test_runtime_role import act_for, connect_as_runtime_role
from tests.privileges import as_root, grant

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.isolation,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice_and_bob():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    TaskFactory.create_batch(2, owner=bob)
    with as_root():
        group = Group.objects.create(name="editors")
        root = User.objects.get(username="suite-root")
        LogEntry.objects.log_actions(root.pk, [bob], CHANGE, single_object=True)
    return alice, bob, group


@pytest.fixture
def runtime():
    with connect_as_runtime_role() as conn:
        yield conn
        conn.rollback()
        conn.execute("DISCARD ALL")


def refused(conn, statement, params) -> bool:
    """Whether the database refuses `statement` (in a transaction of its own)."""
    try:
        with conn.transaction():
            conn.execute(statement, params)
    except errors.InsufficientPrivilege:
        return True
    return False


def stored(user) -> dict:
    """Return what the database holds of `user`, read again."""
    fresh = User.objects.get(pk=user.pk)
    return {
        "staff": fresh.is_staff,
        "superuser": fresh.is_superuser,
        "active": fresh.is_active,
        "password": fresh.password,
        "email": fresh.email,
        "permissions": fresh.user_permissions.count(),
        "groups": fresh.groups.count(),
    }


def attacks(alice, bob, group):
    """What an injected statement in alice's request tries, as (statement, params)."""
    view_task = Permission.objects.get(codename="view_task").pk
    change_user = Permission.objects.get(codename="change_user").pk
    return {
        "make herself staff": (
            "UPDATE accounts_user SET is_staff = true WHERE id = %s",
            [alice.pk],
        ),
        "make herself superuser": (
            "UPDATE accounts_user SET is_superuser = true, is_staff = true "
            "WHERE id = %s",
            [alice.pk],
        ),
        "give herself a permission": (
            "INSERT INTO accounts_user_user_permissions (user_id, permission_id) "
            "VALUES (%s, %s)",
            [alice.pk, view_task],
        ),
        "join a group": (
            "INSERT INTO accounts_user_groups (user_id, group_id) VALUES (%s, %s)",
            [alice.pk, group.pk],
        ),
        "give a group a permission": (
            "INSERT INTO auth_group_permissions (group_id, permission_id) "
            "VALUES (%s, %s)",
            [group.pk, change_user],
        ),
        "rename a permission": (
            "UPDATE auth_permission SET codename = 'view_task' WHERE id = %s",
            [change_user],
        ),
        "move a permission to another app": (
            "UPDATE django_content_type SET app_label = 'tasks' "
            "WHERE app_label = 'accounts'",
            [],
        ),
        "add a superuser": (
            "INSERT INTO accounts_user (username, email, password, is_staff, "
            "is_superuser, is_active, first_name, last_name, date_joined) "
            "VALUES ('mallory', 'm@example.com', '', true, true, true, '', '', now())",
            [],
        ),
        "set bob's password": (
            "UPDATE accounts_user SET password = 'md5$known$hash' WHERE id = %s",
            [bob.pk],
        ),
        "set bob's email (then reset his password)": (
            "UPDATE accounts_user SET email = 'alice+bob@example.com' WHERE id = %s",
            [bob.pk],
        ),
        "delete bob, and with him his tasks": (
            "DELETE FROM accounts_user WHERE id = %s",
            [bob.pk],
        ),
        "write the admin's history in bob's name": (
            "INSERT INTO django_admin_log (action_time, user_id, object_id, "
            "object_repr, action_flag, change_message) "
            "VALUES (now(), %s, '1', 'task 1', 3, '')",
            [bob.pk],
        ),
        "rewrite the admin's history": (
            "UPDATE django_admin_log SET change_message = 'nothing happened'",
            [],
        ),
        "erase the admin's history": ("DELETE FROM django_admin_log", []),
    }


@pytest.mark.parametrize(
    "scope", ["alice's proof", "no scope", "alice's proof with the staff flag"]
)
def test_an_injected_statement_cannot_raise_privileges_or_reach_another_account(
    alice_and_bob, runtime, scope
):
    alice, bob, group = alice_and_bob
    before = {user.pk: stored(user) for user in (alice, bob)}

    for name, (statement, params) in attacks(alice, bob, group).items():
        with runtime.transaction():
            if scope == "alice's proof":
                act_for(runtime, alice, staff=False)
            elif scope == "alice's proof with the staff flag":
                # Her proof is for no staff flag; the flag is signed.
                act_for(runtime, alice, staff=True, signed_staff="")
            assert refused(runtime, statement, params), name

    assert {user.pk: stored(user) for user in (alice, bob)} == before
    assert not User.objects.filter(username="mallory").exists()
    assert list(LogEntry.objects.values_list("change_message", flat=True)) == [""]
    with acting_as(bob):
        assert bob.tasks.count() == 2


def test_a_user_changes_their_own_account_but_not_its_staff_flags(
    alice_and_bob, runtime
):
    alice, bob, _ = alice_and_bob
    with runtime.transaction():
        act_for(runtime, alice, staff=False)
        runtime.execute(
            "UPDATE accounts_user SET email = 'new@example.com', first_name = 'Al', "
            "is_active = false WHERE id = %s",
            [alice.pk],
        )
        for flag in ("is_staff", "is_superuser"):
            assert refused(
                runtime,
                f"UPDATE accounts_user SET {flag} = true WHERE id = %s",
                [alice.pk],
            )

    assert stored(alice)["email"] == "new@example.com"
    assert stored(alice)["active"] is False


def test_an_account_is_activated_in_its_users_scope(alice_and_bob):
    # Sign-up with an email to confirm: the confirming view, anonymous until
    # then, saves in the user's scope (docs/api.md).
    pending = UserFactory(username="pending", is_active=False)
    pending.is_active = True
    with pytest.raises(ProgrammingError, match=f"user {pending.pk} may be changed"):
        pending.save(update_fields=["is_active"])

    with acting_as(pending):
        pending.save(update_fields=["is_active"])

    assert User.objects.get(pk=pending.pk).is_active


def test_staff_who_may_change_users_do_so_outside_the_admin(alice_and_bob):
    # An API's view for account managers: staff_scope(), as the admin's.
    _, bob, _ = alice_and_bob
    grant(UserFactory(username="manager", is_staff=True), "change_user")
    manager = User.objects.get(username="manager")
    bob.is_staff = True

    with staff_scope(manager):
        bob.save(update_fields=["is_staff"])

    assert stored(bob)["staff"] is True


def test_a_user_deletes_their_own_account_and_tasks(alice_and_bob, runtime):
    _, bob, _ = alice_and_bob
    with runtime.transaction():
        act_for(runtime, bob, staff=False)
        runtime.execute("DELETE FROM accounts_user WHERE id = %s", [bob.pk])

    assert not User.objects.filter(pk=bob.pk).exists()


def test_anyone_signs_up_and_logs_in(alice_and_bob, runtime):
    alice, _, _ = alice_and_bob
    with runtime.transaction():
        runtime.execute(
            "INSERT INTO accounts_user (username, email, password, is_staff, "
            "is_superuser, is_active, first_name, last_name, date_joined) "
            "VALUES ('carol', 'c@example.com', '', false, false, true, '', '', now())"
        )
        runtime.execute(
            "UPDATE accounts_user SET last_login = now() WHERE id = %s", [alice.pk]
        )

    assert User.objects.get(username="carol").is_active
    assert User.objects.get(pk=alice.pk).last_login is not None


@pytest.mark.parametrize(
    ("codenames", "may"),
    [
        ((), False),
        (("view_user",), False),
        (("view_task", "change_task"), False),
        (("change_user",), True),
    ],
    ids=["no permission", "view_user", "task permissions", "change_user"],
)
def test_staff_who_may_change_users_make_staff_in_the_admin(
    alice_and_bob, runtime, codenames, may
):
    alice, bob, _ = alice_and_bob
    staff = grant(UserFactory(username="manager", is_staff=True), *codenames)

    with runtime.transaction():
        act_for(runtime, staff, staff=True)
        made = not refused(
            runtime, "UPDATE accounts_user SET is_staff = true WHERE id = %s", [bob.pk]
        )

    assert made is may
    assert stored(bob)["staff"] is may


def test_staff_who_may_delete_users_delete_one(alice_and_bob, runtime):
    _, bob, _ = alice_and_bob
    staff = grant(UserFactory(username="manager", is_staff=True), "delete_user")

    with runtime.transaction():
        act_for(runtime, staff, staff=False)
        assert refused(runtime, "DELETE FROM accounts_user WHERE id = %s", [bob.pk])
        act_for(runtime, staff, staff=True)
        runtime.execute("DELETE FROM accounts_user WHERE id = %s", [bob.pk])

    assert not User.objects.filter(pk=bob.pk).exists()


def test_the_runtime_role_cannot_make_a_superuser_on_its_own():
    with pytest.raises(ProgrammingError, match="needs the staff scope of staff who"):
        User.objects.create_superuser("mallory", "m@example.com", "pw-123456")
    assert not User.objects.filter(username="mallory").exists()


# A password hash in an older format is hashed again at login, while the
# request is still anonymous (ownership/guards.py lets the row change in
# the user's own scope, which check_password() enters).


class OneRoundPBKDF2(PBKDF2PasswordHasher):
    """The newer format: PBKDF2, cheap enough for a test."""

    iterations = 1


@pytest.fixture
def upgraded_hashers(settings):
    settings.PASSWORD_HASHERS = [
        "tests.accounts.test_guards.OneRoundPBKDF2",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]


@pytest.fixture
def old_hash_user():
    user = UserFactory(username="carol")
    with acting_as(user):
        user.password = MD5PasswordHasher().encode(PASSWORD, "salt")
        user.save(update_fields=["password"])
    return user


@pytest.mark.usefixtures("upgraded_hashers")
def test_a_login_saves_the_upgraded_hash(old_hash_user):
    assert authenticate(username="carol", password=PASSWORD) == old_hash_user

    assert User.objects.get(pk=old_hash_user.pk).password.startswith("pbkdf2_sha256$1$")


@pytest.mark.usefixtures("upgraded_hashers")
def test_an_async_login_saves_the_upgraded_hash(old_hash_user):
    async def log_in():
        try:
            return await aauthenticate(username="carol", password=PASSWORD)
        finally:
            # The thread that ran the queries keeps its connection otherwise.
            await sync_to_async(connections.close_all)()

    assert asyncio.run(log_in()) == old_hash_user

    stored_hash = User.objects.get(pk=old_hash_user.pk).password
    assert stored_hash.startswith("pbkdf2_sha256$1$")


@pytest.mark.usefixtures("upgraded_hashers")
def test_a_login_inside_another_users_scope_checks_and_keeps_the_old_hash(
    old_hash_user, alice_and_bob
):
    alice, _, _ = alice_and_bob
    with acting_as(alice):
        assert authenticate(username="carol", password=PASSWORD) == old_hash_user
        assert authenticate(username="carol", password="wrong") is None

    assert User.objects.get(pk=old_hash_user.pk).password.startswith("md5$")


def test_delete_user_acts_for_that_user_only(alice_and_bob):
    alice, bob, _ = alice_and_bob
    with acting_as(alice), pytest.raises(ScopeConflict):
        delete_user(bob)
    assert User.objects.filter(pk=bob.pk).exists()

    delete_user(bob)
    assert not User.objects.filter(pk=bob.pk).exists()


def test_errors_name_what_is_needed(alice_and_bob, runtime):
    alice, bob, _ = alice_and_bob
    with runtime.transaction():
        act_for(runtime, alice, staff=False)
        with (
            pytest.raises(errors.InsufficientPrivilege) as raised,
            runtime.transaction(),
        ):
            runtime.execute("DELETE FROM accounts_user WHERE id = %s", [bob.pk])

    assert str(raised.value).startswith(
        f"user {bob.pk} may be deleted in that user's scope only (their request, "
        "or acting_as()), or in the staff scope of staff who may delete users"
    )


def test_a_password_reset_saves_in_the_users_scope(alice_and_bob):
    # Django's reset views save the password while the request is anonymous:
    # docs/api.md wraps form_valid() in acting_as(form.user).
    from django.contrib.auth.forms import SetPasswordForm

    alice, _, _ = alice_and_bob
    data = {"new_password1": "a new long passphrase", "new_password2": ""}
    data["new_password2"] = data["new_password1"]

    outside = SetPasswordForm(alice, data)
    assert outside.is_valid()
    with pytest.raises(ProgrammingError, match=f"user {alice.pk} may be changed"):
        outside.save()

    form = SetPasswordForm(User.objects.get(pk=alice.pk), data)
    assert form.is_valid()
    with acting_as(form.user):
        form.save()

    assert authenticate(username="alice", password="a new long passphrase") == alice


def test_a_sign_up_gets_a_new_id_whatever_it_asks_for(alice_and_bob, runtime):
    # An id chosen in advance could be a deleted user's, whose old session
    # cookies would log in to it, or one the sequence reaches later.
    alice, bob, _ = alice_and_bob
    with runtime.transaction():
        act_for(runtime, alice, staff=False)
        for wanted, name in [(bob.pk + 1000, "later"), (None, "again")]:
            if wanted is None:
                runtime.execute("DELETE FROM accounts_user WHERE id = %s", [alice.pk])
                wanted = alice.pk  # Deleted a statement ago.
            (given,) = runtime.execute(
                "INSERT INTO accounts_user (id, username, email, password, "
                "is_staff, is_superuser, is_active, first_name, last_name, "
                "date_joined) VALUES (%s, %s, %s, '', false, false, true, '', '', "
                "now()) RETURNING id",
                [wanted, name, f"{name}@example.com"],
            ).fetchone()
            assert given != wanted
            assert given > bob.pk


def test_staff_who_may_delete_users_delete_one_outside_the_admin(alice_and_bob):
    _, bob, _ = alice_and_bob
    grant(UserFactory(username="manager", is_staff=True), "delete_user")
    manager = User.objects.get(username="manager")

    with acting_as(manager, atomic=False), staff_scope(manager):
        delete_user(bob)

    assert not User.objects.filter(pk=bob.pk).exists()


def test_staff_scope_refuses_with_403_for_staff_who_may_do_neither(alice_and_bob):
    from django.core.exceptions import PermissionDenied

    clerk = UserFactory(username="clerk", is_staff=True)

    with pytest.raises(PermissionDenied, match="staff_scope"):
        staff_scope(clerk)
