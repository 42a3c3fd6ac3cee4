import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import TaskFactory, UserFactory
from tests.privileges import ROOT_USERNAME, grant

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_user_changelist")


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_user_list_shows_task_counts(staff_client, user, other_user):
    TaskFactory.create_batch(3, owner=user)

    response = staff_client.get(CHANGELIST)

    counts = {u.username: u._task_count for u in response.context["cl"].result_list}
    assert counts == {"admin": 0, "alice": 3, "bob": 0, ROOT_USERNAME: 0}


def test_user_list_query_count_does_not_grow_with_users(staff_client):
    UserFactory.create_batch(2)
    with CaptureQueriesContext(connection) as few:
        staff_client.get(CHANGELIST)

    for owner in UserFactory.create_batch(20):
        TaskFactory(owner=owner)
    with CaptureQueriesContext(connection) as many:
        staff_client.get(CHANGELIST)

    assert len(many) == len(few)


def test_user_list_links_to_the_users_tasks(staff_client, user):
    response = staff_client.get(CHANGELIST)

    expected = reverse("admin:tasks_task_changelist") + f"?owner__id__exact={user.pk}"
    assert expected in response.text


@pytest.mark.parametrize("page", ["add", "change"])
def test_user_pages_render_for_staff(staff_client, user, page):
    args = [user.pk] if page == "change" else []

    response = staff_client.get(reverse(f"admin:accounts_user_{page}", args=args))

    assert response.status_code == 200


def test_admin_can_add_a_user_with_email(staff_client):
    from accounts.models import User

    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "dave",
            "email": "dave@example.com",
            "password1": "a-long-enough-password-1",
            "password2": "a-long-enough-password-1",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    assert User.objects.get(username="dave").email == "dave@example.com"


def test_non_staff_cannot_open_the_user_list(client, user):
    client.force_login(user)

    assert client.get(CHANGELIST).status_code == 302


def test_user_change_page_links_to_their_tasks(staff_client, user):
    TaskFactory.create_batch(2, owner=user)

    response = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk]))

    assert "2 tasks of alice" in response.text


def test_deleting_a_user_with_many_tasks_summarises_them(
    staff_client, user, monkeypatch
):
    TaskFactory.create_batch(3, owner=user, title="hidden task")
    monkeypatch.setattr("tasks.admin.UserAdmin.DELETE_LIST_LIMIT", 2)

    response = staff_client.get(reverse("admin:accounts_user_delete", args=[user.pk]))

    assert response.status_code == 200
    assert "3 tasks of these users (not listed)" in response.text
    assert "hidden task" not in response.text


def test_deleting_a_user_in_the_admin_removes_their_tasks(staff_client, user, task):
    from tests.utils import stored_tasks

    other = TaskFactory()

    response = staff_client.post(
        reverse("admin:accounts_user_delete", args=[user.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert stored_tasks() == [other]


@pytest.fixture
def user_manager(client):
    """Staff who may view and delete users, but have no task permission."""
    staff = grant(
        UserFactory(username="manager", is_staff=True), "view_user", "delete_user"
    )
    client.force_login(staff)
    return client


def test_staff_without_task_permission_cannot_delete_a_users_tasks(user_manager, user):
    from tests.utils import stored_tasks

    TaskFactory.create_batch(3, owner=user)
    url = reverse("admin:accounts_user_delete", args=[user.pk])

    page = user_manager.get(url)
    response = user_manager.post(url, {"post": "yes"})

    assert page.context["perms_lacking"] == {"task"}
    assert response.status_code == 403
    assert len(stored_tasks(owner=user)) == 3


def test_staff_without_task_permission_see_no_task_counts(user_manager, user):
    TaskFactory.create_batch(2, owner=user)

    response = user_manager.get(CHANGELIST)

    assert response.status_code == 200
    assert "task_count" not in response.context["cl"].list_display


def staff_client_with(client, *codenames):
    staff = grant(UserFactory(username="staffer", is_staff=True), *codenames)
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "codenames",
    [("view_user", "delete_user"), ("view_user", "delete_user", "delete_task")],
    ids=["without-delete-task", "with-delete-task"],
)
def test_staff_without_task_view_permission_see_no_title_when_deleting_a_user(
    client, user, codenames
):
    TaskFactory(owner=user, title="alice private diary")
    TaskFactory(owner=user, title="alice salary talk")
    staff_client = staff_client_with(client, *codenames)

    response = staff_client.get(reverse("admin:accounts_user_delete", args=[user.pk]))

    assert response.status_code == 200
    assert "alice private diary" not in response.text
    assert "alice salary talk" not in response.text


def test_staff_who_may_delete_but_not_view_tasks_see_only_their_count(client, user):
    from tests.utils import stored_tasks

    TaskFactory.create_batch(2, owner=user)
    staff_client = staff_client_with(client, "delete_user", "delete_task")
    url = reverse("admin:accounts_user_delete", args=[user.pk])

    page = staff_client.get(url)
    response = staff_client.post(url, {"post": "yes"})

    # The database shows them no other user's task, not even to count it.
    assert "their tasks, if they have any (you may not view tasks)" in page.text
    assert page.context["perms_lacking"] == set()
    assert response.status_code == 302
    assert stored_tasks(owner_id=user.pk) == []


def test_staff_without_task_permission_may_not_delete_even_a_user_without_tasks(
    user_manager, user
):
    # Whether the user has tasks is hidden from them by the database itself,
    # so the deletion, which would cascade to any, needs tasks.delete_task.
    from accounts.models import User

    url = reverse("admin:accounts_user_delete", args=[user.pk])

    page = user_manager.get(url)
    response = user_manager.post(url, {"post": "yes"})

    assert page.context["perms_lacking"] == {"task"}
    assert response.status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_staff_who_may_view_tasks_see_the_titles_when_deleting_a_user(client, user):
    TaskFactory(owner=user, title="alice private diary")
    staff_client = staff_client_with(client, "delete_user", "view_task", "delete_task")

    response = staff_client.get(reverse("admin:accounts_user_delete", args=[user.pk]))

    assert "alice private diary" in response.text


@pytest.mark.parametrize(
    ("codenames", "status"),
    [(("view_user", "change_user"), 302), (("view_user",), 403)],
    ids=["change_user", "view_user only"],
)
def test_staff_who_may_change_users_make_another_user_staff(
    client, user, codenames, status
):
    # No task permission: the admin's staff flag comes from managing users,
    # and the database checks change_user itself (ownership/guards.py).
    from accounts.models import User

    manager = grant(UserFactory(username="manager", is_staff=True), *codenames)
    client.force_login(manager)
    joined = timezone.localtime(user.date_joined)

    response = client.post(
        reverse("admin:accounts_user_change", args=[user.pk]),
        {
            "username": user.username,
            "email": user.email,
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == status
    assert User.objects.get(pk=user.pk).is_staff is (status == 302)
