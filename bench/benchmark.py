"""
The services against the Django a developer would otherwise write.

    make bench                     # 1,000 users x 1,000 tasks, at 0 and 1 ms
    make bench ARGS=--quick        # 100 x 100, a smoke run that judges nothing
    make bench ARGS="--rtt-ms 0"   # the loopback only
    python -m bench.benchmark --help

Needs a PostgreSQL superuser URL (BENCH_DATABASE_URL, TEST_DATABASE_URL or
DATABASE_URL; make bench starts an embedded server when none is set). The
run creates the database todoproject_bench owned by the bench's role,
migrates it and loads it through the project's own seeding command, timed
against a raw COPY of as many rows. Then, at each --rtt-ms, every service
is timed beside (bench/peers.py):

- plain Django doing the same work with no guarantee at all, as the
  server's superuser, whom row-level security skips;
- the Django SET/RESET peer: that plain call between a session-level
  set_config and a RESET through Django's cursor (django-rls-tenants'
  default);
- raw psycopg with the services' guarantee, the one-round-trip call being
  the physical limit; and the raw peer patterns.

--rtt-ms N puts a proxy (bench/delay_proxy.py) between the timed sides and
PostgreSQL that adds N ms to each round trip; loading, the admin, the
replicas and the table-size curve go direct. All sides alternate call by
call; round trips are counted in libpq's protocol trace.

Prints one ratio table per RTT and the verdict on each target; writes the
full tables as JSON and Markdown under results/bench/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import scenarios
from .delay_proxy import delayed
from .replicas import render as render_replicas
from .report import render_long, render_short
from .setup import (
    DATABASE,
    RESULTS,
    load,
    log,
    prepare_database,
    reach_through,
    setup_django,
    with_database,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the services against plain Django, its peers and raw "
        "psycopg on the same server.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100 x 100 and 100 calls: proves the bench runs, judges nothing",
    )
    parser.add_argument("--users", type=int, help="sample users (default 1000)")
    parser.add_argument(
        "--tasks-per-user", type=int, help="tasks per user (default 1000)"
    )
    parser.add_argument(
        "--calls", type=int, help="timed calls per side and operation (default 1000)"
    )
    parser.add_argument(
        "--ten-million",
        action="store_true",
        help="load 10,000 users x 1,000 tasks for the scaling curve",
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        nargs="+",
        default=[0.0, 1.0],
        help="time the services at each of these added round-trip times, "
        "through a delaying proxy on the loopback (default: 0 1)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="write the JSON and Markdown reports here (default results/bench/)",
    )
    parser.add_argument(
        "--services-only",
        action="store_true",
        help="skip the admin, the replicas and the table-size curve",
    )
    args = parser.parse_args(argv)
    if not all(0 <= rtt <= 1000 for rtt in args.rtt_ms):
        parser.error("--rtt-ms must be between 0 and 1000")
    for name in ("users", "tasks_per_user", "calls"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    default_users, default_tasks, default_calls = (
        (100, 100, 100) if args.quick else (1000, 1000, 1000)
    )
    if args.ten_million:
        default_users = 10_000
    args.users = args.users or default_users
    args.tasks_per_user = args.tasks_per_user or default_tasks
    args.calls = args.calls or default_calls
    args.rtt_ms = sorted(set(args.rtt_ms))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    admin_url = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
    )
    if not admin_url or not admin_url.startswith(("postgres://", "postgresql://")):
        sys.exit("error: set BENCH_DATABASE_URL to a PostgreSQL superuser URL")
    started = time.perf_counter()
    app_url = prepare_database(admin_url)
    admin_db_url = with_database(admin_url, DATABASE)
    setup_django(app_url, admin_db_url)
    return measure(args, started, admin_db_url, app_url)


def measure(args, started: float, admin_db_url: str, app_url: str) -> int:
    """Run everything after the database is made; print and write the report."""
    from django.db import connection

    from accounts.models import User
    from tasks.sample_data import sample_users

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = f"PostgreSQL {cursor.fetchone()[0]}"
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()})",
        "server_version": server_version,
        "users": args.users,
        "tasks_per_user": args.tasks_per_user,
        "calls": args.calls,
        "quick": args.quick,
        "runs": [],
    }
    report["load"] = load(args, admin_db_url, app_url)
    report["plans"] = scenarios.explain(User.objects.filter(sample_users()).first())
    for rtt_ms in args.rtt_ms:
        log(f"==> at {rtt_ms:g} ms added round-trip time")
        with contextlib.ExitStack() as stack:
            db_url = app_url
            if rtt_ms:
                db_url = stack.enter_context(delayed(app_url, rtt_ms))
            reach_through(db_url)
            services = scenarios.time_services(args, admin_db_url, db_url)
            services.append(scenarios.time_delete_user(args, admin_db_url, db_url))
            reach_through(app_url)
        report["runs"].append({"rtt_ms": rtt_ms, "services": services})
    replicas = []
    if not args.services_only:
        report["admin"] = scenarios.time_admin(args, admin_db_url)
        from bench.replicas import time_replicas

        log("==> read throughput with 0, 1 and 2 streaming replicas")
        report["replicas"] = time_replicas(args, admin_db_url, app_url)
        replicas = render_replicas(report["replicas"])
        report["scaling"] = scenarios.time_scaling(args, admin_db_url)
    report["seconds"] = round(time.perf_counter() - started)

    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    markdown = render_long(report, replicas)
    for name in (stamp, "latest"):
        (args.results / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.results / f"{name}.md").write_text(markdown + "\n")
    log("")
    log(render_short(report))
    log("")
    written = args.results / "latest.md"
    log(
        "Every side's medians, p99s and round trips, the plans, the admin and "
        f"the replicas: {written} (and .json); {report['seconds']} s."
    )
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
