import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ownership.scope import staff_scope
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.privileges import grant
from tests.utils import stored_task, stored_tasks

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tasks_task_changelist")


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def changelist_queries(client, params=""):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST + params)
    assert response.status_code == 200
    return len(queries)


def test_changelist_renders_tasks_with_owner(staff_client, task):
    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    assert "Buy milk" in response.text
    assert "alice" in response.text


def test_changelist_query_count_does_not_grow_with_rows(staff_client):
    TaskFactory.create_batch(3)
    few = changelist_queries(staff_client)

    TaskFactory.create_batch(30)
    many = changelist_queries(staff_client)

    assert many == few


def test_changelist_search_by_title_and_owner_email(staff_client, task, other_task):
    by_title = staff_client.get(CHANGELIST, {"q": "milk"})
    by_email = staff_client.get(CHANGELIST, {"q": "bob@example"})

    assert list(by_title.context["cl"].result_list) == [task]
    assert list(by_email.context["cl"].result_list) == [other_task]


def test_changelist_filters_by_completed(staff_client, user):
    TaskFactory(owner=user, title="open one")
    done = TaskFactory(owner=user, title="done one", completed=True)

    response = staff_client.get(CHANGELIST, {"completed__exact": "1"})

    assert list(response.context["cl"].result_list) == [done]


@pytest.mark.parametrize(
    ("action", "expected"), [("mark_done", True), ("mark_not_done", False)]
)
def test_actions_change_exactly_the_selected_rows(staff_client, action, expected):
    selected = TaskFactory.create_batch(3, completed=not expected)
    untouched = TaskFactory.create_batch(2, completed=not expected)

    response = staff_client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [t.pk for t in selected]},
        follow=True,
    )

    assert response.status_code == 200
    assert "3 tasks marked as" in response.text
    assert set(stored_tasks(completed=expected)) == set(selected)
    assert all(stored_task(t.pk).completed is (not expected) for t in untouched)


def test_change_page_shows_read_only_timestamps(staff_client, task):
    response = staff_client.get(reverse("admin:tasks_task_change", args=[task.pk]))

    assert response.status_code == 200
    assert 'name="created_at"' not in response.text
    assert "Created at" in response.text


def test_add_page_renders(staff_client):
    assert staff_client.get(reverse("admin:tasks_task_add")).status_code == 200


def test_owner_autocomplete_finds_users(staff_client, user):
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "ali",
            "app_label": "tasks",
            "model_name": "task",
            "field_name": "owner",
        },
    )

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["alice"]


