"""make bench: read throughput with 0, 1 and 2 streaming replicas.

The replicas are hot standbys of the benchmark's own server, made with the
embedded wheel's pg_basebackup on this same machine (so they share its two
cores: this measures the routing, not extra hardware). Reads are the
services' first page of a user's open tasks from several threads; the
read-your-writes check is timed on its own, per read.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

THREADS = 4


def _standby(stack: contextlib.ExitStack, admin_url: str) -> int:
    """Start a standby of the server at `admin_url`; return its port."""
    from embedded_pg.account import server_account
    from embedded_pg.cluster import start
    from embedded_pg.folder import stop_cluster

    folder = Path(tempfile.mkdtemp(prefix="todoproject-bench-replica-"))
    folder.chmod(0o755)
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    server = start(folder / "pg", standby_of=admin_url, temporary=True)
    stack.callback(stop_cluster, folder / "pg", server_account())
    return server.port


def _caught_up(admin_url: str, ports: list[int]) -> None:
    # A flushed record of our own: the insert position may count records no
    # commit has flushed, which an idle primary never sends (tests/standbys.py).
    with psycopg.connect(admin_url) as conn:
        conn.execute("SET LOCAL synchronous_commit = on")
        (target,) = conn.execute(
            "SELECT pg_logical_emit_message(true, 'todoproject', 'caught up')"
        ).fetchone()
    host = urlsplit(admin_url).hostname
    for port in ports:
        with psycopg.connect(admin_url, host=host, port=port, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while not conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s", [target]
            ).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise RuntimeError("a standby did not catch up within 60 s")
                time.sleep(0.1)


def _throughput(users, seconds: float) -> float:
    from django.db import connections

    from tasks import services

    stop = threading.Event()
    counts = [0] * THREADS

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            while not stop.is_set():
                list(services.get_tasks(rng.choice(users), completed=False)[:50])
                counts[n] += 1
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(30)
    return sum(counts) / seconds


def time_replicas(args, admin_db_url: str, db_url: str) -> dict | None:
    """Return reads/s with 0, 1 and 2 replicas and the check's cost per read."""
    from django.db import connections
    from django.test.utils import override_settings

    from accounts.models import User
    from replicas import router
    from tasks import services
    from tasks.sample_data import sample_users

    seconds = 2.0 if args.quick else 5.0
    users = list(User.objects.filter(sample_users()).order_by("pk")[:200])
    app = urlsplit(db_url)
    report: dict = {"threads": THREADS, "seconds": seconds, "reads_per_s": {}}
    with contextlib.ExitStack() as stack:
        try:
            ports = [_standby(stack, admin_db_url) for _ in range(2)]
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            return {"skipped": f"no standby could be made here: {exc}"}
        _caught_up(admin_db_url, ports)
        base = connections["default"].settings_dict
        for n, port in enumerate(ports, 1):
            connections.settings[f"replica_{n}"] = {
                **base,
                "HOST": app.hostname,
                "PORT": port,
                "OPTIONS": dict(base.get("OPTIONS", {})),
            }
        for count in (0, 1, 2):
            aliases = [f"replica_{n}" for n in range(1, count + 1)]
            with override_settings(
                DATABASE_REPLICAS=aliases,
                DATABASE_ROUTERS=["replicas.router.ReplicaRouter"] if aliases else [],
            ):
                report["reads_per_s"][count] = round(_throughput(users, seconds))
        with override_settings(
            DATABASE_REPLICAS=["replica_1"],
            DATABASE_ROUTERS=["replicas.router.ReplicaRouter"],
        ):
            writer, reader = users[0], users[1]
            services.create_task(writer, title="bench: a write to wait for")
            _caught_up(admin_db_url, ports[:1])
            timings = {}
            for label, user in (
                ("no write of theirs", reader),
                ("after a write", writer),
            ):
                router.read_alias(user)  # The replica's position, asked once.
                samples = []
                for _ in range(2000):
                    started = time.perf_counter_ns()
                    router.read_alias(user)
                    samples.append((time.perf_counter_ns() - started) / 1000)
                timings[label] = round(statistics.median(samples), 1)
            report["check_us"] = timings
        for n in (1, 2):
            connections[f"replica_{n}"].close()
            del connections[f"replica_{n}"]
            del connections.settings[f"replica_{n}"]
    return report


def render(report: dict | None) -> list[str]:
    if not report:
        return []
    if "skipped" in report:
        return [f"Replicas: not measured ({report['skipped']}).", ""]
    reads = report["reads_per_s"]
    lines = [
        f"Read throughput, {report['threads']} threads, {report['seconds']:g} s "
        "each, replicas on this same machine (same 2 cores):",
        "",
        "| replicas | reads/s | vs none |",
        "|---:|---:|---:|",
    ]
    for count, value in reads.items():
        lines.append(f"| {count} | {value:,} | {value / reads[0]:.2f}x |")
    check = report["check_us"]
    lines += [
        "",
        "The read-your-writes check per read (choosing the server; the "
        "replica's position is asked at most twice a second): "
        + ", ".join(f"{label} {us} µs" for label, us in check.items())
        + ".",
        "",
    ]
    return lines
