"""Staff and superusers for tests that run as the runtime role.

The database lets the runtime role make a user staff or superuser, or give
permissions, only in the staff scope of staff who may change users
(ownership/guards.py), as the admin does; the owner makes the first one.
So does the suite: ``root()`` is a superuser the owner commits on first use
in a test (the test's own transaction sees rows committed before each of
its statements), and ``forget_root()`` deletes it after the test, so that
no other test sees an extra user. ``UserFactory`` makes staff and
superusers in root's staff scope, and ``grant()`` gives permissions there.
"""

from __future__ import annotations

import os

import dj_database_url
import psycopg
from django.contrib.auth.models import Permission
from django.db import connection

from accounts.models import User
from ownership.scope import staff_scope

ROOT_USERNAME = "suite-root"
_made: list[str] = []


def _owner_connection() -> psycopg.Connection | None:
    """Return a connection to the test database as its owner, or None.

    None where the suite itself runs as the owner (one role, or SQLite):
    there nothing is guarded and the ORM makes root.
    """
    runtime = os.environ.get("TEST_RUNTIME_DATABASE_URL", "")
    if connection.vendor != "postgresql" or not runtime:
        return None
    owner = dj_database_url.parse(os.environ["DATABASE_URL"])
    here = connection.settings_dict
    if owner["USER"] == here["USER"]:
        return None
    return psycopg.connect(
        host=here["HOST"],
        port=here["PORT"] or 5432,
        dbname=here["NAME"],
        user=owner["USER"],
        password=owner["PASSWORD"] or None,
        autocommit=True,
    )


def root() -> User:
    """Return the suite's superuser, made (and committed) by the owner if missing."""
    found = User.objects.filter(username=ROOT_USERNAME).first()
    if found is not None:
        return found
    owner = _owner_connection()
    if owner is None:
        made = User.objects.create_superuser(
            ROOT_USERNAME, f"{ROOT_USERNAME}@example.com", None
        )
    else:
        with owner:
            owner.execute(
                "INSERT INTO accounts_user (username, email, password, is_staff, "
                "is_superuser, is_active, first_name, last_name, date_joined) "
                "VALUES (%s, %s, '!', true, true, true, '', '', now())",
                [ROOT_USERNAME, f"{ROOT_USERNAME}@example.com"],
            )
        made = User.objects.get(username=ROOT_USERNAME)
    _made.append(ROOT_USERNAME)
    return made


def forget_root() -> None:
    """Delete root after a test that made it as the owner."""
    if not _made:
        return
    _made.clear()
    owner = _owner_connection()
    if owner is None:
        return
    with owner:
        owner.execute("SET lock_timeout = '10s'")
        owner.execute("DELETE FROM accounts_user WHERE username = %s", [ROOT_USERNAME])


def as_root():
    """Return root's staff scope: where staff are made and permissions given."""
    return staff_scope(root())


def grant(user: User, *codenames: str) -> User:
    """Give `user` the permissions `codenames` (``view_task``...), as staff would."""
    with as_root():
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user