def test_non_staff_user_is_sent_to_the_login_page(client, user):
    client.force_login(user)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_staff_without_task_permission_is_refused(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    assert client.get(CHANGELIST).status_code == 403


def test_staff_with_view_permission_sees_the_list(client, task):
    staff = grant(UserFactory(is_staff=True), "view_task")
    client.force_login(staff)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert "Buy milk" in response.text


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_unfiltered_changelist_uses_the_planners_estimate(
    staff_client, user, monkeypatch, superuser_cursor
):
    from django.db import connection as db

    TaskFactory.create_batch(30, owner=user)
    # Only the owner (or a superuser) may ANALYZE; the data is committed.
    superuser_cursor.execute("ANALYZE tasks_task")
    monkeypatch.setattr("tasks.pagination.EXACT_COUNT_LIMIT", 10)

    with CaptureQueriesContext(db) as queries:
        response = staff_client.get(CHANGELIST)

    assert response.context["cl"].result_count == 30
    assert not any("COUNT(*)" in q["sql"] for q in queries.captured_queries)


def test_filtered_changelist_counts_exactly(staff_client, user, monkeypatch):
    TaskFactory.create_batch(3, owner=user, completed=True)
    TaskFactory.create_batch(2, owner=user)
    monkeypatch.setattr("tasks.pagination.EXACT_COUNT_LIMIT", 0)

    response = staff_client.get(CHANGELIST, {"completed__exact": "1"})

    assert response.context["cl"].result_count == 3


def test_owner_filter_from_the_user_list_link(staff_client, task, other_task, user):
    response = staff_client.get(CHANGELIST, {"owner__id__exact": user.pk})

    assert list(response.context["cl"].result_list) == [task]


@pytest.fixture
def task_adder(client):
    """Staff who may add tasks, and nothing else: no view, no change."""
    staff = grant(UserFactory(username="adder", is_staff=True), "add_task")
    client.force_login(staff)
    client.staff = staff
    return client


def add_task_form(owner, title="Plan the offsite"):
    return {"title": title, "description": "", "owner": owner.pk}


@pytest.mark.postgresql
def test_adding_a_task_for_another_owner_without_view_permission_is_a_form_error(
    task_adder, other_user
):
    response = task_adder.post(
        reverse("admin:tasks_task_add"), add_task_form(other_user)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["owner"]
    assert stored_tasks() == []


@pytest.mark.postgresql
def test_staff_with_only_add_permission_can_add_their_own_task(task_adder):
    response = task_adder.post(
        reverse("admin:tasks_task_add"), add_task_form(task_adder.staff)
    )

    assert response.status_code == 302
    assert [(t.title, t.owner) for t in stored_tasks()] == [
        ("Plan the offsite", task_adder.staff)
    ]


def test_add_page_offers_staff_without_view_permission_only_themselves(
    task_adder, other_user
):
    response = task_adder.get(reverse("admin:tasks_task_add"))

    owner = response.context["adminform"].form.fields["owner"]
    assert list(owner.queryset) == [task_adder.staff]
    assert response.context["adminform"].form.initial["owner"] == task_adder.staff.pk
    assert "bob" not in response.text


class VisibleTasksProbe:
    """Middleware: record every task title the database shows a request.

    Installed right after ``ActingUserMiddleware``, it reads tasks in the
    scope the request is served in: what any admin view, form or template
    of that request could show.
    """

    seen: list[str] = []

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        VisibleTasksProbe.seen.extend(Task.objects.values_list("title", flat=True))
        return response


@pytest.fixture
def probe(settings):
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("ownership.middleware.ActingUserMiddleware") + 1,
        f"{__name__}.VisibleTasksProbe",
    )
    settings.MIDDLEWARE = middleware
    VisibleTasksProbe.seen = []
    return VisibleTasksProbe


def no_task_permission_client(client, kind):
    """Log in a user of `kind` who has no task view or change permission."""
    if kind == "non-staff":
        visitor = UserFactory(username="visitor")
    else:
        visitor = UserFactory(username="visitor", is_staff=True)
    if kind == "staff-managing-users":
        grant(visitor, "view_user", "change_user", "delete_user", "add_task")
    client.force_login(visitor)
    return visitor


def admin_urls(task, owner):
    return [
        reverse("admin:index"),
        CHANGELIST,
        CHANGELIST + f"?owner__id__exact={owner.pk}",
        CHANGELIST + "?q=secret",
        reverse("admin:tasks_task_change", args=[task.pk]),
        reverse("admin:tasks_task_history", args=[task.pk]),
        reverse("admin:tasks_task_delete", args=[task.pk]),
        reverse("admin:tasks_task_add"),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_change", args=[owner.pk]),
        reverse("admin:accounts_user_delete", args=[owner.pk]),
    ]


@pytest.mark.postgresql
@pytest.mark.parametrize(
    "kind", ["non-staff", "staff-without-permissions", "staff-managing-users"]
)
def test_admin_shows_users_without_task_permission_no_other_users_task(
    client, probe, other_task, other_user, kind
):
    visitor = no_task_permission_client(client, kind)
    TaskFactory(owner=visitor, title="visitor own task")

    for url in admin_urls(other_task, other_user):
        response = client.get(url, follow=True)

        assert response.status_code in (200, 403, 404), url
        assert "secret plan" not in response.text, url
        if url.startswith(CHANGELIST) and not url.endswith("/add/"):
            # The task pages themselves are refused or redirected away.
            assert response.redirect_chain or response.status_code != 200, url
    assert "Bob's secret plan" not in probe.seen
    assert set(probe.seen) == {"visitor own task"}


def test_the_admin_history_names_tasks_by_id_not_title(staff_client, task):
    from django.contrib.admin.models import LogEntry

    url = reverse("admin:tasks_task_change", args=[task.pk])
    form = {
        "title": "Buy oat milk",
        "description": "",
        "owner": task.owner_id,
    }
    changed = staff_client.post(url, form)
    deleted = staff_client.post(
        reverse("admin:tasks_task_delete", args=[task.pk]), {"post": "yes"}
    )

    assert (changed.status_code, deleted.status_code) == (302, 302)
    entries = LogEntry.objects.filter(object_id=str(task.pk))
    assert sorted(e.object_repr for e in entries) == [f"task {task.pk}"] * 2
    assert {e.action_flag for e in entries} == {2, 3}


def changelist_queryset(admin_user, query_string: str = ""):
    """Return the queryset the task changelist builds for `query_string`."""
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get(CHANGELIST + query_string)
    request.user = admin_user
    # It counts the rows: in the staff scope, as a request of the admin would.
    with staff_scope(admin_user):
        return admin.site.get_model_admin(Task).get_changelist_instance(request)


def page_plan(changelist, user) -> str:
    """Return the plan of the changelist's first page in `user`'s staff scope.

    As the runtime role, under row-level security. On a table of a few rows
    a sequential scan and a sort cost less than any index, so sequential
    scans are turned off; ``make bench`` shows the same plan chosen
    unprompted at a million rows.
    """
    with staff_scope(user):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        return changelist.queryset[: changelist.list_per_page].explain()


@pytest.mark.postgresql
def test_changelist_pages_newest_first_through_the_index(admin_user, task, user):
    TaskFactory.create_batch(3, owner=user)

    explained = page_plan(changelist_queryset(admin_user), admin_user)

    assert "Index Scan using task_created_idx on tasks_task" in explained
    assert "Sort" not in explained


@pytest.mark.postgresql
def test_date_filter_is_an_index_condition_under_row_level_security(admin_user, task):
    changelist = changelist_queryset(admin_user)
    today = date_filter_links(changelist)["Today"]

    explained = page_plan(changelist_queryset(admin_user, today), admin_user)

    assert "Index Scan using task_created_idx on tasks_task" in explained
    assert "Index Cond: ((created_at >=" in explained


def date_filter_links(changelist) -> dict[str, str]:
    (dates,) = [s for s in changelist.filter_specs if s.title == "created at"]
    return {c["display"]: c["query_string"] for c in dates.choices(changelist)}


def test_admin_search_matches_each_word_in_title_or_owner(
    staff_client, task, other_task, user
):
    TaskFactory(owner=user, title="Plan the trip")

    both = staff_client.get(CHANGELIST, {"q": 'alice "milk"'}).context["cl"]
    nobody = staff_client.get(CHANGELIST, {"q": "milk bob"}).context["cl"]

    assert list(both.result_list) == [task]
    assert list(nobody.result_list) == []


def test_changelist_has_date_ranges_and_no_date_hierarchy(staff_client, task):
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(CHANGELIST)

    changelist = response.context["cl"]
    assert changelist.date_hierarchy is None
    assert not any("DISTINCT" in q["sql"] for q in queries.captured_queries)
    links = date_filter_links(changelist)
    assert list(links)[:5] == [
        "Any date",
        "Today",
        "Past 7 days",
        "This month",
        "This year",
    ]
    today = staff_client.get(CHANGELIST + links["Today"]).context["cl"]
    assert list(today.result_list) == [task]


def staff_client_with(client, *codenames):
    staff = grant(UserFactory(username="staffer", is_staff=True), *codenames)
    client.force_login(staff)
    return client


def offered_actions(client) -> set[str]:
    form = client.get(CHANGELIST).context["action_form"]
    if form is None:  # No action at all: Django draws no action form.
        return set()
    return {name for name, _ in form.fields["action"].choices if name}


def test_staff_who_may_only_view_tasks_are_offered_no_action(client, task):
    viewer = staff_client_with(client, "view_task")

    assert offered_actions(viewer) == set()


def test_staff_who_may_change_tasks_are_offered_the_actions(client, task):
    changer = staff_client_with(client, "view_task", "change_task")

    assert offered_actions(changer) == {"mark_done", "mark_not_done"}


@pytest.mark.parametrize("action", ["mark_done", "mark_not_done"])
def test_an_action_posted_by_staff_who_may_only_view_changes_nothing(
    client, user, action
):
    tasks = [TaskFactory(owner=user), TaskFactory(owner=user, completed=True)]
    before = {t.pk: (t.completed, t.updated_at) for t in stored_tasks()}
    viewer = staff_client_with(client, "view_task")

    response = viewer.post(
        CHANGELIST,
        {"action": action, "_selected_action": [t.pk for t in tasks]},
        follow=True,
    )

    assert response.status_code == 200
    assert "marked as" not in response.text
    assert {t.pk: (t.completed, t.updated_at) for t in stored_tasks()} == before


def searched(client, term: str) -> list[Task]:
    return list(client.get(CHANGELIST, {"q": term}).context["cl"].result_list)


def test_staff_who_may_not_view_users_cannot_search_tasks_by_owner_email(
    client, task, other_task
):
    viewer = staff_client_with(client, "view_task")

    assert searched(viewer, "bob@example") == []
    assert searched(viewer, "example") == []
    # The username is in the owner column already: searching it tells no more.
    assert searched(viewer, "bob") == [other_task]


@pytest.mark.parametrize("users_permission", ["view_user", "change_user"])
def test_staff_who_may_view_users_search_tasks_by_owner_email(
    client, task, other_task, users_permission
):
    viewer = staff_client_with(client, "view_task", users_permission)

    assert searched(viewer, "bob@example") == [other_task]
    assert searched(viewer, '"bob@example" plan') == [other_task]


def test_search_fields_name_the_owner_email_only_for_staff_who_may_view_users(
    rf, admin_user
):
    from django.contrib import admin

    staff = grant(UserFactory(is_staff=True), "view_task")
    model_admin = admin.site.get_model_admin(Task)
    request = rf.get(CHANGELIST)

    request.user = staff
    assert model_admin.get_search_fields(request) == ("title", "owner__username")
    request.user = admin_user
    assert "owner__email" in model_admin.get_search_fields(request)
