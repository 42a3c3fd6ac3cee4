"""A plain DRF API acts for whoever DRF authenticates, and nobody else.

The views (tests/api/views.py) are written the ordinary way: a
ModelViewSet over ``Task.objects.all()``, ``request.user.tasks``, the
services with their exceptions left to the project's handler. What each
request saw and changed is checked against the table as a superuser.
"""

import base64

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework_simplejwt.tokens import AccessToken

from tests.factories import TaskFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.api.urls"),
    pytest.mark.isolation,
    # Row-level security is what keeps Task.objects.all() to the user.
    pytest.mark.postgresql,
]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def people():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    for owner, titles in [(alice, "a1 a2"), (bob, "b1 b2 b3"), (staff, "s1")]:
        for title in titles.split():
            TaskFactory(owner=owner, title=title)
    return {"alice": alice, "bob": bob, "staff": staff}


def token_client(user):
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def jwt_client(user):
    return Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")


def basic_client(user):
    pair = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {pair}")


def session_client(user):
    client = Client()
    client.force_login(user)
    return client


CLIENTS = {
    "session": session_client,
    "token": token_client,
    "jwt": jwt_client,
    "basic": basic_client,
}


def rows(superuser_cursor, user):
    superuser_cursor.execute(
        "SELECT title, completed FROM tasks_task WHERE owner_id = %s ORDER BY title",
        [user.pk],
    )
    return superuser_cursor.fetchall()


@pytest.mark.parametrize("how", CLIENTS)
def test_each_user_lists_exactly_their_own_tasks(people, how, superuser_cursor):
    for name, user in people.items():
        response = CLIENTS[how](user).get("/drf/tasks/")

        assert response.status_code == 200, response.content
        listed = sorted((t["title"], t["completed"]) for t in response.json())
        assert listed == rows(superuser_cursor, user), name
        assert {t["owner"] for t in response.json()} == {user.pk}


@pytest.mark.parametrize("how", CLIENTS)
def test_create_retrieve_update_and_delete_act_for_the_authenticated_user(
    people, how, superuser_cursor
):
    alice, bob = people["alice"], people["bob"]
    client = CLIENTS[how](alice)
    if how == "session":
        client = Client(enforce_csrf_checks=False)
        client.force_login(alice)

    created = client.post(
        "/drf/tasks/",
        {"title": "new", "description": "d"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["owner"] == alice.pk

    assert client.get(f"/drf/tasks/{pk}/").json()["title"] == "new"
    patched = client.patch(
        f"/drf/tasks/{pk}/", {"completed": True}, content_type="application/json"
    )
    assert patched.status_code == 200, patched.content
    assert ("new", True) in rows(superuser_cursor, alice)

    deleted = client.delete(f"/drf/tasks/{pk}/")
    assert deleted.status_code == 204
    assert ("new", True) not in rows(superuser_cursor, alice)
    assert len(rows(superuser_cursor, bob)) == 3


@pytest.mark.parametrize("how", CLIENTS)
def test_another_users_task_is_not_found_and_stays_as_it_was(
    people, how, superuser_cursor
):
    bob = people["bob"]
    superuser_cursor.execute(
        "SELECT id FROM tasks_task WHERE owner_id = %s LIMIT 1", [bob.pk]
    )
    (bobs,) = superuser_cursor.fetchone()
    client = CLIENTS[how](people["alice"])
    before = rows(superuser_cursor, bob)

    answers = [
        client.get(f"/drf/tasks/{bobs}/").status_code,
        client.patch(
            f"/drf/tasks/{bobs}/", {"title": "x"}, content_type="application/json"
        ).status_code,
        client.delete(f"/drf/tasks/{bobs}/").status_code,
        client.get(f"/drf/service/{bobs}/").status_code,
        client.delete(f"/drf/service/{bobs}/").status_code,
    ]

    assert answers == [404] * 5
    assert rows(superuser_cursor, bob) == before


@pytest.mark.parametrize("how", CLIENTS)
def test_reverse_relation_and_owner_filter_see_the_users_rows(people, how):
    response = CLIENTS[how](people["bob"]).get("/drf/mine/")

    assert response.json() == {"related": ["b1", "b2", "b3"], "filtered": 3}


@pytest.mark.parametrize("how", CLIENTS)
def test_anonymous_requests_see_nothing_and_write_nothing(
    people, how, superuser_cursor
):
    client = Client()

    assert client.get("/drf/tasks/").status_code in {401, 403}
    assert client.post("/drf/tasks/", {"title": "x"}).status_code in {401, 403}
    superuser_cursor.execute("SELECT count(*) FROM tasks_task")
    assert superuser_cursor.fetchone() == (6,)


@pytest.mark.parametrize("header", ["token", "jwt", "basic"])
@pytest.mark.parametrize("path", ["/drf/tasks/", "/drf/session-first/", "/drf/mine/"])
def test_a_session_of_one_user_and_credentials_of_another_are_refused(
    people, header, path, superuser_cursor
):
    client = CLIENTS[header](people["bob"])
    client.force_login(people["alice"])

    response = client.get(path)

    assert response.status_code == 403
    assert "one user" in response.json()["detail"]
    assert "alice" not in response.text
    assert "bob" not in response.text


def test_a_service_asked_for_another_users_tasks_is_refused(people):
    response = token_client(people["alice"]).get(
        f"/drf/users/{people['bob'].pk}/tasks/"
    )

    assert response.status_code == 403


def test_service_errors_are_http_answers(people):
    client = token_client(people["alice"])
    task = TaskFactory(owner=people["alice"], title="mine")

    invalid = client.patch(
        f"/drf/service/{task.pk}/", {"title": " "}, content_type="application/json"
    )
    unknown = client.get("/drf/service/999999999/")

    assert invalid.status_code == 400
    assert list(invalid.json()) == ["title"]
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not found."}


def test_a_serializer_error_is_a_400_and_saves_nothing(people, superuser_cursor):
    response = token_client(people["alice"]).post(
        "/drf/tasks/", {"title": ""}, content_type="application/json"
    )

    assert response.status_code == 400
    assert len(rows(superuser_cursor, people["alice"])) == 2
