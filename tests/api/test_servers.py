"""The project's asgi.py under uvicorn and wsgi.py under gunicorn, for real.

The servers log in as the runtime role to the test database and serve the
views of tests/api/views.py; what they answer is checked row by row, and
the connections they hold are counted in pg_stat_activity.
"""

import asyncio
import os
import random
import threading
import time

import httpx
import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.api.servers import serving
from tests.factories import TaskFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]

# todoproject/settings.py: under ASGI the pool is on, at most this many.
POOL_MAX_SIZE = 10


def connections_held(superuser_cursor, role: str) -> int:
    superuser_cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role]
    )
    return superuser_cursor.fetchone()[0]


def test_uvicorn_serves_async_views_as_each_user_with_bounded_connections(
    superuser_cursor,
):
    users = [UserFactory(username=f"async{n}") for n in range(4)]
    expected = {}
    for n, user in enumerate(users):
        titles = sorted(f"task {n}-{i}" for i in range(n + 1))
        for title in titles:
            TaskFactory(owner=user, title=title)
        expected[user.username] = titles
    cookies = {}
    for user in users:
        client = Client()
        client.force_login(user)
        cookies[user.username] = client.cookies["sessionid"].value
    role = os.environ.get("DATABASE_RUNTIME_ROLE", "todoproject_app")
    # The suite's own connections log in as the role too.
    before = connections_held(superuser_cursor, role)
    peak = 0
    stop = threading.Event()

    def watch():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, connections_held(superuser_cursor, role))
            time.sleep(0.05)

    async def burst(base):
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:

            async def one(n):
                name = users[n % len(users)].username
                response = await http.get(
                    "/async/tasks/", headers={"Cookie": f"sessionid={cookies[name]}"}
                )
                return name, response

            return await asyncio.gather(*(one(n) for n in range(200)))

    with serving(
        [
            "uvicorn",
            "todoproject.asgi:application",
            "--port",
            "{port}",
            "--no-access-log",
        ]
    ) as base:
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            answers = asyncio.run(burst(base))
        finally:
            stop.set()
            watcher.join()

    assert [r.status_code for _, r in answers] == [200] * 200
    for name, response in answers:
        body = response.json()
        assert body["titles"] == body["streamed"] == expected[name]
        assert body["count"] == len(expected[name])
    assert 0 < peak - before <= POOL_MAX_SIZE


LOAD_SECONDS = float(os.environ.get("TEST_LOAD_SECONDS", "60"))


def test_gunicorn_under_load_serves_no_task_of_another_user_and_no_5xx(
    superuser_cursor,
):
    """20 users with tokens list and toggle for LOAD_SECONDS (60 by default)."""
    users = [UserFactory(username=f"load{n:02}") for n in range(20)]
    for user in users:
        for i in range(5):
            TaskFactory(owner=user, title=f"{user.username} {i}")
    tokens = {user.pk: Token.objects.create(user=user).key for user in users}
    results = {"requests": 0, "foreign": 0, "server_errors": 0, "other": []}
    lock = threading.Lock()

    def user_loop(base, user):
        rng = random.Random(user.pk)
        headers = {"Authorization": f"Token {tokens[user.pk]}"}
        deadline = time.monotonic() + LOAD_SECONDS
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            while time.monotonic() < deadline:
                listed = http.get("/drf/tasks/")
                foreign = 0
                if listed.status_code == 200:
                    foreign = sum(t["owner"] != user.pk for t in listed.json())
                    pick = rng.choice(listed.json())
                    toggled = http.patch(
                        f"/drf/tasks/{pick['id']}/",
                        json={"completed": not pick["completed"]},
                    )
                    statuses = [listed.status_code, toggled.status_code]
                else:
                    statuses = [listed.status_code]
                with lock:
                    results["requests"] += len(statuses)
                    results["foreign"] += foreign
                    results["server_errors"] += sum(s >= 500 for s in statuses)
                    results["other"] += [s for s in statuses if s not in (200,)]

    with serving(
        [
            "gunicorn",
            "todoproject.wsgi:application",
            "--bind",
            "127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
        ]
    ) as base:
        threads = [
            threading.Thread(target=user_loop, args=(base, user)) for user in users
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    print(
        f"\ngunicorn load: {results['requests']} requests in {LOAD_SECONDS:.0f} s, "
        f"{results['foreign']} foreign tasks, {results['server_errors']} 5xx"
    )
    assert results["requests"] > 0
    assert (results["foreign"], results["server_errors"], results["other"]) == (
        0,
        0,
        [],
    )
    superuser_cursor.execute(
        "SELECT count(*) FROM tasks_task t JOIN accounts_user u ON u.id = t.owner_id "
        "WHERE t.title NOT LIKE u.username || ' %%'"
    )
    assert superuser_cursor.fetchone() == (0,)
