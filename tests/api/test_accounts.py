"""Account endpoints written the DRF way work with the account guards.

What docs/api.md "Accounts" tells the next phase to write (tests/api/
accounts.py), driven over HTTP with token authentication; what each did is
read back from the database.
"""

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.tokens import default_token_generator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ownership.scope import acting_as
from tests.factories import TaskFactory, UserFactory
from tests.privileges import grant

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.api.accounts"),
    pytest.mark.postgresql,
]

User = get_user_model()


def client_of(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_anyone_signs_up():
    response = APIClient().post(
        "/signup/",
        {"username": "carol", "email": "carol@example.com", "password": "a long one"},
    )

    assert response.status_code == 201, response.content
    assert (
        authenticate(username="carol", password="a long one").pk
        == (response.json()["id"])
    )


def test_a_user_changes_their_profile_but_not_their_staff_flag():
    alice = UserFactory(username="alice")

    response = client_of(alice).patch(
        "/me/", {"email": "alice@example.org", "is_staff": True}, format="json"
    )

    assert response.status_code == 200, response.content
    stored = User.objects.get(pk=alice.pk)
    assert (stored.email, stored.is_staff) == ("alice@example.org", False)


def test_a_user_closes_their_account_and_their_tasks_go_with_it():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    TaskFactory(owner=alice)
    TaskFactory(owner=bob)

    response = client_of(alice).delete("/me/")

    assert response.status_code == 204
    assert list(User.objects.values_list("username", flat=True)) == ["bob"]
    with acting_as(bob):
        assert bob.tasks.count() == 1


def test_a_password_reset_confirmed_by_token_saves_the_new_password():
    alice = UserFactory(username="alice")
    token = default_token_generator.make_token(alice)
    client = APIClient()

    wrong = client.post("/reset/", {"user": alice.pk, "token": "x", "password": "p"})
    right = client.post(
        "/reset/", {"user": alice.pk, "token": token, "password": "a new passphrase"}
    )
    again = client.post(
        "/reset/", {"user": alice.pk, "token": token, "password": "another one"}
    )

    assert (wrong.status_code, right.status_code, again.status_code) == (400, 204, 400)
    assert authenticate(username="alice", password="a new passphrase") == alice


@pytest.mark.parametrize(
    ("codenames", "status"),
    [(("change_user",), 200), ((), 403)],
    ids=["account manager", "staff who may not"],
)
def test_an_account_manager_makes_staff_in_their_staff_scope(codenames, status):
    bob = UserFactory(username="bob")
    manager = grant(UserFactory(username="manager", is_staff=True), *codenames)

    response = client_of(manager).post(f"/users/{bob.pk}/staff/")

    assert response.status_code == status, response.content
    assert User.objects.get(pk=bob.pk).is_staff is (status == 200)
