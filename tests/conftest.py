import pytest

from tests.factories import TaskFactory, UserFactory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness would dominate the suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
