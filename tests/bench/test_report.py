"""bench/report.py: the verdict make bench prints, judged on given numbers."""

from __future__ import annotations

import pytest

from bench.peers import DJANGO_PEER, GLUED, OURS, PLAIN, PREPARED, RAW
from bench.report import judge, judge_scaling, render_verdict, summarize

TASK_SERVICES = (
    "get_tasks",
    "get_task",
    "count_tasks",
    "create_task",
    "update_task",
    "toggle_complete",
    "delete_task",
)


def row(operation: str, ours_plain: float, peer_ours: float) -> dict:
    """Return a summary whose ours is 100 µs, with the given ratios."""
    samples = {
        OURS: [100.0],
        PLAIN: [100.0 / ours_plain],
        DJANGO_PEER: [100.0 * peer_ours],
        PREPARED: [50.0],
        GLUED: [60.0],
    }
    statements = ["SELECT set_config(...)", "SELECT ..."]
    if operation == "toggle_complete":
        statements = ["SELECT set_config(...)", "UPDATE tasks_task ..."]
    return summarize(operation, samples, {OURS: 1}, {OURS: statements})


def report(overrides: dict | None = None) -> dict:
    """Return a report that meets every target, with `overrides` applied.

    Overrides: {(rtt_ms, operation): (ours / plain, peer / ours)}, or
    load, scaling, delete_user.
    """
    overrides = overrides or {}
    ratios = {
        "get_tasks": (1.05, 2.5),
        "get_task": (1.08, 2.5),
        "count_tasks": (1.02, 2.5),
        "create_task": (1.09, 2.5),
        "update_task": (0.7, 3.0),
        "toggle_complete": (0.6, 3.0),
        "delete_task": (0.5, 3.0),
    }
    runs = []
    for rtt in (0.0, 1.0):
        services = [
            row(name, *overrides.get((rtt, name), ratios[name]))
            for name in TASK_SERVICES
        ]
        delete_user = overrides.get("delete_user", 1.2)
        services.append(
            summarize(
                "delete_user",
                {OURS: [100.0 * delete_user], RAW: [100.0]},
                {OURS: 1},
                {OURS: ["DELETE FROM accounts_user ..."]},
            )
        )
        runs.append({"rtt_ms": rtt, "services": services})
    return {
        "quick": False,
        "users": 1000,
        "tasks_per_user": 1000,
        "calls": 1000,
        "runs": runs,
        "load": {
            "rows": 1_000_000,
            "ratio": overrides.get("load", 0.7),
            "seed_rows_per_s": 70_000,
            "raw_copy_rows_per_s": 100_000,
            "seed_peak_rss_mib": 60,
        },
        "scaling": overrides.get(
            "scaling",
            [
                {"rows": 1_000_000, "list_median_us": 1100},
                {"rows": 100_000, "list_median_us": 1000},
                {"rows": 10_000, "list_median_us": 1000},
            ],
        ),
    }


def statuses(report: dict) -> list[bool | None]:
    return [verdict.met for verdict in judge(report)]


def test_a_run_within_every_target_is_judged_met_on_each_line():
    assert statuses(report()) == [True] * 8


@pytest.mark.parametrize(
    ("override", "missed"),
    [
        ({(0.0, "get_task"): (1.37, 2.5)}, 0),
        ({(1.0, "count_tasks"): (1.11, 2.5)}, 0),
        ({(1.0, "create_task"): (1.2, 2.5)}, 1),
        ({(0.0, "toggle_complete"): (1.0, 3.0)}, 2),
        ({(1.0, "delete_task"): (1.01, 3.0)}, 2),
        ({(1.0, "get_tasks"): (1.05, 1.98)}, 3),
        ({"load": 0.49}, 4),
        ({"delete_user": 1.6}, 5),
    ],
)
def test_a_ratio_past_its_target_misses_that_target_alone(override, missed):
    expected = [True] * 8
    expected[missed] = False
    assert statuses(report(override)) == expected


def test_the_peer_target_is_not_judged_at_0_ms():
    # Round trips cost nothing on the loopback: a slow peer there is no miss.
    assert statuses(report({(0.0, "get_tasks"): (1.05, 0.9)}))[3] is True


def test_targets_at_a_missing_rtt_are_not_judged():
    loopback_only = report()
    loopback_only["runs"] = loopback_only["runs"][:1]
    assert statuses(loopback_only)[:4] == [None] * 4


def test_a_toggle_that_reads_before_it_updates_misses_its_target():
    reading = report()
    for run in reading["runs"]:
        for service in run["services"]:
            if service["operation"] == "toggle_complete":
                service["statements"][OURS] = ["set_config", "SELECT", "UPDATE"]
    assert statuses(reading)[7] is False


def test_list_latency_is_judged_only_over_the_whole_range():
    growing = [
        {"rows": 1_000_000, "list_median_us": 1600},
        {"rows": 10_000, "list_median_us": 1000},
    ]
    short = [
        {"rows": 250_000, "list_median_us": 1000},
        {"rows": 10_000, "list_median_us": 1000},
    ]
    assert judge_scaling(growing).met is False
    assert judge_scaling(short).met is None
    assert "short of the range" in judge_scaling(short).detail


def test_quick_says_it_judges_nothing():
    quick = report()
    quick["quick"] = True
    (line,) = render_verdict(quick)
    assert line.startswith("--quick judges nothing")


def test_the_verdict_counts_the_targets_met():
    lines = render_verdict(report({(0.0, "get_task"): (1.37, 2.5)}))
    assert lines[-1] == "7 of 8 targets met."
    assert lines[1].split()[0] == "MISSED"
    assert "get_task 1.37x" in lines[1]


def test_the_raw_limit_is_the_faster_one_trip_side():
    summary = row("get_task", 1.0, 2.0)
    assert summary["raw_limit_side"] == PREPARED
    assert summary["ours_raw"] == 2.0
