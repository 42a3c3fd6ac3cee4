"""The database's staff check and Django's ``has_perm`` give the same answers.

The staff scope's policies ask ``todoproject_staff_may`` (ownership/policies.py),
which reads Django's auth tables in SQL; the admin and ``staff_scope()`` ask
``user.has_perm()``, that is ``ModelBackend``, through
``ownership.permissions.may_see_all_tasks``. Two sources of truth for one
question: these tests hold them equal over users with direct permissions,
permissions through one group or several, superusers, inactive and non-staff
users, for each task permission, as what the runtime role may see and write
of another user's task in the staff scope.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import psycopg
import pytest
from django.contrib.auth import get_backends, get_permission_codename, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ownership.permissions import may_see_all_tasks
from ownership.policies import STAFF_FUNCTION
from ownership.scope import Scope, in_scope, staff_scope
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.privileges import as_root

pytestmark = [pytest.mark.postgresql, pytest.mark.isolation, pytest.mark.django_db]

OPTS = Task._meta
ADD, CHANGE, DELETE, VIEW = (
    get_permission_codename(action, OPTS)
    for action in ("add", "change", "delete", "view")
)
CODENAMES = (VIEW, CHANGE, ADD, DELETE)
EVERY = CODENAMES


@dataclass(frozen=True)
class Case:
    """A user to make: their flags, direct permissions and groups' permissions."""

    is_staff: bool = True
    is_active: bool = True
    is_superuser: bool = False
    direct: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    # Task codenames held on a model of another app (an app_label other
    # than the tasks app's): "notes.view_task" is not "tasks.view_task".
    elsewhere: tuple[str, ...] = ()


CASES = {
    "non-staff with every permission directly": Case(is_staff=False, direct=EVERY),
    "non-staff with every permission through a group": Case(
        is_staff=False, groups=(EVERY,)
    ),
    "staff without any task permission": Case(),
    "staff in a group without any permission": Case(groups=((),)),
    **{f"staff with {name} directly": Case(direct=(name,)) for name in CODENAMES},
    **{
        f"staff with {name} through a group": Case(groups=((name,),))
        for name in CODENAMES
    },
    "staff with permissions spread over several groups": Case(
        groups=((VIEW,), (DELETE,), ())
    ),
    "staff with the same permission directly and through two groups": Case(
        direct=(CHANGE,), groups=((CHANGE,), (CHANGE, ADD))
    ),
    "staff with direct and group permissions": Case(direct=(ADD,), groups=((VIEW,),)),
    "staff with another app's permissions of the same codenames": Case(elsewhere=EVERY),
    "active staff superuser without permissions": Case(is_superuser=True),
    "superuser who is not staff": Case(is_staff=False, is_superuser=True),
    "inactive staff with every permission directly": Case(
        is_active=False, direct=EVERY
    ),
    "inactive staff with every permission through groups": Case(
        is_active=False, groups=((VIEW, CHANGE), (ADD, DELETE))
    ),
    "inactive staff superuser": Case(is_active=False, is_superuser=True),
}


def permissions(codenames) -> list[Permission]:
    return list(
        Permission.objects.filter(
            content_type__app_label=OPTS.app_label, codename__in=codenames
        )
    )


def make_user(case: Case):
    # The auth tables change in the staff scope of staff who may change
    # users (ownership/guards.py).
    with as_root():
        user = UserFactory(
            is_staff=case.is_staff,
            is_active=case.is_active,
            is_superuser=case.is_superuser,
        )
        user.user_permissions.add(*permissions(case.direct))
        for number, codenames in enumerate(case.groups):
            group = Group.objects.create(name=f"{user.username} {number}")
            group.permissions.add(*permissions(codenames))
            user.groups.add(group)
        if case.elsewhere:
            other_app, _ = ContentType.objects.get_or_create(
                app_label="notes", model=OPTS.model_name
            )
            user.user_permissions.add(
                *(
                    Permission.objects.create(
                        codename=name, name=name, content_type=other_app
                    )
                    for name in case.elsewhere
                )
            )
        # A fresh instance: has_perm() caches what it read on the object.
        return get_user_model().objects.get(pk=user.pk)


