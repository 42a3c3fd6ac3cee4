"""get_tasks answers from fixed SQL; it must give exactly what the ORM gives."""

import pytest
from django.db.models import Q

from tasks import services
from tasks.models import Task
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks(user, other_user):
    TaskFactory.create_batch(7, owner=user)
    TaskFactory.create_batch(5, owner=user, completed=True)
    TaskFactory.create_batch(4, owner=other_user)


def orm(user, completed):
    """The same query through the ORM alone."""
    tasks = Task.objects.for_owner(user)
    if completed is not None:
        tasks = tasks.filter(completed=completed)
    return tasks.order_by("-created_at", "-id")


def fields(tasks):
    return [
        (
            t.pk,
            t.title,
            t.description,
            t.completed,
            t.created_at,
            t.updated_at,
            t.owner_id,
        )
        for t in tasks
    ]


@pytest.mark.usefixtures("tasks")
@pytest.mark.parametrize("completed", [None, True, False])
@pytest.mark.parametrize(
    "window",
    [
        slice(None, None),
        slice(None, 3),
        slice(2, 6),
        slice(4, None),
        slice(3, 3),
        slice(50, 60),
        slice(None, None, 2),
        slice(1, 9, 3),
    ],
)
def test_pages_match_the_orm(user, completed, window):
    fast = list(services.get_tasks(user, completed=completed)[window])
    with_orm = list(orm(user, completed)[window])

    assert fields(fast) == fields(with_orm)
    assert all(not task._state.adding and task._state.db == "default" for task in fast)


@pytest.mark.usefixtures("tasks")
def test_slicing_a_slice_matches_the_orm(user):
    fast = list(services.get_tasks(user)[2:10][1:4])

    assert fields(fast) == fields(list(orm(user, None)[2:10][1:4]))


@pytest.mark.usefixtures("tasks")
def test_chained_calls_fall_back_to_the_orm(user):
    tasks = services.get_tasks(user, completed=False)
    first_title = list(tasks)[0].title

    narrowed = tasks.filter(~Q(title=first_title))

    assert narrowed._fast_fetch is None
    assert first_title not in [t.title for t in narrowed]
    assert tasks.count() == 7
    assert set(tasks.values_list("owner_id", flat=True)) == {user.pk}
    assert tasks.exists()


@pytest.mark.usefixtures("tasks")
def test_indexing_and_iteration_work(user):
    tasks = services.get_tasks(user)

    assert tasks[0] == list(orm(user, None))[0]
    assert len(tasks) == 12
    assert bool(tasks)


@pytest.mark.usefixtures("tasks")
def test_the_orm_query_behind_it_is_still_complete(user):
    tasks = services.get_tasks(user, completed=True)

    sql = str(tasks.query)

    assert '"owner_id" =' in sql
    assert "completed" in sql
    assert tasks[:3].count() == 3
    assert tasks[2:].exists()
    assert services.get_tasks(user)[:4].count() == 4
    with pytest.raises(TypeError, match="slice"):
        tasks[:2].filter(title="x")


@pytest.mark.usefixtures("tasks")
def test_other_users_tasks_never_appear_in_any_slice(user, other_user):
    for window in (slice(None, None), slice(None, 50), slice(3, None)):
        owners = {task.owner_id for task in services.get_tasks(other_user)[window]}
        assert owners <= {other_user.pk}
    assert len(services.get_tasks(other_user)) == 4


@pytest.mark.usefixtures("tasks")
def test_an_assigned_query_replaces_the_fast_path(user):
    tasks = services.get_tasks(user)

    tasks.query = Task.objects.filter(pk=-1).query

    assert list(tasks) == []


@pytest.mark.usefixtures("tasks")
def test_slicing_never_exposes_an_unfiltered_query(user):
    tasks = services.get_tasks(user, completed=False)
    seen = []

    class Start:
        """A slice bound that looks at the queryset while it is sliced."""

        def __index__(self):
            seen.append(tasks.count())
            return 0

        __int__ = __index__

        def __lt__(self, other):
            return False

    tasks[Start() : 1]

    assert seen == [7]
