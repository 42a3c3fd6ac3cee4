"""What the bench times: the services against every side, the admin, plans, sizes.

All sides of one operation run call by call in turn, the order rotating
with each call (the first to touch a row pays for reading it into the
cache), so that the machine's noise and the cache hit them alike.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from functools import partial

import psycopg

from . import peers
from .peers import (
    DJANGO_PEER,
    OURS,
    PEER_SESSION,
    PEER_TRANSACTION,
    PLAIN,
    RAW,
    RAW_SIDES,
    TASK_COLUMNS,
)
from .report import summarize
from .setup import log, make_users, raw_copy

WARM_UP = 50


def time_sides(
    sides: dict[str, Callable[[int], object]], calls: int
) -> dict[str, list[float]]:
    """Time call i of every side, i after i; return µs per call per side."""
    names = list(sides)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(calls):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter_ns()
            sides[name](i)
            samples[name].append((time.perf_counter_ns() - started) / 1000)
    return samples


def time_operation(
    name: str,
    sides: dict[str, Callable[[int], object]],
    raw: peers.RawSides,
    calls: int,
    sample: int = 0,
) -> dict:
    """Warm, trace and time every side of `name`; return its summary."""
    log(f"    {name}")
    for i in range(min(WARM_UP, calls)):
        for call in sides.values():
            call(i)
    round_trips, statements = {}, {}
    for side, call in sides.items():
        if side in RAW_SIDES:
            round_trips[side] = peers.round_trips_of(
                raw.conns[side], partial(call, sample)
            )
        else:
            alias = {PLAIN: "plain", DJANGO_PEER: "peer"}.get(side, "default")
            round_trips[side], statements[side] = peers.django_round_trips(
                partial(call, sample), alias
            )
    samples = time_sides(sides, calls)
    return summarize(name, samples, round_trips, statements)


def time_services(args, admin_db_url: str, db_url: str) -> list[dict]:
    """Time each task service against plain Django, its peers and raw psycopg."""
    from accounts.models import User
    from ownership.scope import system_scope
    from tasks import services
    from tasks.models import Task
    from tasks.sample_data import sample_users

    rng = random.Random(7)
    users = list(User.objects.filter(sample_users()).order_by("pk"))
    with system_scope():
        by_owner: dict[int, list[int]] = {}
        for task_id, owner_id in Task.objects.values_list("id", "owner_id").iterator():
            by_owner.setdefault(owner_id, []).append(task_id)
    users = [u for u in users if by_owner.get(u.pk)]
    picks = [rng.choice(users) for _ in range(args.calls)]
    task_picks = [rng.choice(by_owner[u.pk]) for u in picks]
    plain = peers.plain_calls("plain")
    # The peer runs the same plain call as the runtime role.
    in_peer = peers.plain_calls("peer")
    raw = peers.RawSides(db_url)
    results = []

    def run(name, ours, plain_args, statement):
        """Time `ours(i)`, the plain call on `plain_args(i)` and raw `statement(i)`.

        `statement(i)` returns (acting user id, SQL, parameters).
        """
        sides = {
            OURS: ours,
            PLAIN: lambda i: plain[name](*plain_args(i)),
            DJANGO_PEER: lambda i: peers.session_peer(
                lambda: in_peer[name](*plain_args(i))
            ),
        }
        for side in RAW_SIDES:
            sides[side] = lambda i, run=raw.run[side]: run(*statement(i))
        results.append(time_operation(name, sides, raw, args.calls))

    def owner_of(i):
        return picks[i].pk

    log(f"==> services, {args.calls} calls each, against every side")
    run(
        "get_tasks",
        lambda i: list(services.get_tasks(picks[i], completed=False)[:50]),
        lambda i: (owner_of(i),),
        lambda i: (
            owner_of(i),
            f"SELECT {TASK_COLUMNS} FROM tasks_task WHERE owner_id = %s "
            "AND NOT completed ORDER BY created_at DESC, id DESC LIMIT 50",
            [owner_of(i)],
        ),
    )
    run(
        "get_task",
        lambda i: services.get_task(picks[i], task_picks[i]),
        lambda i: (owner_of(i), task_picks[i]),
        lambda i: (
            owner_of(i),
            f"SELECT {TASK_COLUMNS} FROM tasks_task WHERE id = %s AND owner_id = %s",
            [task_picks[i], owner_of(i)],
        ),
    )
    run(
        "count_tasks",
        lambda i: services.count_tasks(picks[i]),
        lambda i: (owner_of(i),),
        lambda i: (
            owner_of(i),
            "SELECT completed, count(*) FROM tasks_task WHERE owner_id = %s "
            "GROUP BY completed",
            [owner_of(i)],
        ),
    )
    run(
        "create_task",
        lambda i: services.create_task(picks[i], title=f"Benchmark task {i}"),
        lambda i: (owner_of(i), f"Plain benchmark task {i}"),
        lambda i: (
            owner_of(i),
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) VALUES (%s, '', false, now(), now(), %s) "
            "RETURNING id",
            [f"Raw benchmark task {i}", owner_of(i)],
        ),
    )
    run(
        "update_task",
        lambda i: services.update_task(picks[i], task_picks[i], title=f"Renamed {i}"),
        lambda i: (owner_of(i), task_picks[i], f"Plain renamed {i}"),
        lambda i: (
            owner_of(i),
            f"UPDATE tasks_task SET title = %s, updated_at = now() "
            f"WHERE id = %s AND owner_id = %s RETURNING {TASK_COLUMNS}",
            [f"Raw renamed {i}", task_picks[i], owner_of(i)],
        ),
    )
    run(
        "toggle_complete",
        lambda i: services.toggle_complete(picks[i], task_picks[i]),
        lambda i: (owner_of(i), task_picks[i]),
        lambda i: (
            owner_of(i),
            "UPDATE tasks_task SET completed = NOT completed, updated_at = now() "
            f"WHERE id = %s AND owner_id = %s RETURNING {TASK_COLUMNS}",
            [task_picks[i], owner_of(i)],
        ),
    )
    results.append(time_delete_task(args, admin_db_url, picks, raw, plain, in_peer))
    raw.close()
    return results


def time_delete_task(args, admin_db_url, picks, raw, plain, in_peer) -> dict:
    """Time delete_task: every side deletes tasks of its own, made up front."""
    from tasks import services

    names = [OURS, PLAIN, DJANGO_PEER, *RAW_SIDES]
    # Each side deletes one task per call, warm-up and trace included.
    per_side = args.calls + WARM_UP + 1
    owners = [picks[n % len(picks)] for n in range(per_side)]
    with psycopg.connect(admin_db_url) as conn:
        rows = conn.execute(
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) SELECT 'to delete ' || n, '', false, now(), "
            "now(), owner FROM unnest(%s::bigint[]) WITH ORDINALITY AS v(owner, n) "
            "RETURNING id, title",
            [[user.pk for user in owners] * len(names)],
        ).fetchall()
    victims = [0] * len(rows)
    for task_id, title in rows:
        victims[int(title.rsplit(" ", 1)[1]) - 1] = task_id
    queues = {
        name: iter(zip(owners, victims[n * per_side : (n + 1) * per_side], strict=True))
        for n, name in enumerate(names)
    }

    def ours(_):
        owner, task_id = next(queues[OURS])
        services.delete_task(owner, task_id)

    def plain_delete(_):
        owner, task_id = next(queues[PLAIN])
        plain["delete_task"](owner.pk, task_id)

    def peer_delete(_):
        owner, task_id = next(queues[DJANGO_PEER])
        peers.session_peer(lambda: in_peer["delete_task"](owner.pk, task_id))

    def raw_delete(side, _):
        owner, task_id = next(queues[side])
        raw.run[side](
            owner.pk,
            "DELETE FROM tasks_task WHERE id = %s AND owner_id = %s",
            [task_id, owner.pk],
        )

    sides = {OURS: ours, PLAIN: plain_delete, DJANGO_PEER: peer_delete}
    sides.update({side: partial(raw_delete, side) for side in RAW_SIDES})
    return time_operation("delete_task", sides, raw, args.calls)


def time_delete_user(args, admin_db_url: str, db_url: str) -> dict:
    """Delete users with 1,000 tasks: accounts.services.delete_user, raw DELETE.

    The raw DELETE is already one round trip with the same guarantee (the
    cascade ignores the scope); the raw peers set the scope around it, as
    their middleware would for the request.
    """
    from accounts.models import User
    from accounts.services import delete_user

    rounds = 5 if args.quick else 20
    log(f"==> deleting a user with 1,000 tasks, {rounds} times each")
    names = [OURS, RAW, PEER_SESSION, PEER_TRANSACTION]
    # One round more than timed: traced for the round trips after.
    owners = make_users(admin_db_url, "delete-me-", len(names) * (rounds + 1))
    raw_copy(admin_db_url, owners, 1000)
    with psycopg.connect(admin_db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tasks_task")
    raw = peers.RawSides(db_url)
    query = "DELETE FROM accounts_user WHERE id = %s"
    queues = {name: iter(owners[n :: len(names)]) for n, name in enumerate(names)}
    users = User.objects.in_bulk(owners[:: len(names)])

    def ours(_):
        delete_user(users[next(queues[OURS])])

    def raw_delete(_):
        owner_id = next(queues[RAW])
        raw.conns[RAW].execute(query, [owner_id], prepare=True)

    def peer(side, _):
        owner_id = next(queues[side])
        raw.run[side](owner_id, query, [owner_id])

    sides = {OURS: ours, RAW: raw_delete}
    for side in (PEER_SESSION, PEER_TRANSACTION):
        sides[side] = partial(peer, side)
    samples = time_sides(sides, rounds)
    # The last round, traced once the statements are prepared.
    round_trips, statements = {}, {}
    round_trips[OURS], statements[OURS] = peers.django_round_trips(partial(ours, 0))
    for side in (RAW, PEER_SESSION, PEER_TRANSACTION):
        round_trips[side] = peers.round_trips_of(
            raw.conns[side], partial(sides[side], 0)
        )
    raw.close()
    with psycopg.connect(admin_db_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM tasks_task WHERE owner_id = ANY(%s)", [owners]
        ).fetchone()[0]
    if left:
        raise RuntimeError(f"{left} tasks of deleted users remain")
    return summarize("delete_user", samples, round_trips, statements)


# The admin ---------------------------------------------------------------

# (label, query string) of the task changelist requests timed, as staff.
ADMIN_PAGES = [
    ("changelist", ""),
    ("date filter: today", None),  # the filter's own link, found at run time
    ("search: a common title word", "?q=milk"),
    ("search: a word in no title", "?q=no-such-title-word"),
    ("search: an owner's username", "?q=sample-0001"),
    ("search: two title words", "?q=passes+tomorrow"),
]


def time_admin_pages(client, staff, calls: int) -> dict[str, float]:
    """Return the median ms of each of ADMIN_PAGES, fetched as `staff`."""
    url = "/admin/tasks/task/"
    client.force_login(staff)
    first = client.get(url)
    if first.status_code != 200:
        raise RuntimeError(f"the task changelist answered {first.status_code}")
    changelist = first.context["cl"]
    (dates,) = [f for f in changelist.filter_specs if f.title == "created at"]
    today = {c["display"]: c["query_string"] for c in dates.choices(changelist)}
    medians = {}
    for label, query in ADMIN_PAGES:
        query = today["Today"] if query is None else query
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            response = client.get(url + query)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{label} answered {response.status_code}")
        medians[label] = round(statistics.median(samples), 1)
    return medians


def time_admin(args, admin_db_url: str) -> dict:
    """Time the task changelist before and after the admin's changes.

    Before: no (created_at DESC, id DESC) index, a date_hierarchy (a
    SELECT DISTINCT over the table on every page) and Django's own search
    (a LIKE on every task); after: as shipped, the search through the
    trigram index (tasks/search.py).
    """
    from django.conf import settings
    from django.contrib import admin
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User
    from tasks.models import Task

    setup_test_environment()  # the test client's "testserver" host
    settings.SLOW_QUERY_MS = 0  # the "before" side is slow by design
    staff = User.objects.filter(is_superuser=True, is_active=True).first()
    task_admin = admin.site.get_model_admin(Task)
    calls = 5 if args.quick else 10
    log(f"==> the admin's task list as staff ({calls} calls each, median)")
    results = {}
    for state in ("before", "after"):
        with psycopg.connect(admin_db_url, autocommit=True) as conn:
            if state == "before":
                conn.execute("DROP INDEX IF EXISTS task_created_idx")
            else:
                conn.execute(
                    'CREATE INDEX IF NOT EXISTS "task_created_idx" ON "tasks_task" '
                    '("created_at" DESC, "id" DESC)'
                )
            conn.execute("ANALYZE tasks_task")
        task_admin.date_hierarchy = "created_at" if state == "before" else None
        if state == "before":
            task_admin.get_search_results = partial(
                admin.ModelAdmin.get_search_results, task_admin
            )
        else:
            vars(task_admin).pop("get_search_results", None)
        results[state] = time_admin_pages(Client(), staff, calls)
        for label, ms in results[state].items():
            log(f"    {state:<6} {label:<30} {ms:>9,.1f} ms")
    task_admin.date_hierarchy = None
    return results


# Plans and scaling ------------------------------------------------------


def explain(user) -> dict:
    """Return the plans of the list and count queries, run as `user`."""
    from django.db import connection

    from ownership.scope import acting_as

    queries = {
        "list": "SELECT * FROM tasks_task WHERE owner_id = %s AND NOT completed "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        "count": "SELECT completed, count(*) FROM tasks_task WHERE owner_id = %s "
        "GROUP BY completed",
    }
    plans = {}
    for name, query in queries.items():
        with acting_as(user), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}", [user.pk])
            lines = [row[0] for row in cursor.fetchall()]
        plan = "\n".join(lines)
        plans[name] = {
            "plan": plan,
            "uses_composite_index": "task_owner_done_created_idx" in plan,
            "sorts": any(line.strip().startswith("Sort") for line in lines)
            or "->  Sort" in plan,
        }
    return plans


def list_latency(users, calls: int) -> float:
    from tasks import services

    samples = []
    for i in range(calls):
        user = users[i % len(users)]
        started = time.perf_counter_ns()
        list(services.get_tasks(user, completed=False)[:50])
        samples.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(samples)


def time_scaling(args, admin_db_url: str) -> list[dict]:
    """List latency as the table shrinks from its full size to 10,000 rows."""
    from accounts.models import User
    from tasks.sample_data import sample_users

    log("==> list latency against table size")
    users = list(User.objects.filter(sample_users()).order_by("pk"))
    sizes = []
    keep = len(users)
    while True:
        with psycopg.connect(admin_db_url, autocommit=True) as conn:
            rows = conn.execute("SELECT count(*) FROM tasks_task").fetchone()[0]
        sample = users[:keep][:: max(1, keep // 50)]
        sizes.append({"rows": rows, "list_median_us": round(list_latency(sample, 500))})
        log(f"    {rows:>12,} rows: {sizes[-1]['list_median_us']:>6} us")
        if rows < 20_000 or keep <= 1:
            break
        keep = max(1, keep // 10)
        kept_ids = [u.pk for u in users[:keep]]
        with psycopg.connect(admin_db_url, autocommit=True) as conn:
            conn.execute("DELETE FROM tasks_task WHERE owner_id <> ALL(%s)", [kept_ids])
            conn.execute("VACUUM ANALYZE tasks_task")
    return sizes
