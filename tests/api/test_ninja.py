"""django-ninja: a token auth that returns the user is all the scope needs."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import TaskFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.api.urls"),
    pytest.mark.isolation,
    # Row-level security is what keeps Task.objects.all() to the user.
    pytest.mark.postgresql,
]


@pytest.fixture
def alice_and_bob():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    TaskFactory(owner=alice, title="a1")
    TaskFactory(owner=bob, title="b1")
    TaskFactory(owner=bob, title="b2")
    return alice, bob


def bearer(user):
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token.key}")


@pytest.mark.parametrize("path", ["/ninja/tasks", "/ninja/async-tasks"])
def test_each_user_lists_their_own_tasks(alice_and_bob, path):
    alice, bob = alice_and_bob

    assert [t["title"] for t in bearer(alice).get(path).json()] == ["a1"]
    assert sorted(t["title"] for t in bearer(bob).get(path).json()) == ["b1", "b2"]
    assert Client().get(path).status_code == 401


def test_another_users_task_is_not_found(alice_and_bob):
    alice, bob = alice_and_bob
    bobs = TaskFactory(owner=bob, title="b3")

    response = bearer(alice).get(f"/ninja/tasks/{bobs.pk}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_session_of_another_user_is_refused(alice_and_bob):
    alice, bob = alice_and_bob
    client = bearer(bob)
    client.force_login(alice)

    assert client.get("/ninja/tasks").status_code == 403