def admin_may(user, codename: str) -> bool:
    """Django's answer: the admin's own gate, then ``ModelBackend``."""
    # AdminSite.has_permission() lets in active staff only; ModelAdmin's
    # has_<action>_permission() then asks has_perm("<app_label>.<codename>").
    return (
        user.is_active
        and user.is_staff
        and user.has_perm(f"{OPTS.app_label}.{codename}")
    )


@pytest.fixture
def victims_task():
    """A task of someone else, which only the staff policies can reach."""
    return TaskFactory(owner=UserFactory(username="victim"))


def the_staff_scope_of(user):
    """``staff_scope(user)``, or, where it refuses, the same settings by hand.

    The database cannot tell the two apart: an injected statement can set
    the staff scope for any user id, so the database's answer must be right
    for every user, not only for those ``staff_scope()`` lets in.
    """
    try:
        return staff_scope(user), False
    except PermissionError:
        return in_scope(Scope(user_id=user.pk, name=user.username, staff=True)), True


def allowed(sql: str, params: list) -> bool:
    """Whether `sql` reaches exactly one row; undo whatever it wrote."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            reached = cursor.fetchone()[0] if cursor.description else cursor.rowcount
            transaction.set_rollback(True)
    except DatabaseError as exc:
        # Only the policies' refusal counts as "no": a mistake in the SQL
        # here must fail the test, not pass as a refusal.
        if not isinstance(exc.__cause__, psycopg.errors.InsufficientPrivilege):
            raise
        return False
    return reached == 1


def what_the_database_allows(task: Task) -> dict[str, bool]:
    table = OPTS.db_table
    now = timezone.now()
    return {
        "see": allowed(f"SELECT count(*) FROM {table} WHERE id = %s", [task.pk]),
        "add": allowed(
            f"INSERT INTO {table} "
            "(title, description, completed, owner_id, created_at, updated_at) "
            "VALUES ('Planted', '', false, %s, %s, %s)",
            [task.owner_id, now, now],
        ),
        "change": allowed(
            f"UPDATE {table} SET completed = NOT completed WHERE id = %s", [task.pk]
        ),
        "delete": allowed(f"DELETE FROM {table} WHERE id = %s", [task.pk]),
    }


def what_django_allows(user) -> dict[str, bool]:
    return {
        "see": may_see_all_tasks(user),
        "add": admin_may(user, ADD),
        "change": admin_may(user, CHANGE),
        # A DELETE that names its row reads it, so PostgreSQL applies the
        # SELECT policy too: deleting another's task takes seeing it, as in
        # the admin, whose delete view finds the task through get_queryset()
        # before it asks for the delete permission.
        "delete": may_see_all_tasks(user) and admin_may(user, DELETE),
    }


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_staff_scope_allows_what_has_perm_allows(case, victims_task):
    user = make_user(case)
    scope, refused = the_staff_scope_of(user)

    with scope:
        allows = what_the_database_allows(victims_task)

    assert allows == what_django_allows(user)
    # staff_scope() lets in exactly those the database shows every task.
    assert (not refused) == allows["see"]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_staff_function_answers_as_has_perm_for_any_codenames(case):
    user = make_user(case)
    subsets = [
        list(names)
        for size in range(1, len(CODENAMES) + 1)
        for names in itertools.combinations(CODENAMES, size)
    ]
    scope, _ = the_staff_scope_of(user)

    with scope, connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join([f"{STAFF_FUNCTION}(%s::text[])"] * len(subsets)),
            subsets,
        )
        says = dict(zip(map(tuple, subsets), cursor.fetchone(), strict=True))

    assert says == {
        tuple(names): any(admin_may(user, name) for name in names) for names in subsets
    }


def test_a_permission_taken_away_counts_for_the_database_at_once(victims_task):
    user = make_user(Case(groups=((VIEW,),)))
    with staff_scope(user):
        assert what_the_database_allows(victims_task)["see"]
        with as_root():
            user.groups.get().permissions.clear()

        # The database reads the auth tables at each statement; Django, for
        # a fresh instance (the next request), says the same.
        assert not what_the_database_allows(victims_task)["see"]
        fresh = get_user_model().objects.get(pk=user.pk)
        assert not may_see_all_tasks(fresh)


def test_permissions_come_from_model_backend_alone():
    # The SQL function mirrors ModelBackend; a backend that grants
    # permissions another way would make has_perm() say more than the
    # database does (or less), unseen by the cases above.
    assert [type(backend) for backend in get_backends()] == [ModelBackend]
