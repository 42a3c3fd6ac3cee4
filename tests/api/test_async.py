"""Async views read as the request's user, in every async way Django offers."""

import pytest
from django.test import AsyncClient

from tests.factories import TaskFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.api.urls"),
    pytest.mark.isolation,
    # Row-level security is what keeps Task.objects.all() to the user.
    pytest.mark.postgresql,
    pytest.mark.anyio,
]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def alice_and_bob():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    for title in ("b", "a", "c"):
        TaskFactory(owner=alice, title=title)
    TaskFactory(owner=bob, title="bobs")
    return alice, bob


async def logged_in(user):
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def test_an_async_view_reads_the_logged_in_users_tasks(alice_and_bob):
    alice, bob = alice_and_bob

    as_alice = (await (await logged_in(alice)).get("/async/tasks/")).json()
    as_bob = (await (await logged_in(bob)).get("/async/tasks/")).json()

    assert as_alice == {
        "titles": ["a", "b", "c"],
        "streamed": ["a", "b", "c"],
        "count": 3,
        "first": "a",
    }
    assert as_bob == {
        "titles": ["bobs"],
        "streamed": ["bobs"],
        "count": 1,
        "first": "bobs",
    }


async def test_acting_as_works_as_async_with_in_an_async_view(alice_and_bob):
    alice, _ = alice_and_bob

    response = await AsyncClient().get(f"/async/acting-as/{alice.pk}/")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "count": 3,
        "bound": ["a", "b", "c"],
        "bound_count": 3,
        "got": "a",
    }


async def test_acting_as_another_user_in_a_users_async_request_is_refused(
    alice_and_bob,
):
    alice, bob = alice_and_bob

    response = await (await logged_in(bob)).get(f"/async/acting-as/{alice.pk}/")

    assert response.status_code == 403


async def test_a_bound_queryset_reads_asynchronously_as_its_owner(alice_and_bob):
    alice, _ = alice_and_bob

    response = await (await logged_in(alice)).get("/async/bound/")

    assert response.json() == {"iterated": ["a", "b", "c"], "count": 3}


@pytest.fixture(autouse=True)
async def close_thread_connections():
    """Close the connections the views' threads opened, as a server's end would."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


async def test_one_scope_object_entered_by_concurrent_tasks_leaves_none_behind(
    alice_and_bob,
):
    import asyncio

    from asgiref.sync import sync_to_async

    from ownership.scope import acting_as, current_scope

    alice, _ = alice_and_bob
    shared = acting_as(alice)
    left = []

    async def worker(pause):
        async with shared:
            await asyncio.sleep(pause)
        left.append(str(await sync_to_async(current_scope)()))

    await asyncio.gather(worker(0.01), worker(0.05))

    assert left == ["nobody", "nobody"]
